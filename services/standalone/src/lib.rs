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
//! - [`tokens`]: its own signing key and tokens, when no identity provider is configured.
//! - [`Standalone`]: the composition root.

pub mod settings;
pub mod tokens;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;

use adapters::http::observe::DeadLetterSampler;
use adapters::memory::{BusQueue, InProcessBus, LocalProductCatalog, MemoryCache};
use adapters::observe::Sampler;
use adapters::runtime::{Background, ServiceAdapters, ServiceOptions};
use adapters::settings::{DatabaseSettings, HttpSettings};
use adapters::sql::{
    self, OrderMigrator, ProductMigrator, SqlIdempotencyStore, SqlOrderStore, SqlOutboxStore,
    SqlProductStore,
};
use domain::Currency;
use order_service::{OrderAdapters, OrderConfig};
use ports::inventory::CachePolicy;
use ports::ordering::CachedCatalog;
use ports::{Clock, DeadLetters, OutboxSignal, SystemClock};
use product_service::{ProductAdapters, ProductConfig};

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
    issuer: Option<adapters::http::auth::issue::TokenIssuer>,
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

/// Read-only connections per database, beside its one writer. Reads then wait for neither the
/// writer nor each other; more than the two cores could run at once would only add threads
/// (sqlx gives each SQLite connection a thread of its own).
const READERS: u32 = 2;

fn database(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url: url.into(),
        // SQLite pools hold one connection (see adapters::sql::connect).
        max_connections: 1,
        acquire_timeout_ms: 10_000,
        create_if_missing: true,
    }
}

impl Standalone {
    /// Opens (or creates) the databases, applies migrations, declares the bus queues, starts
    /// the relays and consumers, and binds both APIs.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
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
        let issuer = tokens::own_issuer(&mut settings.auth, data_dir.as_deref())?;
        let order_db = sql::open_database::<OrderMigrator>(&database(order_db_url.clone())).await?;
        let product_db =
            sql::open_database::<ProductMigrator>(&database(product_db_url.clone())).await?;
        // An in-memory database has no readers: it lives on its one connection only.
        let order_readers = sql::open_readers(&database(order_db_url.clone()), READERS)
            .await?
            .unwrap_or_else(|| order_db.clone());
        let product_readers = sql::open_readers(&database(product_db_url.clone()), READERS)
            .await?
            .unwrap_or_else(|| product_db.clone());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cache = CachePolicy {
            ttl: Duration::from_secs(settings.cache.ttl_secs),
            negative_ttl: Duration::from_secs(settings.cache.negative_ttl_secs),
        };
        let bus = InProcessBus::new(Duration::from_millis(settings.bus.confirm_timeout_ms));
        let queue = |name, keys| {
            BusQueue::declare(
                &bus,
                name,
                keys,
                settings.bus.delivery_limit,
                Duration::from_millis(settings.bus.retry_delay_ms),
            )
            .with_dispatch(settings.bus.dispatch())
        };
        let (product_queue, order_queue) = (
            queue(PRODUCT_QUEUE, ports::inventory::ROUTING_KEYS),
            queue(ORDER_QUEUE, ports::ordering::ROUTING_KEYS),
        );
        let http = |port| HttpSettings {
            host: settings.http.host.clone(),
            port,
            workers: settings.http.workers,
            shutdown_timeout_secs: settings.http.shutdown_timeout_secs,
            readiness_drain_ms: settings.http.readiness_drain_ms,
            limits: settings.http.limits.clone(),
        };
        let mut background = Background::new();
        background.set_drain_delay(Duration::from_millis(settings.http.readiness_drain_ms));

        // Each service on its own database, both on the bus.
        let shared = |db: &DatabaseConnection,
                      signal: &OutboxSignal,
                      queue: BusQueue,
                      pools: [(&'static str, Option<DatabaseConnection>); 2]| {
            let dead_letters: Arc<dyn DeadLetters> = Arc::new(queue.dead_letters());
            let mut samplers: Vec<Arc<dyn Sampler>> = vec![Arc::new(DeadLetterSampler {
                dead_letters: dead_letters.clone(),
                queue: queue.name().to_owned(),
            })];
            for (name, pool) in pools {
                if let Some(db) = pool {
                    samplers.push(Arc::new(sql::PoolSampler { db, name }));
                }
            }
            ServiceAdapters {
                outbox: Arc::new(SqlOutboxStore::new(db.clone()).with_clock(clock.clone())),
                signal: signal.clone(),
                publisher: Arc::new(bus.clone()),
                dead_letters,
                source: Arc::new(queue),
                idempotency: Arc::new(
                    SqlIdempotencyStore::new(db.clone()).with_clock(clock.clone()),
                ),
                health: vec![sql::health_check(db)],
                clock: clock.clone(),
                samplers,
            }
        };
        let options = |port, service| ServiceOptions {
            service,
            http: http(port),
            rate_limit: settings.rate_limit.clone(),
            relay: settings.outbox.relay_options(),
            idempotency: settings.idempotency.clone(),
            auth: settings.auth.clone(),
        };

        let product_signal = OutboxSignal::new();
        let product_cache = MemoryCache::new(settings.cache.capacity);
        let product = product_service::build(
            ProductAdapters {
                store: SqlProductStore::new(product_db.clone(), product_signal.clone())
                    .with_readers(product_readers.clone())
                    .with_clock(clock.clone()),
                cache: Arc::new(product_cache.clone()),
                shared: shared(
                    &product_db,
                    &product_signal,
                    product_queue,
                    [
                        ("product", Some(product_db.clone())),
                        ("product-readers", Some(product_readers)),
                    ],
                ),
            },
            &ProductConfig {
                currency,
                cache,
                shared: options(settings.http.product_port, product_service::SERVICE),
            },
            &mut background,
        )?;
        let order_signal = OutboxSignal::new();
        let order = order_service::build(
            OrderAdapters {
                store: SqlOrderStore::new(order_db.clone(), order_signal.clone())
                    .with_readers(order_readers.clone())
                    .with_clock(clock.clone()),
                catalog: Arc::new(CachedCatalog::new(
                    MemoryCache::new(settings.cache.capacity),
                    LocalProductCatalog::new(product.products),
                    cache.ttl,
                    cache.negative_ttl,
                )),
                shared: shared(
                    &order_db,
                    &order_signal,
                    order_queue,
                    [
                        ("order", Some(order_db.clone())),
                        ("order-readers", Some(order_readers)),
                    ],
                ),
            },
            &OrderConfig {
                currency,
                sweeper: settings.sweeper.options(),
                shared: options(settings.http.order_port, order_service::SERVICE),
            },
            &mut background,
        )?;
        let (order_port, product_port) = (order.port, product.api.port);
        let servers = vec![order.server, product.api.server];
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
            issuer,
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

    /// The system's own token signer; `None` when `[auth]` names an identity provider's key.
    pub fn issuer(&self) -> Option<&adapters::http::auth::issue::TokenIssuer> {
        self.issuer.as_ref()
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
