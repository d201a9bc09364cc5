//! Composition root: builds the adapters, hands them to the use cases, and starts HTTP, the
//! consumer and the outbox relay.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use adapters::db::{OutboxSignal, ProductMigrator, SqlProductStore};
use adapters::http::health::{self, HealthChecks};
use adapters::redis_cache::RedisCache;
use adapters::runtime::Background;
use adapters::wiring;
use domain::Currency;
use ports::inventory::{CachePolicy, ProductService};

use crate::api::{self, DeploymentCurrency};
use crate::openapi::ApiDoc;
use crate::settings::Settings;

/// The product use cases as wired in this service.
pub type Products = ProductService<SqlProductStore, RedisCache>;

/// Name of the service (AMQP queue and connection names, logs).
pub const SERVICE: &str = "product-service";

/// A built, listening product service.
pub struct Application {
    port: u16,
    server: Server,
    background: Background,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects to every dependency, applies migrations, declares the topology, binds the
    /// listener (port 0 picks a free port) and starts the background tasks.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let currency = Currency::parse(&settings.currency).context("invalid `currency` setting")?;
        let conn = wiring::open_database::<ProductMigrator>(&settings.database).await?;
        let signal = OutboxSignal::new();
        let cache = RedisCache::new(&settings.redis.options())?;
        let products: Arc<Products> = Arc::new(ProductService::new(
            SqlProductStore::new(conn.clone(), signal.clone()),
            cache.clone(),
            CachePolicy {
                ttl: Duration::from_secs(settings.redis.ttl_secs),
                negative_ttl: Duration::from_secs(settings.redis.negative_ttl_secs),
            },
        ));

        let mut background = Background::new();
        let publisher = wiring::start_messaging(
            SERVICE,
            &settings.amqp,
            &settings.outbox,
            &conn,
            signal,
            products.clone(),
            &mut background,
        )
        .await?;
        let checks = web::Data::new(HealthChecks(Arc::new(wiring::standard_checks(
            &conn, &cache, &publisher,
        ))));

        let (listener, port) = wiring::bind(&settings.http)?;
        let products = web::Data::from(products);
        let currency = web::Data::new(DeploymentCurrency(currency));
        let openapi = ApiDoc::openapi();
        let mut server = HttpServer::new(move || {
            App::new()
                .configure(adapters::http::configure_extractors)
                .app_data(products.clone())
                .app_data(currency.clone())
                .app_data(checks.clone())
                .service(api::create_product)
                .service(api::get_product)
                .service(api::list_products)
                .service(health::health)
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .url("/api-docs/openapi.json", openapi.clone()),
                )
                .default_service(web::to(adapters::http::not_found))
        })
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout_secs);
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        tracing::info!(port, "product service listening");
        Ok(Self {
            port,
            server,
            background,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then drains HTTP and the background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        adapters::runtime::serve(self.server, self.background, shutdown).await
    }
}
