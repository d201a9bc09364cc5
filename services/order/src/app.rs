//! The order service built from its adapters: the one place where its use cases are wired,
//! its background tasks spawned and its HTTP server made. Every composition root (the
//! distributed binary, the standalone system) calls [`build`].

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use adapters::http::dead_letters::DeadLetterQueue;
use adapters::http::health::{self, HealthCheck, HealthChecks};
use adapters::http::idempotency::Idempotency;
use adapters::runtime::Background;
use adapters::settings::{HttpSettings, IdempotencySettings};
use adapters::sql::SqlOrderStore;
use domain::Currency;
use ports::idempotency::{IdempotencyStore, run_purger};
use ports::ordering::{OrderService, ProductCatalog, SweeperOptions};
use ports::relay::{RelayOptions, run_relay};
use ports::store::OutboxStore;
use ports::{Clock, DeadLetters, EventPublisher, MessageSource, OutboxSignal};

use crate::http::openapi::ApiDoc;
use crate::http::{self, Orders};

/// Name of the service (inbox consumer, AMQP queue and connection names, logs).
pub const SERVICE: &str = "order-service";

/// How often expired idempotency keys are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The adapters a composition chooses for the order service.
#[allow(
    missing_debug_implementations,
    reason = "a bag of trait objects, handed over once"
)]
pub struct OrderAdapters {
    /// Orders, their history, inbox and outbox.
    pub store: SqlOrderStore,
    /// The outbox as the relay reads it (the same database as `store`).
    pub outbox: Arc<dyn OutboxStore>,
    /// Wakes the relay after commits of `store`.
    pub signal: OutboxSignal,
    /// Names and prices of products.
    pub catalog: Arc<dyn ProductCatalog>,
    /// Where the relay publishes.
    pub publisher: Arc<dyn EventPublisher>,
    /// The service's inbound messages.
    pub source: Arc<dyn MessageSource>,
    /// The service's dead-letter queue, for the admin endpoints.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// `Idempotency-Key` records (the same database as `store`).
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// What `/health` probes.
    pub health: Vec<HealthCheck>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// What every composition configures the order service with.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// The deployment currency.
    pub currency: Currency,
    /// The listener and the server.
    pub http: HttpSettings,
    /// The outbox relay.
    pub relay: RelayOptions,
    /// The stuck-order sweeper.
    pub sweeper: SweeperOptions,
    /// `Idempotency-Key` lease and retention.
    pub idempotency: IdempotencySettings,
}

/// A built order service: its HTTP server bound, its background tasks running.
pub struct Built {
    /// The port it listens on.
    pub port: u16,
    /// The server, to run until shutdown.
    pub server: actix_web::dev::Server,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Wires the use cases to `adapters`, spawns the outbox relay, the consumer, the stuck-order
/// sweeper and the idempotency purger into `background`, and binds the API.
pub fn build(
    adapters: OrderAdapters,
    config: &OrderConfig,
    background: &mut Background,
) -> anyhow::Result<Built> {
    let orders: Arc<Orders> = Arc::new(OrderService::new(
        adapters.store,
        adapters.catalog,
        config.currency,
        adapters.clock,
    ));
    background.spawn(
        "outbox-relay",
        run_relay(
            adapters.outbox,
            adapters.publisher,
            adapters.signal,
            config.relay.clone(),
            background.token(),
        ),
    );
    let (source, handler, token) = (adapters.source, orders.clone(), background.token());
    background.spawn("consumer", async move {
        if let Err(e) = source.consume(handler, token).await {
            tracing::error!(error = %format!("{e:#}"), "consumer stopped");
        }
    });
    let (sweeper, options, token) = (orders.clone(), config.sweeper, background.token());
    background.spawn("stuck-order-sweeper", async move {
        sweeper.run_sweeper(options, token).await
    });
    background.spawn(
        "idempotency-purger",
        run_purger(
            adapters.idempotency.clone(),
            PURGE_EVERY,
            background.token(),
        ),
    );
    let idempotency = config.idempotency.policy(adapters.idempotency);

    let (listener, port) = adapters::http::bind(&config.http)?;
    let server = adapters::http::http_server(
        listener,
        &config.http,
        background.readiness(),
        DeadLetterQueue(adapters.dead_letters),
        routes(orders, HealthChecks(Arc::new(adapters.health)), idempotency),
    )?;
    tracing::info!(port, "order service listening");
    Ok(Built { port, server })
}

/// The order API: handlers, `/health`, Swagger UI and the spec.
fn routes(
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
            .service(http::orders::create_order)
            .service(http::orders::list_orders_of_product)
            .service(http::orders::order_history)
            .service(http::changes::cancel_order)
            .service(http::changes::ship_order)
            .service(http::changes::deliver_order)
            .service(http::orders::get_order)
            .service(http::changes::update_order)
            .service(http::changes::delete_order)
            .service(http::orders::list_orders)
            .service(http::admin::warm_cache)
            .service(health::health)
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", openapi.clone()),
            );
    }
}
