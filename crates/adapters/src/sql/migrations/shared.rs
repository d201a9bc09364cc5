//! The migrations both databases share: the outbox (and its trace context), the inbox and the
//! idempotency keys.

use sea_orm_migration::prelude::*;

use super::ts;

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
enum OutboxTrace {
    TraceParent,
}

/// The outbox keeps the W3C `traceparent` of what wrote each message, so that the relay's
/// publication continues that request's or message's trace.
#[derive(Debug)]
pub struct M0006OutboxTrace;

impl MigrationName for M0006OutboxTrace {
    fn name(&self) -> &str {
        "m0006_outbox_trace"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006OutboxTrace {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let width =
            std::convert::TryFrom::try_from(ports::trace::MAX_TRACEPARENT_LEN).unwrap_or(128);
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(
                        ColumnDef::new(OutboxTrace::TraceParent)
                            .string_len(width)
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }
}
