//! The product service built from its adapters: the one place where its use cases are wired,
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
use adapters::sql::SqlProductStore;
use domain::Currency;
use ports::idempotency::{IdempotencyStore, run_purger};
use ports::inventory::{CachePolicy, ProductService};
use ports::relay::{RelayOptions, run_relay};
use ports::store::OutboxStore;
use ports::{Cache, Clock, DeadLetters, EventPublisher, MessageSource, OutboxSignal};

use crate::http::openapi::ApiDoc;
use crate::http::{self, DeploymentCurrency, Products};

/// Name of the service (inbox consumer, AMQP queue and connection names, logs).
pub const SERVICE: &str = "product-service";

/// How often expired idempotency keys are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The adapters a composition chooses for the product service.
#[allow(
    missing_debug_implementations,
    reason = "a bag of trait objects, handed over once"
)]
pub struct ProductAdapters {
    /// Products, stock, reservations, inbox and outbox.
    pub store: SqlProductStore,
    /// The outbox as the relay reads it (the same database as `store`).
    pub outbox: Arc<dyn OutboxStore>,
    /// Wakes the relay after commits of `store`.
    pub signal: OutboxSignal,
    /// The product cache.
    pub cache: Arc<dyn Cache>,
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

/// What every composition configures the product service with.
#[derive(Debug, Clone)]
pub struct ProductConfig {
    /// The deployment currency.
    pub currency: Currency,
    /// The listener and the server.
    pub http: HttpSettings,
    /// Lifetimes of cached products.
    pub cache: CachePolicy,
    /// The outbox relay.
    pub relay: RelayOptions,
    /// `Idempotency-Key` lease and retention.
    pub idempotency: IdempotencySettings,
}

/// A built product service: its HTTP server bound, its background tasks running.
pub struct Built {
    /// The port it listens on.
    pub port: u16,
    /// The server, to run until shutdown.
    pub server: actix_web::dev::Server,
    /// The use cases (the standalone composition reads the catalogue from them).
    pub products: Arc<Products>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Wires the use cases to `adapters`, spawns the outbox relay, the consumer and the
/// idempotency purger into `background`, and binds the API.
pub fn build(
    adapters: ProductAdapters,
    config: &ProductConfig,
    background: &mut Background,
) -> anyhow::Result<Built> {
    let products: Arc<Products> = Arc::new(ProductService::new(
        adapters.store,
        adapters.cache,
        config.cache,
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
    let (source, handler, token) = (adapters.source, products.clone(), background.token());
    background.spawn("consumer", async move {
        if let Err(e) = source.consume(handler, token).await {
            tracing::error!(error = %format!("{e:#}"), "consumer stopped");
        }
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
        routes(
            products.clone(),
            config.currency,
            HealthChecks(Arc::new(adapters.health)),
            idempotency,
        ),
    )?;
    tracing::info!(port, "product service listening");
    Ok(Built {
        port,
        server,
        products,
    })
}

/// The product API: handlers, `/health`, Swagger UI and the spec.
fn routes(
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
            .service(http::products::create_product)
            .service(http::products::get_product)
            .service(http::products::list_products)
            .service(http::products::update_product)
            .service(http::stock::adjust_stock)
            .service(http::stock::list_adjustments)
            .service(http::stock::get_adjustment)
            .service(health::health)
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", openapi.clone()),
            );
    }
}
