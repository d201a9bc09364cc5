//! Composition root: builds the adapters, hands them to the use cases, and starts HTTP, the
//! consumer and the outbox relay.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use adapters::amqp::{self, RabbitMqPublisher, Topology};
use adapters::catalog_client::HttpProductCatalog;
use adapters::db::{self, OutboxSignal, SqlOrderStore, SqlOutboxStore};
use adapters::http::health::HealthCheck;
use adapters::redis_cache::RedisCache;
use adapters::runtime::Background;
use domain::Currency;
use ports::MessageHandler;
use ports::orders::{CachedCatalog, OrderService};

use crate::api;
use crate::openapi::ApiDoc;
use crate::settings::Settings;

/// The order use cases as wired in this service.
pub type Orders = OrderService<SqlOrderStore, CachedCatalog<RedisCache, HttpProductCatalog>>;

/// Name of the service (AMQP queue and connection names, logs).
pub const SERVICE: &str = "order-service";

/// A built, listening order service.
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
        if settings.database.create_if_missing {
            db::ensure_database(&settings.database.url).await?;
        }
        let conn = db::connect(&settings.database.options()).await?;
        db::migrate_orders(&conn).await?;

        let signal = OutboxSignal::new();
        let store = SqlOrderStore::new(conn.clone(), signal.clone());
        let cache = RedisCache::new(&settings.redis.options())?;
        let peer = &settings.product_service;
        let catalog_client = HttpProductCatalog::new(
            &peer.url,
            Duration::from_millis(peer.connect_timeout_ms),
            Duration::from_millis(peer.timeout_ms),
        )?;
        let catalog = CachedCatalog::new(
            cache.clone(),
            catalog_client.clone(),
            Duration::from_secs(settings.redis.ttl_secs),
            Duration::from_secs(settings.redis.negative_ttl_secs),
        );
        let orders: Arc<Orders> = Arc::new(OrderService::new(store, catalog, currency));

        let amqp_settings = &settings.amqp;
        let topology = Topology::for_service(
            &amqp_settings.prefix,
            SERVICE,
            orders
                .routing_keys()
                .into_iter()
                .map(String::from)
                .collect(),
            amqp_settings.delivery_limit,
        );
        let setup = amqp::connect(&amqp_settings.url, SERVICE).await?;
        let channel = setup
            .create_channel()
            .await
            .context("failed to open an AMQP channel")?;
        topology.declare(&channel).await?;
        setup.close(200, "topology declared".into()).await.ok();

        let publisher = Arc::new(
            RabbitMqPublisher::new(
                amqp_settings.url.clone(),
                SERVICE,
                topology.exchange.clone(),
            )
            .with_confirm_timeout(Duration::from_millis(amqp_settings.confirm_timeout_ms)),
        );

        let mut background = Background::new();
        background.spawn(
            "outbox-relay",
            adapters::relay::run_relay(
                Arc::new(SqlOutboxStore::new(conn.clone())),
                publisher.clone(),
                signal,
                settings.outbox.relay_options(),
                background.token(),
            ),
        );
        let consumer = amqp::run_consumer(
            amqp_settings.url.clone(),
            SERVICE.to_owned(),
            topology,
            orders.clone() as Arc<dyn MessageHandler>,
            amqp_settings.prefetch,
            Duration::from_millis(amqp_settings.retry_delay_ms),
            background.token(),
        );
        background.spawn("consumer", async move {
            if let Err(e) = consumer.await {
                tracing::error!(error = %format!("{e:#}"), "consumer stopped");
            }
        });

        let checks = Arc::new(vec![
            HealthCheck::critical("database", {
                let conn = conn.clone();
                move || {
                    let conn = conn.clone();
                    async move { db::ping(&conn).await }
                }
            }),
            HealthCheck::optional("redis", {
                let cache = cache.clone();
                move || {
                    let cache = cache.clone();
                    async move { cache.ping().await }
                }
            }),
            HealthCheck::optional("rabbitmq", {
                let publisher = publisher.clone();
                move || {
                    let publisher = publisher.clone();
                    async move {
                        publisher
                            .ensure_connected()
                            .await
                            .map_err(anyhow::Error::from)
                    }
                }
            }),
            HealthCheck::optional("product_service", {
                let client = catalog_client.clone();
                move || {
                    let client = client.clone();
                    async move { client.ping().await }
                }
            }),
        ]);

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
            .with_context(|| {
                format!(
                    "failed to bind {}:{}",
                    settings.http.host, settings.http.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let orders = web::Data::from(orders);
        let checks = web::Data::new(checks);
        let openapi = ApiDoc::openapi();
        let mut server = HttpServer::new(move || {
            App::new()
                .configure(adapters::http::configure_extractors)
                .app_data(orders.clone())
                .app_data(checks.clone())
                .service(api::create_order)
                .service(api::list_orders_of_product)
                .service(api::get_order)
                .service(api::list_orders)
                .service(api::health)
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
        tracing::info!(port, "order service listening");
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
