//! The order store and its transaction. Reads that need no transaction go to the reader
//! pool (the writer's own pool, except for an SQLite file: see `super::open_readers`).
//!
//! Layout: [`reads`] turns rows back into orders and holds the read queries.

mod reads;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};
use uuid::Uuid;

use super::entities::{order_items, order_status_history, orders};
use super::{OutboxSignal, SqlTx, enqueue, store_err, to_naive};
use domain::{MessageId, Order, OrderId, OrderStatus};
use ports::ordering::{HistoryEntry, OrderFilter, OrderStore, OrderTx};
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
}

impl SqlOrderStore {
    /// Orders in `db`; commits that enqueue messages wake `signal`.
    pub fn new(db: DatabaseConnection, signal: OutboxSignal) -> Self {
        Self {
            readers: db.clone(),
            db,
            signal,
            clock: Arc::new(SystemClock),
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

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        let row = orders::ActiveModel {
            id: Set(order.id().as_uuid()),
            customer_id: Set(order.customer_id().map(|c| c.as_str().to_owned())),
            status: Set(order.status().as_str().to_owned()),
            rejection_reason: Set(order.rejection_reason().map(|r| r.as_str().to_owned())),
            currency: Set(order.currency().code().to_owned()),
            total_minor: Set(order.total().minor()),
            version: Set(i64::from(order.version())),
            created_at: Set(to_naive(order.created_at())),
            updated_at: Set(to_naive(order.updated_at())),
            shipping_address: Set(order.details().shipping_address.as_ref().map(address_json)),
            note: Set(order.details().note.as_ref().map(|n| n.as_str().to_owned())),
            carrier: Set(order.shipment().map(|s| s.carrier().to_owned())),
            tracking_number: Set(order.shipment().map(|s| s.tracking_number().to_owned())),
            reemits: Set(0),
        };
        orders::Entity::insert(row)
            .exec_without_returning(&self.tx)
            .await
            .map_err(|e| match e.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate,
                _ => store_err(e, "failed to insert the order"),
            })?;
        let items =
            order
                .items()
                .iter()
                .enumerate()
                .map(|(position, item)| order_items::ActiveModel {
                    order_id: Set(order.id().as_uuid()),
                    product_id: Set(item.product_id().as_uuid()),
                    position: Set(position as i32),
                    product_name: Set(item.product_name().to_owned()),
                    unit_price_minor: Set(item.unit_price().minor()),
                    quantity: Set(item.quantity().get() as i32),
                    line_total_minor: Set(item.line_total().minor()),
                });
        order_items::Entity::insert_many(items)
            .exec_without_returning(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to insert the order items"))?;
        Ok(())
    }

    async fn load_for_update(&mut self, id: OrderId) -> Result<Option<Order>, StoreError> {
        reads::find_order(&self.tx, id, true).await
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
        read_history(&self.tx, order_id).await
    }

    async fn reemit(
        &mut self,
        order_id: OrderId,
        message: &OutboxMessage,
    ) -> Result<(), StoreError> {
        use super::entities::outbox;
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
        let row = order_status_history::ActiveModel {
            order_id: Set(entry.order_id.as_uuid()),
            seq: Set(entry.seq as i32),
            from_status: Set(entry.from.map(|s| s.as_str().to_owned())),
            to_status: Set(entry.to.as_str().to_owned()),
            reason: Set(entry.reason.clone()),
            cause: Set(entry.cause.clone()),
            at: Set(to_naive(entry.at)),
        };
        order_status_history::Entity::insert(row)
            .exec_without_returning(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to append to the order history"))?;
        Ok(())
    }

    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError> {
        SqlTx::enqueue(self, message).await
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

    async fn find(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        reads::find_order(&self.readers, id, false).await
    }

    async fn list(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        reads::list_orders(&self.readers, filter, page).await
    }

    async fn history(&self, order_id: OrderId) -> Result<Vec<HistoryEntry>, StoreError> {
        read_history(&self.readers, order_id).await
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
}
