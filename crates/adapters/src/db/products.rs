//! The product store: products, stock and reservations.

use std::collections::HashMap;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::entities::{products, stock_reservations};
use super::{OutboxSignal, corrupt, enqueue, record_inbox, store_err, to_naive, to_utc};
use domain::{
    Currency, MessageId, Money, OrderId, Product, ProductId, ProductName, Quantity, Stock,
};
use ports::inventory::{InventoryTx, ProductStore};
use ports::{OutboxMessage, Page, PageRequest, StoreError};

/// Products and stock in a MySQL-compatible database.
#[derive(Debug, Clone)]
pub struct SqlProductStore {
    db: DatabaseConnection,
    signal: OutboxSignal,
}

impl SqlProductStore {
    /// Products in `db`; commits that enqueue messages wake `signal`.
    pub fn new(db: DatabaseConnection, signal: OutboxSignal) -> Self {
        Self { db, signal }
    }

    /// The connection pool (for health checks).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

fn restore(row: products::Model) -> Result<Product, StoreError> {
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

struct SqlInventoryTx {
    tx: DatabaseTransaction,
    signal: OutboxSignal,
    enqueued: bool,
}

#[async_trait]
impl InventoryTx for SqlInventoryTx {
    async fn record_inbox(
        &mut self,
        consumer: &str,
        message_id: MessageId,
    ) -> Result<bool, StoreError> {
        record_inbox(&self.tx, consumer, message_id).await
    }

    async fn insert_product(&mut self, product: &Product) -> Result<(), StoreError> {
        let row = products::ActiveModel {
            id: Set(product.id().as_uuid()),
            name: Set(product.name().as_str().to_owned()),
            price_minor: Set(product.price().minor()),
            currency: Set(product.price().currency().code().to_owned()),
            stock: Set(i64::from(product.stock().get())),
            version: Set(i64::from(product.version())),
            created_at: Set(to_naive(product.created_at())),
            updated_at: Set(to_naive(product.updated_at())),
        };
        products::Entity::insert(row)
            .exec_without_returning(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to insert the product"))?;
        Ok(())
    }

    async fn lock_stock(
        &mut self,
        ids: &[ProductId],
    ) -> Result<HashMap<ProductId, Stock>, StoreError> {
        let mut sorted: Vec<_> = ids.iter().map(|id| id.as_uuid()).collect();
        sorted.sort();
        // InnoDB takes the row locks in scan order: ascending primary key.
        let rows: Vec<(uuid::Uuid, i64)> = products::Entity::find()
            .select_only()
            .column(products::Column::Id)
            .column(products::Column::Stock)
            .filter(products::Column::Id.is_in(sorted))
            .order_by_asc(products::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to lock the products"))?;
        rows.into_iter()
            .map(|(id, stock)| {
                Ok((
                    ProductId::from_uuid(id),
                    Stock::new(stock).map_err(corrupt)?,
                ))
            })
            .collect()
    }

    async fn decrement_stock(
        &mut self,
        id: ProductId,
        quantity: Quantity,
    ) -> Result<bool, StoreError> {
        let q = i64::from(quantity.get());
        let result = products::Entity::update_many()
            .col_expr(
                products::Column::Stock,
                Expr::col(products::Column::Stock).sub(q),
            )
            .col_expr(
                products::Column::Version,
                Expr::col(products::Column::Version).add(1),
            )
            .col_expr(
                products::Column::UpdatedAt,
                Expr::value(to_naive(ports::now())),
            )
            .filter(products::Column::Id.eq(id.as_uuid()))
            .filter(products::Column::Stock.gte(q))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to decrement the stock"))?;
        Ok(result.rows_affected == 1)
    }

    async fn insert_reservation(
        &mut self,
        order_id: OrderId,
        product_id: ProductId,
        quantity: Quantity,
    ) -> Result<(), StoreError> {
        let row = stock_reservations::ActiveModel {
            order_id: Set(order_id.as_uuid()),
            product_id: Set(product_id.as_uuid()),
            quantity: Set(quantity.get() as i32),
            status: Set("active".to_owned()),
            created_at: Set(to_naive(ports::now())),
        };
        stock_reservations::Entity::insert(row)
            .exec_without_returning(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to record the reservation"))?;
        Ok(())
    }

    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError> {
        enqueue(&self.tx, message).await?;
        self.enqueued = true;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx
            .commit()
            .await
            .map_err(|e| store_err(e, "failed to commit"))?;
        if self.enqueued {
            self.signal.notify();
        }
        Ok(())
    }
}

#[async_trait]
impl ProductStore for SqlProductStore {
    async fn begin(&self) -> Result<Box<dyn InventoryTx>, StoreError> {
        let tx = self
            .db
            .begin()
            .await
            .map_err(|e| store_err(e, "failed to begin a transaction"))?;
        Ok(Box::new(SqlInventoryTx {
            tx,
            signal: self.signal.clone(),
            enqueued: false,
        }))
    }

    async fn find(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        products::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
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
            .all(&self.db)
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
            .all(&self.db)
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
}
