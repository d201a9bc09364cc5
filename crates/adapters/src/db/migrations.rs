//! Schema migrations, applied on startup and by the `migrate` subcommand. Written with the
//! portable schema builder so the same migrations serve MySQL and SQLite.

use sea_orm_migration::prelude::*;

fn ts() -> Alias {
    // Microsecond precision keeps creation order visible in timestamps.
    Alias::new("DATETIME(6)")
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    RoutingKey,
    Payload,
    OccurredAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum Inbox {
    Table,
    Consumer,
    MessageId,
    ReceivedAt,
}

/// `outbox` and `inbox`, identical in both databases.
#[derive(Debug)]
pub struct M0001Messaging;

impl MigrationName for M0001Messaging {
    fn name(&self) -> &str {
        "m0001_messaging"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Messaging {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Outbox::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Outbox::RoutingKey)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Outbox::Payload).text().not_null())
                    .col(ColumnDef::new(Outbox::OccurredAt).custom(ts()).not_null())
                    .col(ColumnDef::new(Outbox::PublishedAt).custom(ts()).null())
                    .to_owned(),
            )
            .await?;
        // The relay scans unpublished rows in id order.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_unpublished")
                    .table(Outbox::Table)
                    .col(Outbox::PublishedAt)
                    .col(Outbox::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Inbox::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Inbox::Consumer).string_len(64).not_null())
                    .col(ColumnDef::new(Inbox::MessageId).uuid().not_null())
                    .col(ColumnDef::new(Inbox::ReceivedAt).custom(ts()).not_null())
                    .primary_key(Index::create().col(Inbox::Consumer).col(Inbox::MessageId))
                    .to_owned(),
            )
            .await
    }
}

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
enum IdempotencyKeys {
    Table,
    IdemKey,
    Fingerprint,
    State,
    ResourceId,
    ResponseStatus,
    ResponseBody,
    ResponseHeaders,
    LockedUntil,
    ExpiresAt,
    CreatedAt,
}

/// `idempotency_keys`, identical in both databases.
#[derive(Debug)]
pub struct M0003Idempotency;

impl MigrationName for M0003Idempotency {
    fn name(&self) -> &str {
        "m0003_idempotency"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003Idempotency {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IdempotencyKeys::IdemKey)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::Fingerprint)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::ResourceId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::ResponseStatus)
                            .integer()
                            .null(),
                    )
                    .col(ColumnDef::new(IdempotencyKeys::ResponseBody).text().null())
                    .col(
                        ColumnDef::new(IdempotencyKeys::ResponseHeaders)
                            .text()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::LockedUntil)
                            .custom(ts())
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::ExpiresAt)
                            .custom(ts())
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::CreatedAt)
                            .custom(ts())
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // The purge deletes expired keys.
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_expires")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .if_not_exists()
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
        ]
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
        ]
    }
}
