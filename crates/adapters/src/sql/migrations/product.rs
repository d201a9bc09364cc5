//! The product database's own migrations and its migrator.

use sea_orm_migration::prelude::*;

use super::shared::{M0001Messaging, M0003Idempotency, M0006OutboxTrace};
use super::ts;

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    PriceMinor,
    Currency,
    Stock,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StockReservations {
    Table,
    OrderId,
    ProductId,
    Quantity,
    Status,
    CreatedAt,
}

/// Products and stock reservations.
#[derive(Debug)]
pub struct M0002Products;

impl MigrationName for M0002Products {
    fn name(&self) -> &str {
        "m0002_products"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Products {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Products::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Products::Name).string_len(200).not_null())
                    .col(
                        ColumnDef::new(Products::PriceMinor)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Products::Currency).char_len(3).not_null())
                    .col(ColumnDef::new(Products::Stock).big_integer().not_null())
                    .col(ColumnDef::new(Products::Version).big_integer().not_null())
                    .col(ColumnDef::new(Products::CreatedAt).custom(ts()).not_null())
                    .col(ColumnDef::new(Products::UpdatedAt).custom(ts()).not_null())
                    // The last line of defence: no code path can store a negative stock.
                    .check((
                        "chk_products_stock_non_negative",
                        Expr::col(Products::Stock).gte(0),
                    ))
                    .check((
                        "chk_products_price_positive",
                        Expr::col(Products::PriceMinor).gt(0),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockReservations::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(StockReservations::OrderId).uuid().not_null())
                    .col(
                        ColumnDef::new(StockReservations::ProductId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockReservations::Quantity)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockReservations::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockReservations::CreatedAt)
                            .custom(ts())
                            .not_null(),
                    )
                    // One reservation per order and product: a replayed order cannot reserve twice.
                    .primary_key(
                        Index::create()
                            .col(StockReservations::OrderId)
                            .col(StockReservations::ProductId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reservations_product")
                            .from(StockReservations::Table, StockReservations::ProductId)
                            .to(Products::Table, Products::Id),
                    )
                    .check(Expr::col(StockReservations::Quantity).gt(0))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum StockAdjustments {
    Table,
    Id,
    ProductId,
    Delta,
    Reason,
    StockAfter,
    Cause,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrderTombstones {
    Table,
    OrderId,
    CancelledAt,
}

/// Stock adjustments and cancel tombstones.
#[derive(Debug)]
pub struct M0004Inventory;

impl MigrationName for M0004Inventory {
    fn name(&self) -> &str {
        "m0004_inventory"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004Inventory {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StockAdjustments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(StockAdjustments::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(StockAdjustments::ProductId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockAdjustments::Delta)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockAdjustments::Reason)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockAdjustments::StockAfter)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockAdjustments::Cause)
                            .string_len(160)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StockAdjustments::CreatedAt)
                            .custom(ts())
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_adjustments_product")
                            .from(StockAdjustments::Table, StockAdjustments::ProductId)
                            .to(Products::Table, Products::Id),
                    )
                    .check(Expr::col(StockAdjustments::StockAfter).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_adjustments_product")
                    .table(StockAdjustments::Table)
                    .col(StockAdjustments::ProductId)
                    .col(StockAdjustments::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderTombstones::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OrderTombstones::OrderId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OrderTombstones::CancelledAt)
                            .custom(ts())
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }
}

/// The product database's migrations.
#[derive(Debug)]
pub struct ProductMigrator;

impl MigratorTrait for ProductMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Messaging),
            Box::new(M0002Products),
            Box::new(M0003Idempotency),
            Box::new(M0004Inventory),
            Box::new(M0006OutboxTrace),
        ]
    }
}
