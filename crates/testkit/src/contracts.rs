//! Contract suites: one per port, written once against the port traits and run against every
//! adapter of that port (DESIGN §8). A suite is a `pub async fn` taking a fixture; it panics on
//! the first broken rule, with a message naming the port and the rule.
//!
//! Layout and rules:
//! - [`orders`]: [`ports::ordering::OrderStore`] and its transaction. Insert then find returns the
//!   order exactly (items in order, price snapshots, total, customer, status, rejection reason,
//!   version, timestamps to the microsecond); an unknown id is `None`; a dropped transaction
//!   leaves nothing; `update` writes only at the expected version (status, rejection reason,
//!   shipping address, note, carrier and tracking number) and says whether it did; `record_inbox` is `true` once per (consumer, message id), across transactions, and
//!   forgets entries of dropped transactions; history rows read back as appended;
//!   `stuck_pending` lists pending orders placed before a time with their re-emission count,
//!   and `reemit` counts once per call (writing the outbox row anew or again); `list` is
//!   newest first, every order on exactly one page, `next_after` `None` on the last page, and
//!   its filters (status, product, customer, combined) return exactly the matching orders.
//! - [`inventory`]: [`ports::inventory::ProductStore`] and its transaction. Insert then find
//!   returns the product exactly; `find_many` answers in ascending id order without unknown
//!   ids; `list` pages like the order listing; `lock_stock` returns exactly the known products
//!   with their stock; `decrement_stock` takes units only when enough are on hand and says
//!   whether it did; a reservation is unique per (order, product); the inbox rule as above;
//!   and under 50 concurrent reservations of one unit against a stock of 20, exactly 20
//!   succeed, the stock ends at 0 without ever going negative, and exactly the winners hold a
//!   reservation (conservation). Product updates are conditional on the version; stock
//!   adjustments stay in range and are listed newest first per product; a release gives the
//!   stock back once and never for consumed reservations; 10 concurrent releases of one order
//!   restore it once; a tombstone and a reservation of one order never both exist.
//! - [`outbox`]: [`ports::store::OutboxStore`] and the relay's
//!   [`ports::relay::publish_once`]. A committed message is pending and claimed in id order,
//!   exactly as written; a message of a dropped transaction never appears; a claim skips rows
//!   another batch holds; a pass publishes and marks every pending message once; a publisher
//!   failure leaves that message pending for a later pass; `purge_published` removes only
//!   published messages older than the retention.
//! - [`bus`]: a publisher plus the consumer of one service queue. A message is handled once,
//!   with the outbox id as message id and its routing key; `Retry` redelivers (flagged
//!   `redelivered`) until acknowledged; `DeadLetter` moves exactly that body to the dead-letter
//!   queue and the next message is still handled; a message that keeps failing is
//!   dead-lettered after the delivery limit; a routing key no queue is bound to is
//!   `Unroutable`; one consumer handles messages in publish order.
//! - [`cache`]: [`ports::Cache`]. Misses are `None`; `get_many` answers in key order, mixing
//!   hits and misses; values round-trip exactly; writes overwrite; `delete` removes; entries
//!   expire after their TTL; two namespaces never see each other's keys. And
//!   [`cache::cache_outage_contract`] for caches that can be down: misses and no-op writes,
//!   each answered within [`cache::OUTAGE_BOUND`].
//! - [`idempotency`]: [`ports::idempotency::IdempotencyStore`]. The first claim of a key is
//!   fresh; a second while it runs is in progress; another fingerprint is a mismatch; a
//!   completed key replays its answer exactly; a released key is free again; a retry after the
//!   lease ended takes over with the same resource id; an expired key is new again; the purge
//!   removes expired keys only.
//! - [`sql`], [`rabbitmq`], [`redis`]: fixtures for the sea-orm stores (with an isolated MySQL
//!   database per test), RabbitMQ and Redis.
//! - [`embedded`]: fixtures for the standalone composition's adapters: the same sea-orm stores
//!   on an SQLite file of their own, the in-process bus, memory caches.
//! - [`broken`]: adapters with one rule broken on purpose, which their suite must reject.

pub mod broken;
pub mod bus;
pub mod cache;
pub mod embedded;
pub mod idempotency;
pub mod inventory;
pub mod orders;
pub mod outbox;
pub mod rabbitmq;
pub mod redis;
pub mod sql;

pub use bus::{
    BusFixture, RunningConsumer, ScriptedHandler, a_message_failing_for_a_while_holds_up_no_other,
    event_bus_contract,
};
pub use cache::{CacheFixture, cache_contract, cache_outage_contract};
pub use inventory::{InventoryFixture, inventory_store_contract};
pub use orders::{OrderStoreFixture, order_store_contract};
pub use outbox::{OutboxFixture, OutboxThroughOrders, RecordingPublisher, outbox_contract};

use std::time::Duration;

/// How long a suite waits for something asynchronous (a delivery, a dead letter) before it
/// calls the rule broken. Generous: the machine running the tests may be busy.
pub const WAIT: Duration = Duration::from_secs(10);

/// Polls `check` every 20 ms until it holds or `timeout` passes; returns whether it held.
async fn holds_within(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
