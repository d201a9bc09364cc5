//! Schema migrations, applied on startup and by the `migrate` subcommand. Written with the
//! portable schema builder so the same migrations serve MySQL and SQLite. Each database has its
//! own migrator; the outbox, inbox and idempotency tables are the same in both.
//!
//! Layout:
//! - [`shared`]: the outbox, the inbox and the idempotency keys.
//! - [`order`]: the order database (orders, items, history, shipping, sweeps).
//! - [`product`]: the product database (products, reservations, adjustments, tombstones).

use sea_orm_migration::prelude::*;

pub mod order;
pub mod product;
pub mod shared;

pub use order::OrderMigrator;
pub use product::ProductMigrator;

pub(crate) fn ts() -> Alias {
    // Microsecond precision keeps creation order visible in timestamps.
    Alias::new("DATETIME(6)")
}
