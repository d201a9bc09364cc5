//! The order store and its transaction. Reads that need no transaction go to the reader
//! pool (the writer's own pool, except for an SQLite file: see `super::open_readers`).
//!
//! Layout: [`reads`] turns rows back into orders and holds the read queries.

mod placements;
mod reads;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::entities::orders;
use super::{OutboxSignal, SqlTx, enqueue, store_err, to_naive};
use domain::{CustomerId, MessageId, Order, OrderId, OrderStatus};
use placements::Placements;
use ports::ordering::{HistoryEntry, NewOrder, OrderFilter, OrderStore, OrderTx};
use ports::{Clock, OutboxMessage, Page, PageRequest, StoreError, SystemClock};
use reads::{address_json, read_history};

/// Orders in a MySQL-compatible database.
#[derive(Debug, Clone)]
pub struct SqlOrderStore {
    db: DatabaseConnection,
    /// Where reads outside a transaction go: `db` itself unless [`Self::with_readers`].
    readers: DatabaseConnection,
    signal: OutboxSignal,
    clock: Arc<dyn Clock>,
    /// The group commit of new orders.
    placements: Arc<Placements>,
}

impl SqlOrderStore {
    /// Orders in `db`; commits that enqueue messages wake `signal`.
    pub fn new(db: DatabaseConnection, signal: OutboxSignal) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            readers: db.clone(),
            placements: Arc::new(Placements::new(db.clone(), signal.clone(), clock.clone())),
            db,
            signal,
            clock,
        }
    }

    /// Sends the reads that need no transaction (point reads, lists, history, the sweeper's
    /// scan) to `readers`, which must see every commit of `db` once it returned (read-only
    /// connections to the same SQLite file in WAL mode do).
    pub fn with_readers(mut self, readers: DatabaseConnection) -> Self {
        self.readers = readers;
        self
    }

    /// Stamps what the store writes with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.placements = Arc::new(Placements::new(
            self.db.clone(),
            self.signal.clone(),
            clock.clone(),
        ));
        self.clock = clock;
        self
    }

    /// The connection pool (for health checks).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

#[async_trait]
impl OrderTx for SqlTx {
    async fn record_inbox(
        &mut self,
        consumer: &str,
        message_id: MessageId,
    ) -> Result<bool, StoreError> {
        SqlTx::record_inbox(self, consumer, message_id).await
    }

    async fn record_inbox_all(
        &mut self,
        consumer: &str,
        message_ids: &[MessageId],
    ) -> Result<Vec<bool>, StoreError> {
        SqlTx::record_inbox_all(self, consumer, message_ids).await
    }

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        placements::insert_orders(&self.tx, &[order]).await
    }

    async fn load_for_update<'a>(
        &mut self,
        id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Option<Order>, StoreError> {
        reads::find_order(&self.tx, id, owner, true).await
    }

    async fn load_all_for_update(&mut self, ids: &[OrderId]) -> Result<Vec<Order>, StoreError> {
        reads::find_orders_for_update(&self.tx, ids).await
    }

    async fn update(&mut self, order: &Order, expected_version: u32) -> Result<bool, StoreError> {
        let result = orders::Entity::update_many()
            .col_expr(orders::Column::Status, Expr::value(order.status().as_str()))
            .col_expr(
                orders::Column::RejectionReason,
                Expr::value(order.rejection_reason().map(|r| r.as_str())),
            )
            .col_expr(
                orders::Column::ShippingAddress,
                Expr::value(order.details().shipping_address.as_ref().map(address_json)),
            )
            .col_expr(
                orders::Column::Note,
                Expr::value(order.details().note.as_ref().map(|n| n.as_str().to_owned())),
            )
            .col_expr(
                orders::Column::Carrier,
                Expr::value(order.shipment().map(|s| s.carrier().to_owned())),
            )
            .col_expr(
                orders::Column::TrackingNumber,
                Expr::value(order.shipment().map(|s| s.tracking_number().to_owned())),
            )
            .col_expr(
                orders::Column::Version,
                Expr::value(i64::from(order.version())),
            )
            .col_expr(
                orders::Column::UpdatedAt,
                Expr::value(to_naive(order.updated_at())),
            )
            .filter(orders::Column::Id.eq(order.id().as_uuid()))
            .filter(orders::Column::Version.eq(i64::from(expected_version)))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to update the order"))?;
        Ok(result.rows_affected == 1)
    }

    async fn history(&mut self, order_id: OrderId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.flush().await?;
        read_history(&self.tx, order_id, None).await
    }

    async fn reemit(
        &mut self,
        order_id: OrderId,
        message: &OutboxMessage,
    ) -> Result<(), StoreError> {
        use super::entities::outbox;
        self.flush().await?;
        orders::Entity::update_many()
            .col_expr(
                orders::Column::Reemits,
                Expr::col(orders::Column::Reemits).add(1),
            )
            .filter(orders::Column::Id.eq(order_id.as_uuid()))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to count the re-emission"))?;
        let republished = outbox::Entity::update_many()
            .col_expr(
                outbox::Column::PublishedAt,
                Expr::value(Option::<chrono::NaiveDateTime>::None),
            )
            .filter(outbox::Column::Id.eq(message.id.as_uuid()))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to republish the outbox row"))?;
        if republished.rows_affected == 0 {
            enqueue(&self.tx, message).await?;
        }
        self.mark_enqueued();
        Ok(())
    }

    async fn append_history(&mut self, entry: &HistoryEntry) -> Result<(), StoreError> {
        SqlTx::append_history(self, placements::history_row(entry));
        Ok(())
    }

    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError> {
        SqlTx::enqueue(self, message);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        SqlTx::commit(*self).await
    }
}

#[async_trait]
impl OrderStore for SqlOrderStore {
    async fn begin(&self) -> Result<Box<dyn OrderTx>, StoreError> {
        Ok(Box::new(
            SqlTx::begin(&self.db, &self.signal, &self.clock).await?,
        ))
    }

    async fn insert_new(&self, order: NewOrder) -> Result<(), StoreError> {
        self.placements.insert(order).await
    }

    async fn find<'a>(
        &self,
        id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Option<Order>, StoreError> {
        reads::find_order(&self.readers, id, owner, false).await
    }

    async fn list(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        reads::list_orders(&self.readers, filter, page).await
    }

    async fn history<'a>(
        &self,
        order_id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        read_history(&self.readers, order_id, owner).await
    }

    async fn stuck_pending(
        &self,
        placed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(OrderId, u32)>, StoreError> {
        let rows: Vec<(Uuid, i32)> = orders::Entity::find()
            .select_only()
            .column(orders::Column::Id)
            .column(orders::Column::Reemits)
            .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
            .filter(orders::Column::CreatedAt.lt(to_naive(placed_before)))
            .order_by_asc(orders::Column::Id)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.readers)
            .await
            .map_err(|e| store_err(e, "failed to find stuck orders"))?;
        Ok(rows
            .into_iter()
            .map(|(id, n)| (OrderId::from_uuid(id), u32::try_from(n).unwrap_or(0)))
            .collect())
    }

    async fn count_pending_before(&self, placed_before: DateTime<Utc>) -> Result<u64, StoreError> {
        orders::Entity::find()
            .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
            .filter(orders::Column::CreatedAt.lt(to_naive(placed_before)))
            .count(&self.readers)
            .await
            .map_err(|e| store_err(e, "failed to count pending orders"))
    }
}
