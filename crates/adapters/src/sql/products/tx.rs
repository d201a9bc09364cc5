//! The inventory's transaction on SQL: conditional stock updates, reservations in ascending
//! product order, adjustments, releases and tombstones.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use uuid::Uuid;

use super::{restore, restore_reservation};
use crate::sql::entities::{order_tombstones, products, stock_adjustments, stock_reservations};
use crate::sql::{SqlTx, corrupt, store_err, to_naive};
use domain::product::StockDelta;
use domain::{MAX_STOCK, MessageId, OrderId, Product, ProductId, ReservationLine, Stock};
use ports::inventory::{InventoryTx, Reservation, ReservationStatus, StockAdjustment};
use ports::{OutboxMessage, StoreError};

#[async_trait]
impl InventoryTx for SqlTx {
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

    async fn decrement_stock(&mut self, id: ProductId, units: u32) -> Result<bool, StoreError> {
        let result = take_units(Expr::value(i64::from(units)), self.clock.now())
            .filter(products::Column::Id.eq(id.as_uuid()))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to decrement the stock"))?;
        Ok(result.rows_affected == 1)
    }

    async fn decrement_stock_all(
        &mut self,
        units: &[(ProductId, u32)],
    ) -> Result<usize, StoreError> {
        let [first, rest @ ..] = units else {
            return Ok(0);
        };
        if rest.is_empty() {
            return Ok(usize::from(self.decrement_stock(first.0, first.1).await?));
        }
        // One statement: each row's units picked by its id.
        let (id, n) = *first;
        let case = rest.iter().fold(
            Expr::case(products::Column::Id.eq(id.as_uuid()), i64::from(n)),
            |case, &(id, n)| case.case(products::Column::Id.eq(id.as_uuid()), i64::from(n)),
        );
        let result = take_units(case.into(), self.clock.now())
            .filter(products::Column::Id.is_in(units.iter().map(|(id, _)| id.as_uuid())))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to decrement the stock"))?;
        usize::try_from(result.rows_affected).map_err(corrupt)
    }

    async fn insert_reservations(
        &mut self,
        reservations: &[(OrderId, ReservationLine)],
    ) -> Result<(), StoreError> {
        if reservations.is_empty() {
            return Ok(());
        }
        let at = to_naive(self.clock.now());
        let rows = reservations
            .iter()
            .map(|(order_id, line)| stock_reservations::ActiveModel {
                order_id: Set(order_id.as_uuid()),
                product_id: Set(line.product_id.as_uuid()),
                quantity: Set(line.quantity.get() as i32),
                status: Set("active".to_owned()),
                created_at: Set(at),
            });
        stock_reservations::Entity::insert_many(rows)
            .exec_without_returning(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to record the reservations"))?;
        Ok(())
    }

    async fn lock_product(&mut self, id: ProductId) -> Result<Option<Product>, StoreError> {
        products::Entity::find_by_id(id.as_uuid())
            .lock_exclusive()
            .one(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to lock the product"))?
            .map(restore)
            .transpose()
    }

    async fn update_product(
        &mut self,
        product: &Product,
        expected_version: u32,
    ) -> Result<bool, StoreError> {
        let result = products::Entity::update_many()
            .col_expr(
                products::Column::Name,
                Expr::value(product.name().as_str().to_owned()),
            )
            .col_expr(
                products::Column::PriceMinor,
                Expr::value(product.price().minor()),
            )
            .col_expr(
                products::Column::Currency,
                Expr::value(product.price().currency().code().to_owned()),
            )
            .col_expr(
                products::Column::Version,
                Expr::value(i64::from(product.version())),
            )
            .col_expr(
                products::Column::UpdatedAt,
                Expr::value(to_naive(product.updated_at())),
            )
            .filter(products::Column::Id.eq(product.id().as_uuid()))
            .filter(products::Column::Version.eq(i64::from(expected_version)))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to update the product"))?;
        Ok(result.rows_affected == 1)
    }

    async fn adjust_stock(
        &mut self,
        id: ProductId,
        delta: StockDelta,
        at: DateTime<Utc>,
    ) -> Result<Option<Stock>, StoreError> {
        let d = delta.get();
        let result = products::Entity::update_many()
            .col_expr(
                products::Column::Stock,
                Expr::col(products::Column::Stock).add(d),
            )
            .col_expr(
                products::Column::Version,
                Expr::col(products::Column::Version).add(1),
            )
            .col_expr(products::Column::UpdatedAt, Expr::value(to_naive(at)))
            .filter(products::Column::Id.eq(id.as_uuid()))
            .filter(Expr::col(products::Column::Stock).add(d).gte(0))
            .filter(
                Expr::col(products::Column::Stock)
                    .add(d)
                    .lte(i64::from(MAX_STOCK)),
            )
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to adjust the stock"))?;
        if result.rows_affected != 1 {
            return Ok(None);
        }
        let stock: Option<i64> = products::Entity::find_by_id(id.as_uuid())
            .select_only()
            .column(products::Column::Stock)
            .into_tuple()
            .one(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to read the adjusted stock"))?;
        stock.map(|s| Stock::new(s).map_err(corrupt)).transpose()
    }

    async fn insert_adjustment(&mut self, adjustment: &StockAdjustment) -> Result<(), StoreError> {
        let row = stock_adjustments::ActiveModel {
            id: Set(adjustment.id),
            product_id: Set(adjustment.product_id.as_uuid()),
            delta: Set(adjustment.delta.get()),
            reason: Set(adjustment.reason.as_str().to_owned()),
            stock_after: Set(i64::from(adjustment.stock_after.get())),
            cause: Set(adjustment.cause.clone()),
            created_at: Set(to_naive(adjustment.created_at)),
        };
        stock_adjustments::Entity::insert(row)
            .exec_without_returning(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to record the stock adjustment"))?;
        Ok(())
    }

    async fn reservations_of(&mut self, order_id: OrderId) -> Result<Vec<Reservation>, StoreError> {
        // A locking read of the order's key range: InnoDB (repeatable read) also locks the gap,
        // so a reservation for this order cannot be inserted until this transaction ends.
        stock_reservations::Entity::find()
            .filter(stock_reservations::Column::OrderId.eq(order_id.as_uuid()))
            .order_by_asc(stock_reservations::Column::ProductId)
            .lock_exclusive()
            .all(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to read the reservations"))?
            .into_iter()
            .map(restore_reservation)
            .collect()
    }

    async fn release_reservations(
        &mut self,
        order_id: OrderId,
    ) -> Result<Vec<ReservationLine>, StoreError> {
        let active: Vec<Reservation> = self
            .reservations_of(order_id)
            .await?
            .into_iter()
            .filter(|r| r.status == ReservationStatus::Active)
            .collect();
        let now = to_naive(self.clock.now());
        let mut released = Vec::with_capacity(active.len());
        // Ascending product id (the order `reservations_of` answers in).
        for reservation in active {
            let flipped = stock_reservations::Entity::update_many()
                .col_expr(
                    stock_reservations::Column::Status,
                    Expr::value(ReservationStatus::Released.as_str()),
                )
                .filter(stock_reservations::Column::OrderId.eq(order_id.as_uuid()))
                .filter(stock_reservations::Column::ProductId.eq(reservation.product_id.as_uuid()))
                .filter(stock_reservations::Column::Status.eq(ReservationStatus::Active.as_str()))
                .exec(&self.tx)
                .await
                .map_err(|e| store_err(e, "failed to release the reservation"))?;
            if flipped.rows_affected != 1 {
                continue;
            }
            let q = i64::from(reservation.quantity.get());
            let restored = products::Entity::update_many()
                .col_expr(
                    products::Column::Stock,
                    Expr::col(products::Column::Stock).add(q),
                )
                .col_expr(
                    products::Column::Version,
                    Expr::col(products::Column::Version).add(1),
                )
                .col_expr(products::Column::UpdatedAt, Expr::value(now))
                .filter(products::Column::Id.eq(reservation.product_id.as_uuid()))
                .exec(&self.tx)
                .await
                .map_err(|e| store_err(e, "failed to restore the stock"))?;
            if restored.rows_affected != 1 {
                return Err(StoreError::Unknown(anyhow::anyhow!(
                    "reserved product {} is missing",
                    reservation.product_id
                )));
            }
            released.push(ReservationLine {
                product_id: reservation.product_id,
                quantity: reservation.quantity,
            });
        }
        Ok(released)
    }

    async fn consume_reservations(&mut self, order_id: OrderId) -> Result<u64, StoreError> {
        let result = stock_reservations::Entity::update_many()
            .col_expr(
                stock_reservations::Column::Status,
                Expr::value(ReservationStatus::Consumed.as_str()),
            )
            .filter(stock_reservations::Column::OrderId.eq(order_id.as_uuid()))
            .filter(stock_reservations::Column::Status.eq(ReservationStatus::Active.as_str()))
            .exec(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to consume the reservations"))?;
        Ok(result.rows_affected)
    }

    async fn insert_tombstone(
        &mut self,
        order_id: OrderId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = order_tombstones::ActiveModel {
            order_id: Set(order_id.as_uuid()),
            cancelled_at: Set(to_naive(at)),
        };
        match order_tombstones::Entity::insert(row)
            .exec_without_returning(&self.tx)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(e) => Err(store_err(e, "failed to record the tombstone")),
        }
    }

    async fn tombstoned(&mut self, order_ids: &[OrderId]) -> Result<HashSet<OrderId>, StoreError> {
        if order_ids.is_empty() {
            return Ok(HashSet::new());
        }
        // Locking, so that InnoDB also locks the gap of each missing key: a concurrent
        // tombstone insert for one of these orders waits until this transaction ends.
        let ids: Vec<Uuid> = order_ids.iter().map(|id| id.as_uuid()).collect();
        let found: Vec<Uuid> = order_tombstones::Entity::find()
            .select_only()
            .column(order_tombstones::Column::OrderId)
            .filter(order_tombstones::Column::OrderId.is_in(ids))
            .lock_exclusive()
            .into_tuple()
            .all(&self.tx)
            .await
            .map_err(|e| store_err(e, "failed to read the tombstones"))?;
        Ok(found.into_iter().map(OrderId::from_uuid).collect())
    }

    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError> {
        SqlTx::enqueue(self, message);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        SqlTx::commit(*self).await
    }
}

/// `UPDATE products SET stock = stock - units, version = version + 1, updated_at = at WHERE
/// stock >= units`: the caller picks the rows. A row without that many units is left alone.
fn take_units(units: Expr, at: DateTime<Utc>) -> sea_orm::UpdateMany<products::Entity> {
    products::Entity::update_many()
        .col_expr(
            products::Column::Stock,
            Expr::col(products::Column::Stock).sub(units.clone()),
        )
        .col_expr(
            products::Column::Version,
            Expr::col(products::Column::Version).add(1),
        )
        .col_expr(products::Column::UpdatedAt, Expr::value(to_naive(at)))
        .filter(Expr::col(products::Column::Stock).gte(units))
}
