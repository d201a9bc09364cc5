//! The product store: products, stock, reservations, stock adjustments and cancel tombstones.
//! Reads are here; the transaction the inventory use cases write through is in [`tx`].

mod tx;

use std::sync::Arc;

use async_trait::async_trait;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::entities::{products, stock_adjustments, stock_reservations};
use super::{OutboxSignal, SqlTx, corrupt, store_err, to_utc};
use domain::product::{AdjustmentReason, StockDelta};
use domain::{Currency, Money, Product, ProductId, ProductName, Quantity, Stock};
use ports::inventory::{
    InventoryTx, ProductStore, Reservation, ReservationStatus, StockAdjustment,
};
use ports::{Clock, Page, PageRequest, StoreError, SystemClock};

/// Products and stock in a MySQL-compatible database.
#[derive(Debug, Clone)]
pub struct SqlProductStore {
    db: DatabaseConnection,
    /// Where reads outside a transaction go: `db` itself unless [`Self::with_readers`].
    readers: DatabaseConnection,
    signal: OutboxSignal,
    clock: Arc<dyn Clock>,
}

impl SqlProductStore {
    /// Products in `db`; commits that enqueue messages wake `signal`.
    pub fn new(db: DatabaseConnection, signal: OutboxSignal) -> Self {
        Self {
            readers: db.clone(),
            db,
            signal,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sends the reads that need no transaction to `readers`, which must see every commit of
    /// `db` once it returned (read-only connections to the same SQLite file in WAL mode do).
    /// Stock decisions never use them: they read inside the transaction.
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

pub(super) fn restore(row: products::Model) -> Result<Product, StoreError> {
    let currency = Currency::parse(&row.currency).map_err(corrupt)?;
    Product::restore(
        ProductId::from_uuid(row.id),
        ProductName::parse(&row.name).map_err(corrupt)?,
        Money::from_minor(row.price_minor, currency).map_err(corrupt)?,
        Stock::new(row.stock).map_err(corrupt)?,
        u32::try_from(row.version).map_err(corrupt)?,
        to_utc(row.created_at),
        to_utc(row.updated_at),
    )
    .map_err(corrupt)
}

pub(super) fn restore_adjustment(
    row: stock_adjustments::Model,
) -> Result<StockAdjustment, StoreError> {
    Ok(StockAdjustment {
        id: row.id,
        product_id: ProductId::from_uuid(row.product_id),
        delta: StockDelta::new(row.delta).map_err(corrupt)?,
        reason: AdjustmentReason::parse(&row.reason).map_err(corrupt)?,
        stock_after: Stock::new(row.stock_after).map_err(corrupt)?,
        cause: row.cause,
        created_at: to_utc(row.created_at),
    })
}

pub(super) fn restore_reservation(
    row: stock_reservations::Model,
) -> Result<Reservation, StoreError> {
    Ok(Reservation {
        product_id: ProductId::from_uuid(row.product_id),
        quantity: Quantity::new(i64::from(row.quantity)).map_err(corrupt)?,
        status: ReservationStatus::parse(&row.status)
            .ok_or_else(|| corrupt(format!("reservation status `{}`", row.status)))?,
    })
}

#[async_trait]
impl ProductStore for SqlProductStore {
    async fn begin(&self) -> Result<Box<dyn InventoryTx>, StoreError> {
        Ok(Box::new(
            SqlTx::begin(&self.db, &self.signal, &self.clock).await?,
        ))
    }

    async fn find(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        products::Entity::find_by_id(id.as_uuid())
            .one(&self.readers)
            .await
            .map_err(|e| store_err(e, "failed to read the product"))?
            .map(restore)
            .transpose()
    }

    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        products::Entity::find()
            .filter(products::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .order_by_asc(products::Column::Id)
            .all(&self.readers)
            .await
            .map_err(|e| store_err(e, "failed to read products"))?
            .into_iter()
            .map(restore)
            .collect()
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Product>, StoreError> {
        let mut query = products::Entity::find();
        if let Some(after) = page.after() {
            query = query.filter(products::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(products::Column::Id)
            .limit(u64::from(page.limit()) + 1)
            .all(&self.readers)
            .await
            .map_err(|e| store_err(e, "failed to list products"))?;
        let products = rows
            .into_iter()
            .map(restore)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(products, page.limit(), |p| {
            p.id().as_uuid()
        }))
    }

    async fn adjustments(
        &self,
        product_id: ProductId,
        page: PageRequest,
    ) -> Result<Page<StockAdjustment>, StoreError> {
        let mut query = stock_adjustments::Entity::find()
            .filter(stock_adjustments::Column::ProductId.eq(product_id.as_uuid()));
        if let Some(after) = page.after() {
            query = query.filter(stock_adjustments::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(stock_adjustments::Column::Id)
            .limit(u64::from(page.limit()) + 1)
            .all(&self.readers)
            .await
            .map_err(|e| store_err(e, "failed to list stock adjustments"))?;
        let adjustments = rows
            .into_iter()
            .map(restore_adjustment)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(adjustments, page.limit(), |a| a.id))
    }

    async fn adjustment(
        &self,
        product_id: ProductId,
        id: Uuid,
    ) -> Result<Option<StockAdjustment>, StoreError> {
        stock_adjustments::Entity::find_by_id(id)
            .filter(stock_adjustments::Column::ProductId.eq(product_id.as_uuid()))
            .one(&self.readers)
            .await
            .map_err(|e| store_err(e, "failed to read the stock adjustment"))?
            .map(restore_adjustment)
            .transpose()
    }
}
