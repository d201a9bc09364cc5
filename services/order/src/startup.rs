//! Composition root: builds the adapters, hands them to the use cases, and starts HTTP, the
//! consumer and the outbox relay.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use anyhow::Context;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use adapters::catalog_client::HttpProductCatalog;
use adapters::db::{OrderMigrator, OutboxSignal, SqlOrderStore};
use adapters::http::health::{self, HealthCheck, HealthChecks};
use adapters::http::idempotency::Idempotency;
use adapters::redis_cache::RedisCache;
use adapters::resilience::{ResilienceOptions, ResilientCatalog};
use adapters::runtime::Background;
use adapters::wiring;
use domain::Currency;
use ports::orders::{CachedCatalog, OrderService, ProductCatalog};

use crate::api;
use crate::openapi::ApiDoc;
use crate::settings::Settings;

/// The order use cases as wired in both compositions (the catalogue differs: HTTP to the
/// product service behind Redis, or in-process behind a memory cache).
pub type Orders = OrderService<SqlOrderStore, Arc<dyn ProductCatalog>>;

/// Name of the service (AMQP queue and connection names, logs).
pub const SERVICE: &str = "order-service";

/// The order API: handlers, `/health`, Swagger UI and the spec, for any composition.
pub fn routes(
    orders: Arc<Orders>,
    checks: HealthChecks,
    idempotency: Idempotency,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let orders = web::Data::from(orders);
    let checks = web::Data::new(checks);
    let idempotency = web::Data::new(idempotency);
    let openapi = ApiDoc::openapi();
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(orders.clone())
            .app_data(checks.clone())
            .app_data(idempotency.clone())
            .service(api::create_order)
            .service(api::list_orders_of_product)
            .service(api::order_history)
            .service(api::cancel_order)
            .service(api::ship_order)
            .service(api::deliver_order)
            .service(api::get_order)
            .service(api::update_order)
            .service(api::delete_order)
            .service(api::list_orders)
            .service(api::warm_cache)
            .service(health::health)
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", openapi.clone()),
            );
    }
}

/// Sweeps stuck orders every `settings.interval_secs` until `shutdown`.
pub async fn run_sweeper(
    orders: Arc<Orders>,
    settings: adapters::settings::SweeperSettings,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let every = Duration::from_secs(settings.interval_secs.max(1));
    let deadline = Duration::from_secs(settings.pending_deadline_secs);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = orders
            .sweep_stuck_orders(deadline, settings.max_reemits)
            .await
        {
            tracing::warn!(error = %format!("{:#}", anyhow::Error::from(e)), "stuck-order sweep failed");
        }
    }
}

/// A built, listening order service.
pub type Application = adapters::runtime::Running;

/// Connects to every dependency, applies migrations, declares the topology, binds the
/// listener (port 0 picks a free port) and starts the background tasks.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let currency = Currency::parse(&settings.currency).context("invalid `currency` setting")?;
    let conn = wiring::open_database::<OrderMigrator>(&settings.database).await?;
    let signal = OutboxSignal::new();
    let cache = RedisCache::new(&settings.redis.options())?;
    let peer = &settings.product_service;
    let catalog_client = HttpProductCatalog::new(
        &peer.url,
        Duration::from_millis(peer.connect_timeout_ms),
        Duration::from_millis(peer.timeout_ms),
    )?;
    let catalog: Arc<dyn ProductCatalog> = Arc::new(CachedCatalog::new(
        cache.clone(),
        ResilientCatalog::new(catalog_client.clone(), ResilienceOptions::default()),
        Duration::from_secs(settings.redis.ttl_secs),
        Duration::from_secs(settings.redis.negative_ttl_secs),
    ));
    let orders: Arc<Orders> = Arc::new(OrderService::new(
        SqlOrderStore::new(conn.clone(), signal.clone()),
        catalog,
        currency,
    ));

    let mut background = Background::new();
    background.set_drain_delay(Duration::from_millis(settings.http.readiness_drain_ms));
    let messaging = wiring::start_messaging(
        SERVICE,
        &settings.amqp,
        &settings.outbox,
        &conn,
        signal,
        orders.clone(),
        &mut background,
    )
    .await?;
    let mut checks = wiring::standard_checks(&conn, &cache, &messaging.publisher);
    checks.push(HealthCheck::optional("product_service", move || {
        let client = catalog_client.clone();
        async move { client.ping().await }
    }));

    let idempotency = wiring::idempotency(&settings.idempotency, &conn, &mut background);
    background.spawn(
        "stuck-order-sweeper",
        run_sweeper(orders.clone(), settings.sweeper.clone(), background.token()),
    );

    let (listener, port) = wiring::bind(&settings.http)?;
    let server = wiring::http_server(
        listener,
        &settings.http,
        background.readiness(),
        messaging.dead_letters,
        routes(orders, HealthChecks(Arc::new(checks)), idempotency),
    )?;
    tracing::info!(port, "order service listening");
    Ok(Application::new(port, server, background))
}
