//! The order service built from its adapters: the one place where its use cases are wired,
//! its background tasks spawned and its HTTP server made. Every composition root (the
//! distributed binary, the standalone system) calls [`build`].

use std::sync::Arc;

use actix_web::web;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use adapters::http::health::{self, HealthChecks};
use adapters::http::idempotency::Idempotency;
use adapters::runtime::{Background, Listening, ServiceAdapters, ServiceOptions};
use adapters::sql::SqlOrderStore;
use domain::Currency;
use ports::ordering::{OrderService, ProductCatalog, SweeperOptions};

use crate::http::openapi::ApiDoc;
use crate::http::{self, Orders};

/// Name of the service (inbox consumer, AMQP queue and connection names, logs).
pub const SERVICE: &str = "order-service";

/// The adapters a composition chooses for the order service.
#[allow(
    missing_debug_implementations,
    reason = "a bag of trait objects, handed over once"
)]
pub struct OrderAdapters {
    /// Orders, their history, inbox and outbox.
    pub store: SqlOrderStore,
    /// Names and prices of products.
    pub catalog: Arc<dyn ProductCatalog>,
    /// What every service takes: outbox, messaging, dead letters, idempotency, health, clock.
    pub shared: ServiceAdapters,
}

/// What every composition configures the order service with.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// The deployment currency.
    pub currency: Currency,
    /// The stuck-order sweeper.
    pub sweeper: SweeperOptions,
    /// The listener, the outbox relay, `Idempotency-Key`s.
    pub shared: ServiceOptions,
}

/// Wires the use cases to `adapters`, spawns the stuck-order sweeper and what every service
/// runs (outbox relay, consumer, idempotency purger) into `background`, and binds the API.
pub fn build(
    adapters: OrderAdapters,
    config: &OrderConfig,
    background: &mut Background,
) -> anyhow::Result<Listening> {
    let orders: Arc<Orders> = Arc::new(OrderService::new(
        adapters.store,
        adapters.catalog,
        config.currency,
        adapters.shared.clock.clone(),
    ));
    let (sweeper, options, token) = (orders.clone(), config.sweeper, background.token());
    background.spawn("stuck-order-sweeper", async move {
        sweeper.run_sweeper(options, token).await
    });
    let mut shared = adapters.shared;
    shared.samplers.push(Arc::new(PendingPastDeadline {
        orders: orders.clone(),
        deadline: config.sweeper.pending_deadline,
    }));
    let listening = shared.start(
        orders.clone(),
        &config.shared,
        background,
        |health, idempotency| routes(orders, health, idempotency),
    )?;
    tracing::info!(port = listening.port, "order service listening");
    Ok(listening)
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
    let methods = web::Data::new(adapters::http::methods::RouteTable::from_openapi(&openapi));
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(methods.clone())
            .app_data(orders.clone())
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

/// `orders_pending_past_deadline`, read at scrape: orders the sweeper will have to nudge.
struct PendingPastDeadline {
    orders: Arc<Orders>,
    deadline: std::time::Duration,
}

#[async_trait::async_trait]
impl adapters::observe::Sampler for PendingPastDeadline {
    async fn sample(&self) {
        if let Ok(count) = self.orders.pending_past(self.deadline).await {
            adapters::observe::pending_past_deadline(count);
        }
    }
}
