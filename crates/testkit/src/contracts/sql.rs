//! Fixtures for the sea-orm stores ([`SqlOrderStore`], [`adapters::sql::SqlProductStore`],
//! [`adapters::sql::SqlOutboxStore`]): a database of its own on the test MySQL server, and
//! reading behind the ports what they cannot read yet. The readers only need a
//! [`DatabaseConnection`], so they serve every backend the stores run on.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use secrecy::ExposeSecret;

use super::orders::OrderStoreFixture;
use crate::{Infra, Isolation};
use adapters::settings::DatabaseSettings;
use adapters::sql::entities::order_status_history as history;
use adapters::sql::{OrderMigrator, ProductMigrator, SqlOrderStore};
use domain::{OrderId, OrderStatus};
use ports::OutboxSignal;
use ports::ordering::{HistoryEntry, OrderStore};

/// A database of its own on the test MySQL server, migrated, and dropped by
/// [`MySqlDatabase::drop_database`].
#[derive(Debug)]
pub struct MySqlDatabase {
    server: String,
    name: String,
    conn: DatabaseConnection,
}

impl MySqlDatabase {
    /// `t_{id}_contract_orders`, with the order service's schema.
    pub async fn orders(infra: &Infra, iso: &Isolation) -> Self {
        let settings = settings(infra, iso, "orders");
        let conn = adapters::sql::open_database::<OrderMigrator>(&settings)
            .await
            .expect("the order contract database must open and migrate");
        Self::new(infra, &settings, conn)
    }

    /// `t_{id}_contract_products`, with the product service's schema.
    pub async fn products(infra: &Infra, iso: &Isolation) -> Self {
        let settings = settings(infra, iso, "products");
        let conn = adapters::sql::open_database::<ProductMigrator>(&settings)
            .await
            .expect("the product contract database must open and migrate");
        Self::new(infra, &settings, conn)
    }

    fn new(infra: &Infra, settings: &DatabaseSettings, conn: DatabaseConnection) -> Self {
        let name = settings
            .url
            .expose_secret()
            .rsplit('/')
            .next()
            .expect("a database name")
            .to_owned();
        Self {
            server: format!("{}/", infra.mysql_url),
            name,
            conn,
        }
    }

    /// The pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Closes the pool and drops the database.
    pub async fn drop_database(self) {
        self.conn.close().await.ok();
        let server = Database::connect(&self.server)
            .await
            .expect("the test database server");
        server
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await
            .expect("drop the contract database");
        server.close().await.ok();
    }
}

fn settings(infra: &Infra, iso: &Isolation, what: &str) -> DatabaseSettings {
    DatabaseSettings {
        url: format!("{}/t_{}_contract_{what}", infra.mysql_url, iso.id).into(),
        // Enough for the concurrency rules to contend on row locks rather than on the pool.
        max_connections: 16,
        acquire_timeout_ms: 30_000,
        create_if_missing: true,
    }
}

/// An [`OrderStoreFixture`] for an order store on a sea-orm connection; reads the history
/// table directly.
pub struct SqlOrderFixture {
    store: Arc<dyn OrderStore>,
    conn: DatabaseConnection,
}

impl SqlOrderFixture {
    /// A [`SqlOrderStore`] on `conn`.
    pub fn new(conn: DatabaseConnection) -> Self {
        let store = Arc::new(SqlOrderStore::new(conn.clone(), OutboxSignal::new()));
        Self { store, conn }
    }

    /// Any order store writing to `conn` (for example a wrapper around a [`SqlOrderStore`]).
    pub fn with_store(store: Arc<dyn OrderStore>, conn: DatabaseConnection) -> Self {
        Self { store, conn }
    }
}

impl std::fmt::Debug for SqlOrderFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlOrderFixture")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl OrderStoreFixture for SqlOrderFixture {
    fn store(&self) -> Arc<dyn OrderStore> {
        self.store.clone()
    }

    async fn history(&self, order_id: OrderId) -> Option<Vec<HistoryEntry>> {
        let rows = history::Entity::find()
            .filter(history::Column::OrderId.eq(order_id.as_uuid()))
            .order_by_asc(history::Column::Seq)
            .all(&self.conn)
            .await
            .expect("the history table must be readable");
        let status = |s: &str| OrderStatus::parse(s).expect("a stored status");
        Some(
            rows.into_iter()
                .map(|row| HistoryEntry {
                    order_id: OrderId::from_uuid(row.order_id),
                    seq: u32::try_from(row.seq).expect("a positive seq"),
                    from: row.from_status.as_deref().map(status),
                    to: status(&row.to_status),
                    reason: row.reason,
                    cause: row.cause,
                    at: row.at.and_utc(),
                })
                .collect(),
        )
    }
}
