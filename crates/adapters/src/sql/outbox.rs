//! The outbox as the relay sees it: claim unpublished rows with `FOR UPDATE SKIP LOCKED` (so
//! replicas share the work without publishing the same row at once), mark confirmed ones.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::entities::outbox;
use super::{corrupt, store_err, to_naive, to_utc};
use domain::MessageId;
use ports::store::{OutboxBatch, OutboxStore};
use ports::{Clock, SystemClock};
use ports::{OutboxMessage, StoreError, TraceContext};
use uuid::Uuid;

/// The outbox table of one service's database.
#[derive(Debug, Clone)]
pub struct SqlOutboxStore {
    db: DatabaseConnection,
    /// SQLite has no row locks: rows claimed by an open batch of this store are skipped by
    /// later claims through this set instead (what `SKIP LOCKED` does on MySQL).
    claimed: Arc<Mutex<HashSet<Uuid>>>,
    clock: Arc<dyn Clock>,
}

impl SqlOutboxStore {
    /// The outbox in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            claimed: Arc::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Stamps publications and measures retention with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

fn claimed_set(set: &Mutex<HashSet<Uuid>>) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Rows of an SQLite batch, claimed in the store's set until the batch ends.
struct ClaimRelease {
    claimed: Arc<Mutex<HashSet<Uuid>>>,
    ids: Vec<Uuid>,
}

impl Drop for ClaimRelease {
    fn drop(&mut self) {
        let mut set = claimed_set(&self.claimed);
        for id in &self.ids {
            set.remove(id);
        }
    }
}

/// A claimed batch. On MySQL the claiming transaction's row locks hold the claim and the marks
/// go through it; on SQLite (no row locks, and its only connection must not stay busy while
/// publishing) the marks go straight to the pool and the claim is held in the store's set.
struct SqlOutboxBatch {
    tx: Option<DatabaseTransaction>,
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    _release: Option<ClaimRelease>,
    messages: Vec<OutboxMessage>,
}

fn message(row: outbox::Model) -> OutboxMessage {
    OutboxMessage {
        id: MessageId::from_uuid(row.id),
        routing_key: row.routing_key,
        payload: row.payload,
        occurred_at: to_utc(row.occurred_at),
        trace: row.trace_parent.as_deref().and_then(TraceContext::parse),
    }
}

#[async_trait]
impl OutboxBatch for SqlOutboxBatch {
    fn messages(&self) -> &[OutboxMessage] {
        &self.messages
    }

    async fn mark_published(&mut self, ids: &[MessageId]) -> Result<(), StoreError> {
        let at = self.clock.now();
        match &self.tx {
            Some(tx) => mark(tx, ids, at).await,
            None => mark(&self.db, ids, at).await,
        }
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        match self.tx.take() {
            Some(tx) => tx
                .commit()
                .await
                .map_err(|e| store_err(e, "failed to commit the outbox batch")),
            None => Ok(()),
        }
    }
}

/// Stamps the rows `ids` published `at`.
async fn mark<C: ConnectionTrait>(
    conn: &C,
    ids: &[MessageId],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    outbox::Entity::update_many()
        .col_expr(outbox::Column::PublishedAt, Expr::value(to_naive(at)))
        .filter(outbox::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
        .exec(conn)
        .await
        .map_err(|e| store_err(e, "failed to mark outbox rows published"))?;
    Ok(())
}

#[async_trait]
impl OutboxStore for SqlOutboxStore {
    async fn claim(
        &self,
        limit: u32,
        min_age: chrono::Duration,
    ) -> Result<Box<dyn OutboxBatch>, StoreError> {
        let occurred_by = self
            .clock
            .now()
            .checked_sub_signed(min_age)
            .ok_or_else(|| corrupt("outbox claim age out of range"))?;
        let unpublished = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .filter(outbox::Column::OccurredAt.lte(to_naive(occurred_by)))
            .order_by_asc(outbox::Column::Id)
            .limit(u64::from(limit));
        if self.db.get_database_backend() == DbBackend::Sqlite {
            let skipped: Vec<Uuid> = claimed_set(&self.claimed).iter().copied().collect();
            let rows = unpublished
                .filter(outbox::Column::Id.is_not_in(skipped))
                .all(&self.db)
                .await
                .map_err(|e| store_err(e, "failed to read outbox rows"))?;
            let mut set = claimed_set(&self.claimed);
            // Another claim may have taken some of these rows while this one was reading.
            let rows: Vec<_> = rows.into_iter().filter(|r| set.insert(r.id)).collect();
            drop(set);
            return Ok(Box::new(SqlOutboxBatch {
                tx: None,
                db: self.db.clone(),
                clock: self.clock.clone(),
                _release: Some(ClaimRelease {
                    claimed: self.claimed.clone(),
                    ids: rows.iter().map(|r| r.id).collect(),
                }),
                messages: rows.into_iter().map(message).collect(),
            }));
        }
        // READ COMMITTED: the claim then locks only the rows it returns. Under REPEATABLE READ
        // it would also lock the index gaps, and every concurrent outbox insert (each order
        // placed) would wait on the relay, or deadlock with it.
        let tx = self
            .db
            .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
            .await
            .map_err(|e| store_err(e, "failed to begin an outbox batch"))?;
        let rows = unpublished
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&tx)
            .await
            .map_err(|e| store_err(e, "failed to claim outbox rows"))?;
        Ok(Box::new(SqlOutboxBatch {
            tx: Some(tx),
            db: self.db.clone(),
            clock: self.clock.clone(),
            _release: None,
            messages: rows.into_iter().map(message).collect(),
        }))
    }

    async fn mark_published(&self, ids: &[MessageId]) -> Result<(), StoreError> {
        mark(&self.db, ids, self.clock.now()).await
    }

    async fn purge_published(&self, older_than: chrono::Duration) -> Result<u64, StoreError> {
        let cutoff = self
            .clock
            .now()
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

    async fn backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let row: Option<(i64, Option<chrono::NaiveDateTime>)> = outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::Id.count(), "pending")
            .column_as(outbox::Column::OccurredAt.min(), "oldest")
            .filter(outbox::Column::PublishedAt.is_null())
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to read the outbox backlog"))?;
        let (pending, oldest) = row.unwrap_or((0, None));
        Ok((u64::try_from(pending).unwrap_or(0), oldest.map(to_utc)))
    }
}
