//! The order database's own migrations and its migrator.

use sea_orm_migration::prelude::*;

use super::shared::{M0001Messaging, M0003Idempotency, M0006OutboxTrace};
use super::ts;

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    CustomerId,
    Status,
    RejectionReason,
    Currency,
    TotalMinor,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderItems {
    Table,
    OrderId,
    ProductId,
    Position,
    ProductName,
    UnitPriceMinor,
    Quantity,
    LineTotalMinor,
}

#[derive(DeriveIden)]
enum OrderStatusHistory {
    Table,
    OrderId,
    Seq,
    FromStatus,
    ToStatus,
    Reason,
    Cause,
    At,
}

/// Orders, their items and their status history.
#[derive(Debug)]
pub struct M0002Orders;

impl MigrationName for M0002Orders {
    fn name(&self) -> &str {
        "m0002_orders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Orders {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Orders::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Orders::CustomerId).string_len(64).null())
                    .col(ColumnDef::new(Orders::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Orders::RejectionReason)
                            .string_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(Orders::Currency).char_len(3).not_null())
                    .col(ColumnDef::new(Orders::TotalMinor).big_integer().not_null())
                    .col(ColumnDef::new(Orders::Version).big_integer().not_null())
                    .col(ColumnDef::new(Orders::CreatedAt).custom(ts()).not_null())
                    .col(ColumnDef::new(Orders::UpdatedAt).custom(ts()).not_null())
                    .check(Expr::col(Orders::TotalMinor).gte(0))
                    .to_owned(),
            )
            .await?;
        // Keyset listings filtered by status or customer walk these indexes in id order.
        for (name, col) in [
            ("idx_orders_status_id", Orders::Status),
            ("idx_orders_customer_id", Orders::CustomerId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Orders::Table)
                        .col(col)
                        .col(Orders::Id)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(OrderItems::OrderId).uuid().not_null())
                    .col(ColumnDef::new(OrderItems::ProductId).uuid().not_null())
                    .col(ColumnDef::new(OrderItems::Position).integer().not_null())
                    .col(
                        ColumnDef::new(OrderItems::ProductName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrderItems::UnitPriceMinor)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OrderItems::Quantity).integer().not_null())
                    .col(
                        ColumnDef::new(OrderItems::LineTotalMinor)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(OrderItems::OrderId)
                            .col(OrderItems::ProductId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_order")
                            .from(OrderItems::Table, OrderItems::OrderId)
                            .to(Orders::Table, Orders::Id),
                    )
                    .check(Expr::col(OrderItems::Quantity).gt(0))
                    .to_owned(),
            )
            .await?;
        // "Orders of a product" and the product_id filter.
        manager
            .create_index(
                Index::create()
                    .name("idx_order_items_product")
                    .table(OrderItems::Table)
                    .col(OrderItems::ProductId)
                    .col(OrderItems::OrderId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderStatusHistory::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OrderStatusHistory::OrderId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OrderStatusHistory::Seq).integer().not_null())
                    .col(
                        ColumnDef::new(OrderStatusHistory::FromStatus)
                            .string_len(16)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OrderStatusHistory::ToStatus)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrderStatusHistory::Reason)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OrderStatusHistory::Cause)
                            .string_len(160)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrderStatusHistory::At)
                            .custom(ts())
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(OrderStatusHistory::OrderId)
                            .col(OrderStatusHistory::Seq),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_history_order")
                            .from(OrderStatusHistory::Table, OrderStatusHistory::OrderId)
                            .to(Orders::Table, Orders::Id),
                    )
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OrderShipping {
    ShippingAddress,
    Note,
    Carrier,
    TrackingNumber,
}

/// Shipping address, note, carrier and tracking number of orders.
#[derive(Debug)]
pub struct M0004OrderShipping;

impl MigrationName for M0004OrderShipping {
    fn name(&self) -> &str {
        "m0004_order_shipping"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004OrderShipping {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        let columns = [
            ColumnDef::new(OrderShipping::ShippingAddress)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(OrderShipping::Note)
                .string_len(500)
                .null()
                .to_owned(),
            ColumnDef::new(OrderShipping::Carrier)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(OrderShipping::TrackingNumber)
                .string_len(64)
                .null()
                .to_owned(),
        ];
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum OrderSweep {
    Reemits,
}

/// How many times the sweeper re-emitted an order's `order.created`.
#[derive(Debug)]
pub struct M0005OrderSweep;

impl MigrationName for M0005OrderSweep {
    fn name(&self) -> &str {
        "m0005_order_sweep"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005OrderSweep {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(
                        ColumnDef::new(OrderSweep::Reemits)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }
}

/// The order database's migrations.
#[derive(Debug)]
pub struct OrderMigrator;

impl MigratorTrait for OrderMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Messaging),
            Box::new(M0002Orders),
            Box::new(M0003Idempotency),
            Box::new(M0004OrderShipping),
            Box::new(M0005OrderSweep),
            Box::new(M0006OutboxTrace),
        ]
    }
}
