//! Fixtures for the embedded adapters of the standalone composition: the sea-orm stores on an
//! SQLite file of their own, the [`InProcessBus`], and [`MemoryCache`]s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use super::bus::{BOUND_KEYS, BusFixture, RunningConsumer};
use super::cache::CacheFixture;
use adapters::memory::InProcessBus;
use adapters::memory::MemoryCache;
use adapters::settings::DatabaseSettings;
use adapters::sql::{OrderMigrator, ProductMigrator};
use ports::messaging::Dispatch;
use ports::{Cache, EventPublisher, MessageHandler};

/// An SQLite database in a temporary folder of its own, migrated, removed when dropped.
#[derive(Debug)]
pub struct SqliteDatabase {
    conn: DatabaseConnection,
    readers: DatabaseConnection,
    _dir: tempfile::TempDir,
}

impl SqliteDatabase {
    /// A database with the order service's schema.
    pub async fn orders() -> Self {
        Self::open::<OrderMigrator>("orders").await
    }

    /// A database with the product service's schema.
    pub async fn products() -> Self {
        Self::open::<ProductMigrator>("products").await
    }

    async fn open<M: sea_orm_migration::MigratorTrait>(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let settings = DatabaseSettings {
            url: format!(
                "sqlite://{}?mode=rwc",
                dir.path().join(format!("{name}.db")).display()
            )
            .into(),
            max_connections: 1,
            acquire_timeout_ms: 30_000,
            create_if_missing: true,
        };
        let conn = adapters::sql::open_database::<M>(&settings)
            .await
            .expect("the SQLite contract database must open and migrate");
        // As many readers as the standalone composition opens.
        let readers = adapters::sql::open_readers(&settings, 2)
            .await
            .expect("the SQLite contract database must open for reading")
            .expect("an SQLite file has read-only connections");
        Self {
            conn,
            readers,
            _dir: dir,
        }
    }

    /// The pool (its one writer connection).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The read-only connections to the same file, as the standalone stores use them.
    pub fn readers(&self) -> &DatabaseConnection {
        &self.readers
    }
}

/// Delivery limit of the bus under test (as for RabbitMQ in the contract tests).
pub const DELIVERY_LIMIT: u32 = 2;
/// Pause before a redelivery.
pub const RETRY_DELAY: Duration = Duration::from_millis(50);
/// The queue the suite's consumer reads.
pub const QUEUE: &str = "contract-service.events";

/// One [`InProcessBus`] with the suite's queue declared.
#[derive(Debug, Clone)]
pub struct InProcessBusFixture {
    bus: InProcessBus,
    delivery_limit: u32,
}

impl InProcessBusFixture {
    /// A bus whose relay-side confirmations wait at most 5 seconds.
    pub fn new() -> Self {
        Self::with_delivery_limit(DELIVERY_LIMIT)
    }

    /// The same, with room for `delivery_limit` retries.
    pub fn with_delivery_limit(delivery_limit: u32) -> Self {
        let bus = InProcessBus::new(Duration::from_secs(5));
        bus.declare(QUEUE, &BOUND_KEYS, delivery_limit);
        Self {
            bus,
            delivery_limit,
        }
    }
}

impl Default for InProcessBusFixture {
    fn default() -> Self {
        Self::new()
    }
}

struct InProcessConsumer {
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for InProcessConsumer {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

#[async_trait]
impl RunningConsumer for InProcessConsumer {
    async fn stop(mut self: Box<Self>) {
        self.token.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .expect("the in-process consumer must stop cleanly");
        }
    }
}

#[async_trait]
impl BusFixture for InProcessBusFixture {
    fn publisher(&self) -> Arc<dyn EventPublisher> {
        Arc::new(self.bus.clone())
    }

    async fn start_consumer(&self, handler: Arc<dyn MessageHandler>) -> Box<dyn RunningConsumer> {
        let token = CancellationToken::new();
        let (bus, stop) = (self.bus.clone(), token.clone());
        let task = tokio::spawn(async move {
            bus.run_consumer(QUEUE, handler, RETRY_DELAY, Dispatch::default(), stop)
                .await
                .expect("the in-process consumer must run until stopped");
        });
        Box::new(InProcessConsumer {
            token,
            task: Some(task),
        })
    }

    async fn dead_letters(&self) -> Vec<Vec<u8>> {
        self.bus
            .take_dead_letters(QUEUE)
            .into_iter()
            .map(|d| d.body)
            .collect()
    }

    fn delivery_limit(&self) -> u32 {
        self.delivery_limit
    }
}

/// [`MemoryCache`]s, one per namespace (a memory cache has no key prefix: namespaces are
/// separate instances, and the same namespace gives the same instance).
#[derive(Debug, Default)]
pub struct MemoryCaches {
    caches: Mutex<HashMap<String, MemoryCache>>,
}

impl CacheFixture for MemoryCaches {
    fn cache(&self, namespace: &str) -> Arc<dyn Cache> {
        let mut caches = self
            .caches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::new(
            caches
                .entry(namespace.to_owned())
                .or_insert_with(|| MemoryCache::new(10_000))
                .clone(),
        )
    }
}
