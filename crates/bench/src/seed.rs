//! The bulk loader: puts N orders into an order database (MySQL/MariaDB, already migrated) in
//! big multi-row `INSERT`s, so that listing cost can be measured at depth.
//!
//! Every seeded order is what the service itself would have stored for a confirmed order of
//! one unit of one product: an `orders` row (status `confirmed`, version 2), its item, and its
//! two history rows (placed, confirmed). Ids are UUIDv7, one millisecond apart, ending just
//! before `end`, so they sort in time order and below the orders the run places itself.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use uuid::Uuid;

/// Orders per statement (three statements per batch: orders, items, history).
const BATCH: u64 = 2_000;
/// Batches written at once.
const WRITERS: usize = 2;
/// The history rows' cause.
const CAUSE: &str = "bench seed";

/// The product every seeded order buys one unit of.
#[derive(Debug, Clone)]
pub struct SeedProduct {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its price in minor units.
    pub price_minor: i64,
}

/// What the loader wrote.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Orders written.
    pub orders: u64,
    /// How long it took.
    pub elapsed: Duration,
    /// Timestamp of the oldest seeded order, in Unix milliseconds.
    first_ms: u64,
    /// Random tail of every id, derived from the index.
    salt: u64,
}

impl Seeded {
    /// The id of the seeded order at `index` (0 is the oldest).
    pub fn id_at(&self, index: u64) -> Uuid {
        order_id(self.first_ms + index, self.salt, index)
    }
}

fn order_id(millis: u64, salt: u64, index: u64) -> Uuid {
    let tail = (salt ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes();
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&tail);
    bytes[8..].copy_from_slice(&(index as u16).to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

fn hex(id: Uuid) -> String {
    format!("X'{}'", id.simple())
}

fn timestamp(millis: u64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(i64::try_from(millis).unwrap_or(0))
        .unwrap_or_default();
    format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%.6f"))
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The three statements of orders `from..to`.
fn batch_sql(seeded: &Seeded, product: &SeedProduct, from: u64, to: u64) -> [String; 3] {
    let mut orders = String::from(
        "INSERT INTO orders (id, status, currency, total_minor, version, created_at, updated_at) VALUES ",
    );
    let mut items = String::from(
        "INSERT INTO order_items (order_id, product_id, position, product_name, unit_price_minor, quantity, line_total_minor) VALUES ",
    );
    let mut history = String::from(
        "INSERT INTO order_status_history (order_id, seq, from_status, to_status, reason, cause, at) VALUES ",
    );
    let (product_id, name, price) = (
        hex(product.id),
        sql_text(&product.name),
        product.price_minor,
    );
    let cause = sql_text(CAUSE);
    for index in from..to {
        let sep = if index == from { "" } else { "," };
        let id = hex(seeded.id_at(index));
        let placed = timestamp(seeded.first_ms + index);
        // Confirmed a few milliseconds after it was placed.
        let confirmed = timestamp(seeded.first_ms + index + 3);
        orders.push_str(&format!(
            "{sep}({id},'confirmed','USD',{price},2,{placed},{confirmed})"
        ));
        items.push_str(&format!(
            "{sep}({id},{product_id},0,{name},{price},1,{price})"
        ));
        history.push_str(&format!(
            "{sep}({id},1,NULL,'pending',NULL,{cause},{placed}),\
             ({id},2,'pending','confirmed',NULL,{cause},{confirmed})"
        ));
    }
    [orders, items, history]
}

/// Writes `count` seeded orders buying `product` into the order database behind `conn`, the
/// newest placed just before `end`.
pub async fn seed_orders(
    conn: &DatabaseConnection,
    count: u64,
    product: &SeedProduct,
    end: DateTime<Utc>,
) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let end_ms = u64::try_from(end.timestamp_millis()).context("a time before 1970")?;
    let mut seeded = Seeded {
        orders: count,
        elapsed: Duration::ZERO,
        first_ms: end_ms.saturating_sub(count + 1_000),
        salt: rand::random(),
    };
    let batches: Vec<(u64, u64)> = (0..count.div_ceil(BATCH))
        .map(|b| (b * BATCH, ((b + 1) * BATCH).min(count)))
        .collect();
    let total = batches.len();
    let seeded_ref = &seeded;
    stream::iter(batches.into_iter().enumerate())
        .map(|(n, (from, to))| async move {
            let statements = batch_sql(seeded_ref, product, from, to);
            let tx = conn.begin().await.context("cannot begin a seed batch")?;
            // The rows are consistent by construction (each order before its items and
            // history); skipping the checks keeps the load fast.
            tx.execute_unprepared("SET SESSION foreign_key_checks = 0, unique_checks = 0")
                .await
                .context("cannot relax the session's checks")?;
            for sql in statements {
                tx.execute_unprepared(&sql)
                    .await
                    .with_context(|| format!("seed batch {n} of {total} failed"))?;
            }
            tx.commit().await.context("cannot commit a seed batch")?;
            if (n + 1) % 50 == 0 {
                eprintln!("bench: seeded {} of {count} orders", to);
            }
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(WRITERS)
        .try_collect::<()>()
        .await?;
    seeded.elapsed = started.elapsed();
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuidv7_in_time_order() {
        let seeded = Seeded {
            orders: 3,
            elapsed: Duration::ZERO,
            first_ms: 1_700_000_000_000,
            salt: 42,
        };
        let ids: Vec<Uuid> = (0..3).map(|i| seeded.id_at(i)).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(seeded.id_at(1), ids[1]);
    }

    #[test]
    fn a_batch_writes_an_item_and_two_history_rows_per_order() {
        let seeded = Seeded {
            orders: 2,
            elapsed: Duration::ZERO,
            first_ms: 1_700_000_000_000,
            salt: 1,
        };
        let product = SeedProduct {
            id: Uuid::nil(),
            name: "O'Brien's".to_owned(),
            price_minor: 999,
        };
        let [orders, items, history] = batch_sql(&seeded, &product, 0, 2);
        assert_eq!(orders.matches("'confirmed'").count(), 2);
        assert_eq!(items.matches("'O''Brien''s'").count(), 2);
        assert_eq!(history.matches("'bench seed'").count(), 4);
        assert!(orders.contains("'2023-11-14 22:13:20.000000'"));
    }
}
