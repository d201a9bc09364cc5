//! The product service built from its adapters: the one place where its use cases are wired,
//! its background tasks spawned and its HTTP server made. Every composition root (the
//! distributed binary, the standalone system) calls [`build`].

use std::sync::Arc;

use actix_web::web;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use adapters::http::health::{self, HealthChecks};
use adapters::http::idempotency::Idempotency;
use adapters::runtime::{Background, Listening, ServiceAdapters, ServiceOptions};
use adapters::sql::SqlProductStore;
use domain::Currency;
use ports::Cache;
use ports::inventory::{CachePolicy, ProductService};

use crate::http::openapi::ApiDoc;
use crate::http::{self, DeploymentCurrency, Products};

/// Name of the service (inbox consumer, AMQP queue and connection names, logs).
pub const SERVICE: &str = "product-service";

/// The adapters a composition chooses for the product service.
#[allow(
    missing_debug_implementations,
    reason = "a bag of trait objects, handed over once"
)]
pub struct ProductAdapters {
    /// Products, stock, reservations, inbox and outbox.
    pub store: SqlProductStore,
    /// The product cache.
    pub cache: Arc<dyn Cache>,
    /// What every service takes: outbox, messaging, dead letters, idempotency, health, clock.
    pub shared: ServiceAdapters,
}

/// What every composition configures the product service with.
#[derive(Debug, Clone)]
pub struct ProductConfig {
    /// The deployment currency.
    pub currency: Currency,
    /// Lifetimes of cached products.
    pub cache: CachePolicy,
    /// The listener, the outbox relay, `Idempotency-Key`s.
    pub shared: ServiceOptions,
}

/// A built product service: its API listening, and its use cases (the standalone composition
/// reads the catalogue from them).
pub struct Built {
    /// The API.
    pub api: Listening,
    /// The use cases.
    pub products: Arc<Products>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// Wires the use cases to `adapters`, spawns what every service runs (outbox relay, consumer,
/// idempotency purger) into `background`, and binds the API.
pub fn build(
    adapters: ProductAdapters,
    config: &ProductConfig,
    background: &mut Background,
) -> anyhow::Result<Built> {
    let products: Arc<Products> = Arc::new(ProductService::new(
        adapters.store,
        adapters.cache,
        config.cache,
        adapters.shared.clock.clone(),
    ));
    let currency = config.currency;
    let routed = products.clone();
    let api = adapters.shared.start(
        products.clone(),
        &config.shared,
        background,
        |health, idempotency| routes(routed, currency, health, idempotency),
    )?;
    tracing::info!(port = api.port, "product service listening");
    Ok(Built { api, products })
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
    let methods = web::Data::new(adapters::http::methods::RouteTable::from_openapi(&openapi));
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(methods.clone())
            .app_data(products.clone())
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
