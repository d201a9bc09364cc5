//! The transaction both services' stores share: the inbox, the outbox, and a commit that hands
//! the messages it enqueued to the relay.
//!
//! Rows nothing reads back within the transaction (outbox messages, order history) are
//! buffered and written at the commit as one multi-row `INSERT` per table, so that a batch of
//! messages costs a statement per table instead of one per row. A failed insert fails the
//! commit, and with it the whole transaction, as it would have failed the call.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, SqlErr,
};

use super::entities::{inbox, order_status_history, outbox};
use super::{store_err, to_naive};
use domain::MessageId;
use ports::{Clock, OutboxMessage, OutboxSignal, StoreError};

pub(crate) struct SqlTx {
    pub(crate) tx: sea_orm::DatabaseTransaction,
    /// Stamps the rows the transaction writes (inbox, tombstones, adjustments).
    pub(crate) clock: Arc<dyn Clock>,
    signal: OutboxSignal,
    claim_needed: bool,
    /// The messages enqueued: written to the outbox by [`Self::flush`] (the first `written`
    /// already are), handed to the relay once committed.
    enqueued: Vec<OutboxMessage>,
    written: usize,
    history: Vec<order_status_history::ActiveModel>,
}

impl SqlTx {
    pub(crate) async fn begin(
        db: &DatabaseConnection,
        signal: &OutboxSignal,
        clock: &Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        use sea_orm::TransactionTrait;
        let tx = db
            .begin()
            .await
            .map_err(|e| store_err(e, "failed to begin a transaction"))?;
        Ok(Self {
            tx,
            clock: clock.clone(),
            signal: signal.clone(),
            claim_needed: false,
            enqueued: Vec::new(),
            written: 0,
            history: Vec::new(),
        })
    }

    pub(crate) async fn record_inbox(
        &self,
        consumer: &str,
        message_id: MessageId,
    ) -> Result<bool, StoreError> {
        record_inbox(&self.tx, consumer, message_id, self.clock.now()).await
    }

    /// [`Self::record_inbox`] for several messages: one `SELECT` of those already recorded and
    /// one multi-row `INSERT` of the others. `false` for a message recorded before, and for a
    /// repeat of an earlier id of the same call. Should another transaction record one of
    /// them meanwhile, the insert fails as `Unavailable` (trying again sees it).
    pub(crate) async fn record_inbox_all(
        &self,
        consumer: &str,
        ids: &[MessageId],
    ) -> Result<Vec<bool>, StoreError> {
        if let [id] = ids {
            return Ok(vec![self.record_inbox(consumer, *id).await?]);
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        let known: HashSet<uuid::Uuid> = inbox::Entity::find()
            .select_only()
            .column(inbox::Column::MessageId)
            .filter(inbox::Column::Consumer.eq(consumer))
            .filter(inbox::Column::MessageId.is_in(wanted.clone()))
            .into_tuple::<uuid::Uuid>()
            .all(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to read the inbox"))?
            .into_iter()
            .collect();
        let mut seen = HashSet::with_capacity(ids.len());
        let fresh: Vec<bool> = wanted
            .iter()
            .map(|id| !known.contains(id) && seen.insert(*id))
            .collect();
        let at = to_naive(self.clock.now());
        let rows: Vec<inbox::ActiveModel> = wanted
            .iter()
            .zip(&fresh)
            .filter(|(_, fresh)| **fresh)
            .map(|(id, _)| inbox::ActiveModel {
                consumer: Set(consumer.to_owned()),
                message_id: Set(*id),
                received_at: Set(at),
            })
            .collect();
        if !rows.is_empty() {
            inbox::Entity::insert_many(rows)
                .exec_without_returning(&self.tx)
                .await
                .map_err(|e| match e.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Unavailable(
                        anyhow::anyhow!("a message of the batch was recorded concurrently: {e}"),
                    ),
                    _ => store_err(e, "failed to record the inbox entries"),
                })?;
        }
        Ok(fresh)
    }

    /// Buffers a message for the outbox (written at the commit, or by [`Self::flush`]).
    pub(crate) fn enqueue(&mut self, message: &OutboxMessage) {
        self.enqueued.push(message.clone());
    }

    /// Buffers an order history row (written at the commit, or by [`Self::flush`]).
    pub(crate) fn append_history(&mut self, row: order_status_history::ActiveModel) {
        self.history.push(row);
    }

    /// Writes the buffered rows now: before a statement that reads or changes them.
    pub(crate) async fn flush(&mut self) -> Result<(), StoreError> {
        if !self.history.is_empty() {
            order_status_history::Entity::insert_many(std::mem::take(&mut self.history))
                .exec_without_returning(&self.tx)
                .await
                .map_err(|e| store_err(e, "failed to append to the order history"))?;
        }
        if self.written < self.enqueued.len() {
            let rows = self.enqueued[self.written..].iter().map(outbox_row);
            self.written = self.enqueued.len();
            outbox::Entity::insert_many(rows)
                .exec_without_returning(&self.tx)
                .await
                .map_err(|e| store_err(e, "failed to write the outbox"))?;
        }
        Ok(())
    }

    /// Notes that the transaction made outbox rows publishable again (without handing them
    /// over: the relay claims them).
    pub(crate) fn mark_enqueued(&mut self) {
        self.claim_needed = true;
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        self.flush().await?;
        self.tx
            .commit()
            .await
            .map_err(|e| store_err(e, "failed to commit"))?;
        crate::fault::crash_point("tx.after_commit");
        self.signal.committed(self.enqueued);
        if self.claim_needed {
            self.signal.notify();
        }
        Ok(())
    }
}

/// Inserts `(consumer, message_id)` into the inbox, received `at`; `false` when it is already
/// there.
pub(crate) async fn record_inbox<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    message_id: MessageId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let row = inbox::ActiveModel {
        consumer: Set(consumer.to_owned()),
        message_id: Set(message_id.as_uuid()),
        received_at: Set(to_naive(at)),
    };
    match inbox::Entity::insert(row)
        .exec_without_returning(conn)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(store_err(e, "failed to record the inbox entry")),
    }
}

fn outbox_row(message: &OutboxMessage) -> outbox::ActiveModel {
    outbox::ActiveModel {
        id: Set(message.id.as_uuid()),
        routing_key: Set(message.routing_key.clone()),
        payload: Set(message.payload.clone()),
        occurred_at: Set(to_naive(message.occurred_at)),
        published_at: Set(None),
        trace_parent: Set(message.trace.as_ref().map(|t| t.as_str().to_owned())),
    }
}

/// Adds a message to the outbox at once.
pub(crate) async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    message: &OutboxMessage,
) -> Result<(), StoreError> {
    outbox::Entity::insert(outbox_row(message))
        .exec_without_returning(conn)
        .await
        .map_err(|e| store_err(e, "failed to write the outbox"))?;
    Ok(())
}
