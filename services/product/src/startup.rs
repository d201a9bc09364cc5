//! Composition root: builds the adapters, hands them to the use cases, and starts HTTP, the
//! consumer and the outbox relay.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use anyhow::Context;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use adapters::db::{OutboxSignal, ProductMigrator, SqlProductStore};
use adapters::http::health::{self, HealthChecks};
use adapters::http::idempotency::Idempotency;
use adapters::redis_cache::RedisCache;
use adapters::runtime::Background;
use adapters::wiring;
use domain::Currency;
use ports::Cache;
use ports::inventory::{CachePolicy, ProductService};

use crate::api::{self, DeploymentCurrency};
use crate::openapi::ApiDoc;
use crate::settings::Settings;

/// The product use cases as wired in both compositions (the cache differs: Redis or memory).
pub type Products = ProductService<SqlProductStore, Arc<dyn Cache>>;

/// Name of the service (AMQP queue and connection names, logs).
pub const SERVICE: &str = "product-service";

/// The product API: handlers, `/health`, Swagger UI and the spec, for any composition.
pub fn routes(
    products: Arc<Products>,
    currency: Currency,
    checks: HealthChecks,
    idempotency: Idempotency,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let products = web::Data::from(products);
    let currency = web::Data::new(DeploymentCurrency(currency));
    let checks = web::Data::new(checks);
    let idempotency = web::Data::new(idempotency);
    let openapi = ApiDoc::openapi();
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(products.clone())
            .app_data(currency.clone())
            .app_data(checks.clone())
            .app_data(idempotency.clone())
            .service(api::create_product)
            .service(api::get_product)
            .service(api::list_products)
            .service(api::update_product)
            .service(api::adjust_stock)
            .service(api::list_adjustments)
            .service(api::get_adjustment)
            .service(health::health)
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", openapi.clone()),
            );
    }
}

/// The cache policy from the settings.
pub fn cache_policy(redis: &adapters::settings::RedisSettings) -> CachePolicy {
    CachePolicy {
        ttl: Duration::from_secs(redis.ttl_secs),
        negative_ttl: Duration::from_secs(redis.negative_ttl_secs),
    }
}

/// A built, listening product service.
pub type Application = adapters::runtime::Running;

/// Connects to every dependency, applies migrations, declares the topology, binds the
/// listener (port 0 picks a free port) and starts the background tasks.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let currency = Currency::parse(&settings.currency).context("invalid `currency` setting")?;
    let conn = wiring::open_database::<ProductMigrator>(&settings.database).await?;
    let signal = OutboxSignal::new();
    let cache = RedisCache::new(&settings.redis.options())?;
    let products: Arc<Products> = Arc::new(ProductService::new(
        SqlProductStore::new(conn.clone(), signal.clone()),
        Arc::new(cache.clone()),
        cache_policy(&settings.redis),
    ));

    let mut background = Background::new();
    background.set_drain_delay(Duration::from_millis(settings.http.readiness_drain_ms));
    let messaging = wiring::start_messaging(
        SERVICE,
        &settings.amqp,
        &settings.outbox,
        &conn,
        signal,
        products.clone(),
        &mut background,
    )
    .await?;
    let checks = HealthChecks(Arc::new(wiring::standard_checks(
        &conn,
        &cache,
        &messaging.publisher,
    )));

    let idempotency = wiring::idempotency(&settings.idempotency, &conn, &mut background);

    let (listener, port) = wiring::bind(&settings.http)?;
    let server = wiring::http_server(
        listener,
        &settings.http,
        background.readiness(),
        messaging.dead_letters,
        routes(products, currency, checks, idempotency),
    )?;
    tracing::info!(port, "product service listening");
    Ok(Application::new(port, server, background))
}
