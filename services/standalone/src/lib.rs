//! The whole system in one process, on embedded adapters: SQLite through sea-orm (the same
//! entities and migrations as MySQL), an in-process event bus, and in-memory caches (moka).
//!
//! The semantics stay those of the distributed system: each service keeps its own database,
//! events go outbox → bus → inbox with at-least-once delivery and exactly-once effect,
//! reservations are all-or-nothing, and the same HTTP APIs answer on the same ports (order
//! 8080, product 3000), each with its Swagger UI.
//!
//! Layout:
//! - [`settings`]: configuration (`config/default.toml`, `APP__*`, command-line flags).
//! - [`Standalone`]: the composition root.

pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use adapters::bus::{InProcessBus, InProcessDeadLetters};
use adapters::db::{
    self, OrderMigrator, OutboxSignal, ProductMigrator, SqlOrderStore, SqlOutboxStore,
    SqlProductStore,
};
use adapters::http::dead_letters::DeadLetterQueue;
use adapters::http::health::{HealthCheck, HealthChecks};
use adapters::local_catalog::LocalProductCatalog;
use adapters::memory_cache::MemoryCache;
use adapters::runtime::Background;
use adapters::settings::{DatabaseSettings, HttpSettings};
use adapters::wiring;
use domain::Currency;
use ports::inventory::{CachePolicy, ProductService};
use ports::orders::{CachedCatalog, OrderService, ProductCatalog};
use ports::{Cache, MessageHandler};

pub use settings::Settings;

/// Queue of the product service on the bus.
pub const PRODUCT_QUEUE: &str = "product-service.events";
/// Queue of the order service on the bus.
pub const ORDER_QUEUE: &str = "order-service.events";

/// Both services, built and listening.
pub struct Standalone {
    order_port: u16,
    product_port: u16,
    servers: Vec<actix_web::dev::Server>,
    background: Background,
    bus: InProcessBus,
    order_db_url: String,
    product_db_url: String,
    product_cache: MemoryCache,
    data_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Standalone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standalone")
            .field("order_port", &self.order_port)
            .field("product_port", &self.product_port)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

fn database(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url,
        // SQLite pools hold one connection (see adapters::db::connect).
        max_connections: 1,
        acquire_timeout_ms: 10_000,
        create_if_missing: true,
    }
}

fn database_check(conn: &sea_orm::DatabaseConnection) -> HealthCheck {
    let conn = conn.clone();
    HealthCheck::critical("database", move || {
        let conn = conn.clone();
        async move { db::ping(&conn).await }
    })
}

impl Standalone {
    /// Opens (or creates) the databases, applies migrations, declares the bus queues, starts
    /// the relays and consumers, and binds both APIs.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let currency = Currency::parse(&settings.currency).context("invalid `currency` setting")?;
        let (order_db_url, product_db_url, data_dir) = if settings.in_memory {
            (
                "sqlite::memory:".to_owned(),
                "sqlite::memory:".to_owned(),
                None,
            )
        } else {
            let dir = &settings.data_dir;
            std::fs::create_dir_all(dir).with_context(|| {
                format!("failed to create the data directory {}", dir.display())
            })?;
            let dir = dir
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", dir.display()))?;
            (
                format!("sqlite://{}?mode=rwc", dir.join("orders.db").display()),
                format!("sqlite://{}?mode=rwc", dir.join("products.db").display()),
                Some(dir),
            )
        };
        let order_db =
            wiring::open_database::<OrderMigrator>(&database(order_db_url.clone())).await?;
        let product_db =
            wiring::open_database::<ProductMigrator>(&database(product_db_url.clone())).await?;

        let policy = CachePolicy {
            ttl: Duration::from_secs(settings.cache.ttl_secs),
            negative_ttl: Duration::from_secs(settings.cache.negative_ttl_secs),
        };
        let product_signal = OutboxSignal::new();
        let product_cache = MemoryCache::new(settings.cache.capacity);
        let products = Arc::new(ProductService::new(
            SqlProductStore::new(product_db.clone(), product_signal.clone()),
            Arc::new(product_cache.clone()) as Arc<dyn Cache>,
            policy,
        ));
        let order_signal = OutboxSignal::new();
        let catalog: Arc<dyn ProductCatalog> = Arc::new(CachedCatalog::new(
            MemoryCache::new(settings.cache.capacity),
            LocalProductCatalog::new(products.clone()),
            policy.ttl,
            policy.negative_ttl,
        ));
        let orders = Arc::new(OrderService::new(
            SqlOrderStore::new(order_db.clone(), order_signal.clone()),
            catalog,
            currency,
        ));

        let bus = InProcessBus::new(Duration::from_millis(settings.bus.confirm_timeout_ms));
        let consumers: [(&str, Arc<dyn MessageHandler>); 2] = [
            (PRODUCT_QUEUE, products.clone()),
            (ORDER_QUEUE, orders.clone()),
        ];
        for (queue, handler) in &consumers {
            bus.declare(queue, &handler.routing_keys(), settings.bus.delivery_limit);
        }
        let mut background = Background::new();
        background.set_drain_delay(Duration::from_millis(settings.http.readiness_drain_ms));
        for (queue, handler) in consumers {
            let (bus, token) = (bus.clone(), background.token());
            let retry_delay = Duration::from_millis(settings.bus.retry_delay_ms);
            background.spawn("consumer", async move {
                if let Err(e) = bus.run_consumer(queue, handler, retry_delay, token).await {
                    tracing::error!(queue, error = %format!("{e:#}"), "consumer stopped");
                }
            });
        }
        for (conn, signal) in [(&order_db, order_signal), (&product_db, product_signal)] {
            background.spawn(
                "outbox-relay",
                adapters::relay::run_relay(
                    Arc::new(SqlOutboxStore::new(conn.clone())),
                    Arc::new(bus.clone()),
                    signal,
                    settings.outbox.relay_options(),
                    background.token(),
                ),
            );
        }

        background.spawn(
            "stuck-order-sweeper",
            order_service::startup::run_sweeper(
                orders.clone(),
                settings.sweeper.clone(),
                background.token(),
            ),
        );
        let order_idempotency =
            wiring::idempotency(&settings.idempotency, &order_db, &mut background);
        let product_idempotency =
            wiring::idempotency(&settings.idempotency, &product_db, &mut background);

        let http = |port| HttpSettings {
            host: settings.http.host.clone(),
            port,
            workers: settings.http.workers,
            shutdown_timeout_secs: settings.http.shutdown_timeout_secs,
            readiness_drain_ms: settings.http.readiness_drain_ms,
        };
        let (order_http, product_http) = (
            http(settings.http.order_port),
            http(settings.http.product_port),
        );
        let (order_listener, order_port) = wiring::bind(&order_http)?;
        let (product_listener, product_port) = wiring::bind(&product_http)?;
        let servers = vec![
            wiring::http_server(
                order_listener,
                &order_http,
                background.readiness(),
                DeadLetterQueue(Arc::new(InProcessDeadLetters::new(
                    bus.clone(),
                    ORDER_QUEUE,
                ))),
                order_service::startup::routes(
                    orders,
                    HealthChecks(Arc::new(vec![database_check(&order_db)])),
                    order_idempotency,
                ),
            )?,
            wiring::http_server(
                product_listener,
                &product_http,
                background.readiness(),
                DeadLetterQueue(Arc::new(InProcessDeadLetters::new(
                    bus.clone(),
                    PRODUCT_QUEUE,
                ))),
                product_service::startup::routes(
                    products,
                    currency,
                    HealthChecks(Arc::new(vec![database_check(&product_db)])),
                    product_idempotency,
                ),
            )?,
        ];
        tracing::info!(order_port, product_port, "standalone system listening");
        Ok(Self {
            order_port,
            product_port,
            servers,
            background,
            bus,
            order_db_url,
            product_db_url,
            product_cache,
            data_dir,
        })
    }

    /// Port of the order API.
    pub fn order_port(&self) -> u16 {
        self.order_port
    }

    /// Port of the product API.
    pub fn product_port(&self) -> u16 {
        self.product_port
    }

    /// The data directory, or `None` when the data lives in memory.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }

    /// The event bus (to inspect dead letters or inject messages).
    pub fn bus(&self) -> &InProcessBus {
        &self.bus
    }

    /// The product service's cache.
    pub fn product_cache(&self) -> &MemoryCache {
        &self.product_cache
    }

    /// The order database URL.
    pub fn order_db_url(&self) -> &str {
        &self.order_db_url
    }

    /// The product database URL.
    pub fn product_db_url(&self) -> &str {
        &self.product_db_url
    }

    /// Serves until `shutdown` resolves, then drains both APIs and the background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        adapters::runtime::serve(self.servers, self.background, shutdown).await
    }
}
