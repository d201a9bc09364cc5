//! The order store.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use uuid::Uuid;

use super::entities::{order_items, order_status_history, orders};
use super::{OutboxSignal, SqlTx, corrupt, enqueue, store_err, to_naive, to_utc};
use domain::{
    Currency, CustomerId, MessageId, Money, NewOrderItem, Order, OrderDetails, OrderId, OrderNote,
    OrderSnapshot, OrderStatus, ProductId, Quantity, RejectionReason, Shipment, ShippingAddress,
    ShippingAddressFields,
};
use ports::ordering::{HistoryEntry, OrderFilter, OrderStore, OrderTx};
use ports::{Clock, OutboxMessage, Page, PageRequest, StoreError, SystemClock};

/// Orders in a MySQL-compatible database.
#[derive(Debug, Clone)]
pub struct SqlOrderStore {
    db: DatabaseConnection,
    signal: OutboxSignal,
    clock: Arc<dyn Clock>,
}

impl SqlOrderStore {
    /// Orders in `db`; commits that enqueue messages wake `signal`.
    pub fn new(db: DatabaseConnection, signal: OutboxSignal) -> Self {
        Self {
            db,
            signal,
            clock: Arc::new(SystemClock),
        }
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

/// The stored JSON of a shipping address.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAddress {
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    country: String,
}

impl From<StoredAddress> for ShippingAddressFields {
    fn from(a: StoredAddress) -> Self {
        Self {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

fn address_json(address: &ShippingAddress) -> String {
    let f = address.fields();
    serde_json::to_string(&StoredAddress {
        name: f.name,
        line1: f.line1,
        line2: f.line2,
        city: f.city,
        region: f.region,
        postal_code: f.postal_code,
        country: f.country,
    })
    .unwrap_or_default()
}

fn history_entry(row: order_status_history::Model) -> Result<HistoryEntry, StoreError> {
    let status = |s: &str| OrderStatus::parse(s).ok_or_else(|| corrupt(s));
    Ok(HistoryEntry {
        order_id: OrderId::from_uuid(row.order_id),
        seq: u32::try_from(row.seq).map_err(corrupt)?,
        from: row.from_status.as_deref().map(status).transpose()?,
        to: status(&row.to_status)?,
        reason: row.reason,
        cause: row.cause,
        at: to_utc(row.at),
    })
}

async fn read_history<C: ConnectionTrait>(
    conn: &C,
    order_id: OrderId,
) -> Result<Vec<HistoryEntry>, StoreError> {
    order_status_history::Entity::find()
        .filter(order_status_history::Column::OrderId.eq(order_id.as_uuid()))
        .order_by_asc(order_status_history::Column::Seq)
        .all(conn)
        .await
        .map_err(|e| store_err(e, "failed to read the order history"))?
        .into_iter()
        .map(history_entry)
        .collect()
}

fn restore(row: orders::Model, items: Vec<order_items::Model>) -> Result<Order, StoreError> {
    let currency = Currency::parse(&row.currency).map_err(corrupt)?;
    let items = items
        .into_iter()
        .map(|i| {
            Ok(NewOrderItem {
                product_id: ProductId::from_uuid(i.product_id),
                product_name: i.product_name,
                unit_price: Money::from_minor(i.unit_price_minor, currency).map_err(corrupt)?,
                quantity: Quantity::new(i64::from(i.quantity)).map_err(corrupt)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let status = OrderStatus::parse(&row.status).ok_or_else(|| corrupt(&row.status))?;
    let rejection_reason = match &row.rejection_reason {
        Some(r) => Some(RejectionReason::parse(r).ok_or_else(|| corrupt(r))?),
        None => None,
    };
    let customer_id = match &row.customer_id {
        Some(c) => Some(CustomerId::parse(c).map_err(corrupt)?),
        None => None,
    };
    let shipping_address = match &row.shipping_address {
        Some(json) => {
            let fields: StoredAddress = serde_json::from_str(json).map_err(corrupt)?;
            Some(ShippingAddress::parse(fields.into()).map_err(|e| corrupt(format!("{e:?}")))?)
        }
        None => None,
    };
    let note = match &row.note {
        Some(n) => Some(OrderNote::parse(n).map_err(corrupt)?),
        None => None,
    };
    let shipment = match (&row.carrier, &row.tracking_number) {
        (Some(c), Some(t)) => Some(Shipment::parse(c, t).map_err(|e| corrupt(format!("{e:?}")))?),
        _ => None,
    };
    Order::restore(OrderSnapshot {
        id: OrderId::from_uuid(row.id),
        customer_id,
        items,
        currency,
        total_minor: row.total_minor,
        status,
        rejection_reason,
        details: OrderDetails {
            shipping_address,
            note,
        },
        shipment,
        version: u32::try_from(row.version).map_err(corrupt)?,
        created_at: to_utc(row.created_at),
        updated_at: to_utc(row.updated_at),
    })
    .map_err(corrupt)
}

/// Loads the items of several orders in one query (no N+1) and rebuilds the orders.
async fn with_items<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<orders::Model>,
) -> Result<Vec<Order>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut items: HashMap<Uuid, Vec<order_items::Model>> = HashMap::new();
    for item in order_items::Entity::find()
        .filter(order_items::Column::OrderId.is_in(ids))
        .order_by_asc(order_items::Column::OrderId)
        .order_by_asc(order_items::Column::Position)
        .all(conn)
        .await
        .map_err(|e| store_err(e, "failed to read order items"))?
    {
        items.entry(item.order_id).or_default().push(item);
    }
    rows.into_iter()
        .map(|row| {
            let own = items.remove(&row.id).unwrap_or_default();
            restore(row, own)
        })
        .collect()
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
        let Some(row) = orders::Entity::find_by_id(id.as_uuid())
            .lock_exclusive()
            .one(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to lock the order"))?
        else {
            return Ok(None);
        };
        Ok(with_items(&self.tx, vec![row]).await?.pop())
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
        let Some(row) = orders::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to read the order"))?
        else {
            return Ok(None);
        };
        Ok(with_items(&self.db, vec![row]).await?.pop())
    }

    async fn list(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let mut condition = Condition::all();
        if let Some(status) = filter.status {
            condition = condition.add(orders::Column::Status.eq(status.as_str()));
        }
        if let Some(customer) = &filter.customer_id {
            condition = condition.add(orders::Column::CustomerId.eq(customer.as_str()));
        }
        if let Some(product) = filter.product_id {
            condition = condition.add(
                orders::Column::Id.in_subquery(
                    Query::select()
                        .column(order_items::Column::OrderId)
                        .from(order_items::Entity)
                        .and_where(order_items::Column::ProductId.eq(product.as_uuid()))
                        .to_owned(),
                ),
            );
        }
        if let Some(after) = page.after() {
            condition = condition.add(orders::Column::Id.lt(after));
        }
        let rows = orders::Entity::find()
            .filter(condition)
            .order_by_desc(orders::Column::Id)
            .limit(u64::from(page.limit()) + 1)
            .all(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to list orders"))?;
        let orders = with_items(&self.db, rows).await?;
        Ok(Page::from_rows(orders, page.limit(), |o| o.id().as_uuid()))
    }

    async fn history(&self, order_id: OrderId) -> Result<Vec<HistoryEntry>, StoreError> {
        read_history(&self.db, order_id).await
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
            .all(&self.db)
            .await
            .map_err(|e| store_err(e, "failed to find stuck orders"))?;
        Ok(rows
            .into_iter()
            .map(|(id, n)| (OrderId::from_uuid(id), u32::try_from(n).unwrap_or(0)))
            .collect())
    }
}
