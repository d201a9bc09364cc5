//! The outbox as the relay sees it: claim unpublished rows with `FOR UPDATE SKIP LOCKED` (so
//! replicas share the work without publishing the same row at once), mark confirmed ones.

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, IsolationLevel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::entities::outbox;
use super::{corrupt, store_err, to_naive, to_utc};
use domain::MessageId;
use ports::store::{OutboxBatch, OutboxStore};
use ports::{OutboxMessage, StoreError};

/// The outbox table of one service's database.
#[derive(Debug, Clone)]
pub struct SqlOutboxStore {
    db: DatabaseConnection,
}

impl SqlOutboxStore {
    /// The outbox in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

struct SqlOutboxBatch {
    tx: DatabaseTransaction,
    messages: Vec<OutboxMessage>,
}

#[async_trait]
impl OutboxBatch for SqlOutboxBatch {
    fn messages(&self) -> &[OutboxMessage] {
        &self.messages
    }

    async fn mark_published(&mut self, ids: &[MessageId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::PublishedAt,
                Expr::value(to_naive(Utc::now())),
            )
            .filter(outbox::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to mark outbox rows published"))?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx
            .commit()
            .await
            .map_err(|e| store_err(e, "failed to commit the outbox batch"))
    }
}

#[async_trait]
impl OutboxStore for SqlOutboxStore {
    async fn claim(&self, limit: u32) -> Result<Box<dyn OutboxBatch>, StoreError> {
        // READ COMMITTED: the claim then locks only the rows it returns. Under REPEATABLE READ
        // it would also lock the index gaps, and every concurrent outbox insert (each order
        // placed) would wait on the relay, or deadlock with it.
        let tx = self
            .db
            .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
            .await
            .map_err(|e| store_err(e, "failed to begin an outbox batch"))?;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(u64::from(limit))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&tx)
            .await
            .map_err(|e| store_err(e, "failed to claim outbox rows"))?;
        let messages = rows
            .into_iter()
            .map(|row| OutboxMessage {
                id: MessageId::from_uuid(row.id),
                routing_key: row.routing_key,
                payload: row.payload,
                occurred_at: to_utc(row.occurred_at),
            })
            .collect();
        Ok(Box::new(SqlOutboxBatch { tx, messages }))
    }

    async fn purge_published(&self, older_than: chrono::Duration) -> Result<u64, StoreError> {
        let cutoff = Utc::now()
            .checked_sub_signed(older_than)
            .ok_or_else(|| corrupt("retention out of range"))?;
        let result = outbox::Entity::delete_many()
            .filter(outbox::Column::PublishedAt.lt(to_naive(cutoff)))
            .exec(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to purge the outbox"))?;
        Ok(result.rows_affected)
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .count(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to count unpublished outbox rows"))
    }
}
