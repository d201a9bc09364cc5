//! The outbox contract: [`OutboxStore`] as the relay sees it, and one relay pass
//! ([`publish_once`]) on top of it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
// This crate has `chrono` only as a dev-dependency; sea-query re-exports the same crate.

use domain::MessageId;
use ports::ordering::OrderStore;
use ports::relay::publish_once;
use ports::store::OutboxStore;
use ports::{EventPublisher, OutboxMessage, PublishError};

/// What the outbox suite runs against: the outbox, and a way to write to it the way the
/// services do, in a transaction of the same database.
#[async_trait]
pub trait OutboxFixture: Send + Sync {
    /// The outbox under test. It must be empty when the suite starts.
    fn outbox(&self) -> Arc<dyn OutboxStore>;

    /// Enqueues `messages` in one transaction of the same database, then commits it when
    /// `commit` is true and drops it (rolls back) otherwise.
    async fn enqueue(&self, messages: &[OutboxMessage], commit: bool);
}

/// An [`OutboxFixture`] that enqueues through an order store's transactions
/// ([`ports::ordering::OrderTx::enqueue`]), as the order service does.
pub struct OutboxThroughOrders {
    outbox: Arc<dyn OutboxStore>,
    orders: Arc<dyn OrderStore>,
}

impl OutboxThroughOrders {
    /// `outbox` and `orders` must share one database.
    pub fn new(outbox: Arc<dyn OutboxStore>, orders: Arc<dyn OrderStore>) -> Self {
        Self { outbox, orders }
    }
}

impl std::fmt::Debug for OutboxThroughOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxThroughOrders")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl OutboxFixture for OutboxThroughOrders {
    fn outbox(&self) -> Arc<dyn OutboxStore> {
        self.outbox.clone()
    }

    async fn enqueue(&self, messages: &[OutboxMessage], commit: bool) {
        let mut tx = self
            .orders
            .begin()
            .await
            .expect("outbox: begin must succeed");
        for message in messages {
            tx.enqueue(message)
                .await
                .expect("outbox: enqueue must succeed");
        }
        if commit {
            tx.commit().await.expect("outbox: commit must succeed");
        }
    }
}

/// An [`EventPublisher`] that records what it is asked to publish and can be told to fail
/// chosen messages (as a nack).
#[derive(Debug, Default)]
pub struct RecordingPublisher {
    published: Mutex<Vec<OutboxMessage>>,
    failing: Mutex<HashSet<MessageId>>,
}

impl RecordingPublisher {
    /// A publisher that confirms everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, `id` is refused.
    pub fn fail(&self, id: MessageId) {
        self.failing.lock().expect("unpoisoned").insert(id);
    }

    /// From now on, `id` is confirmed again.
    pub fn heal(&self, id: MessageId) {
        self.failing.lock().expect("unpoisoned").remove(&id);
    }

    /// The messages confirmed so far, in publish order.
    pub fn published(&self) -> Vec<OutboxMessage> {
        self.published.lock().expect("unpoisoned").clone()
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish_batch(&self, messages: &[OutboxMessage]) -> Vec<Result<(), PublishError>> {
        let failing = self.failing.lock().expect("unpoisoned").clone();
        let mut published = self.published.lock().expect("unpoisoned");
        messages
            .iter()
            .map(|m| {
                if failing.contains(&m.id) {
                    Err(PublishError::Nacked(m.id))
                } else {
                    published.push(m.clone());
                    Ok(())
                }
            })
            .collect()
    }
}

/// Runs every rule of the outbox contract against `fixture`; panics on the first broken one.
pub async fn outbox_contract<F: OutboxFixture + ?Sized>(fixture: &F) {
    let outbox = fixture.outbox();
    assert_eq!(
        pending(outbox.as_ref()).await,
        0,
        "outbox: the suite needs an empty outbox"
    );
    assert_eq!(
        outbox
            .backlog()
            .await
            .expect("outbox: backlog must succeed"),
        (0, None),
        "outbox: an empty backlog"
    );
    committed_messages_are_claimed_in_id_order(fixture, outbox.as_ref()).await;
    a_claim_skips_rows_another_batch_holds(outbox.as_ref()).await;
    a_relay_pass_publishes_and_marks_once(outbox.as_ref()).await;
    a_failed_publish_stays_pending_for_a_later_pass(fixture, outbox.as_ref()).await;
    a_claim_leaves_young_rows_to_the_handover(fixture, outbox.as_ref()).await;
    purge_removes_only_old_published_messages(fixture, outbox.as_ref()).await;
    the_backlog_counts_unpublished_rows_and_dates_the_oldest(fixture, outbox.as_ref()).await;
}

/// A message with a recognisable payload (the body is opaque to the outbox).
fn message(label: &str) -> OutboxMessage {
    let id = MessageId::new();
    OutboxMessage {
        trace: None,
        id,
        routing_key: "contract.outbox".to_owned(),
        payload: format!(r#"{{"id":"{id}","label":"{label} ✓"}}"#),
        occurred_at: crate::now(),
    }
}

async fn pending(outbox: &dyn OutboxStore) -> u64 {
    outbox
        .pending()
        .await
        .expect("outbox: pending must succeed")
}

/// Claims up to `limit` messages and releases them without marking any.
async fn peek(outbox: &dyn OutboxStore, limit: u32) -> Vec<OutboxMessage> {
    let batch = outbox
        .claim(limit, chrono::Duration::zero())
        .await
        .expect("outbox: claim must succeed");
    let messages = batch.messages().to_vec();
    batch
        .commit()
        .await
        .expect("outbox: committing a batch must succeed");
    messages
}

/// Runs last: the rows the other rules left pending occurred just now.
async fn the_backlog_counts_unpublished_rows_and_dates_the_oldest<F: OutboxFixture + ?Sized>(
    fixture: &F,
    outbox: &dyn OutboxStore,
) {
    let backlog = || async {
        outbox
            .backlog()
            .await
            .expect("outbox: backlog must succeed")
    };
    let (before, _) = backlog().await;
    assert_eq!(
        before,
        pending(outbox).await,
        "outbox: backlog counts what pending counts"
    );
    let older = OutboxMessage {
        occurred_at: crate::now() - chrono::Duration::minutes(10),
        ..message("older")
    };
    let newer = message("newer");
    fixture.enqueue(&[newer.clone(), older.clone()], true).await;
    let (pending_now, oldest) = backlog().await;
    assert_eq!(
        pending_now,
        before + 2,
        "outbox: both rows join the backlog"
    );
    let oldest = oldest.expect("outbox: a backlog has an oldest row");
    assert!(
        (oldest - older.occurred_at).num_milliseconds().abs() < 1,
        "outbox: the backlog is dated by its oldest row's occurrence: {oldest} vs {}",
        older.occurred_at
    );
    outbox
        .mark_published(&[older.id, newer.id])
        .await
        .expect("outbox: marking outside a claim must succeed");
    let (after, oldest) = backlog().await;
    assert_eq!(after, before, "outbox: published rows leave the backlog");
    assert!(
        oldest.is_none_or(|at| at > older.occurred_at + chrono::Duration::minutes(5)),
        "outbox: a published row no longer dates the backlog"
    );
}

async fn committed_messages_are_claimed_in_id_order<F: OutboxFixture + ?Sized>(
    fixture: &F,
    outbox: &dyn OutboxStore,
) {
    let first = message("first");
    fixture.enqueue(std::slice::from_ref(&first), true).await;
    assert_eq!(
        pending(outbox).await,
        1,
        "outbox: a message enqueued in a committed transaction must be pending"
    );
    assert_eq!(
        peek(outbox, 10).await,
        vec![first.clone()],
        "outbox: a claim must return the committed message exactly (id, routing key, payload, \
         occurred_at to the microsecond)"
    );
    assert_eq!(
        pending(outbox).await,
        1,
        "outbox: a batch released without marks must leave its messages pending"
    );

    let dropped = message("dropped");
    fixture.enqueue(std::slice::from_ref(&dropped), false).await;
    assert_eq!(
        pending(outbox).await,
        1,
        "outbox: a message enqueued in a dropped transaction must never be pending"
    );

    // Ids ascending m1 < m2 < m3, committed as m3, m1, m2 in separate transactions.
    let (m1, m2, m3) = (message("m1"), message("m2"), message("m3"));
    fixture.enqueue(std::slice::from_ref(&m3), true).await;
    fixture.enqueue(&[m1.clone(), m2.clone()], true).await;
    assert_eq!(
        pending(outbox).await,
        4,
        "outbox: every committed message must be pending"
    );
    let ids = |ms: &[OutboxMessage]| ms.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&peek(outbox, 10).await),
        vec![first.id, m1.id, m2.id, m3.id],
        "outbox: claim must return the pending messages in id order, without the dropped one"
    );
    assert_eq!(
        ids(&peek(outbox, 2).await),
        vec![first.id, m1.id],
        "outbox: claim(limit) must return the `limit` oldest pending messages"
    );
}

async fn a_claim_skips_rows_another_batch_holds(outbox: &dyn OutboxStore) {
    let held = outbox
        .claim(2, chrono::Duration::zero())
        .await
        .expect("outbox: claim must succeed");
    let held_ids: Vec<MessageId> = held.messages().iter().map(|m| m.id).collect();
    assert_eq!(
        held_ids.len(),
        2,
        "outbox: claim(2) with 4 pending must claim 2"
    );
    let other = tokio::time::timeout(
        Duration::from_secs(5),
        outbox.claim(10, chrono::Duration::zero()),
    )
    .await
    .expect("outbox: a claim must not wait behind another batch (skip the rows it holds)")
    .expect("outbox: claim must succeed");
    let other_ids: Vec<MessageId> = other.messages().iter().map(|m| m.id).collect();
    assert_eq!(
        other_ids.len(),
        2,
        "outbox: a second claim must get the 2 messages the first batch does not hold"
    );
    assert!(
        other_ids.iter().all(|id| !held_ids.contains(id)),
        "outbox: a claim must skip the messages another batch holds"
    );
    other.commit().await.expect("outbox: commit must succeed");
    held.commit().await.expect("outbox: commit must succeed");
}

async fn a_relay_pass_publishes_and_marks_once(outbox: &dyn OutboxStore) {
    let claimed = peek(outbox, 100).await;
    let publisher = RecordingPublisher::new();
    let report = publish_once(outbox, &publisher, 100)
        .await
        .expect("outbox: a relay pass with a healthy publisher must succeed");
    assert_eq!(
        publisher.published(),
        claimed,
        "outbox: a relay pass must publish every pending message, in id order, exactly as stored"
    );
    assert_eq!(
        (report.claimed, report.published),
        (claimed.len(), claimed.len()),
        "outbox: the pass report must count what was claimed and published"
    );
    assert_eq!(
        pending(outbox).await,
        0,
        "outbox: confirmed messages must be marked published (pending 0)"
    );
    let again = publish_once(outbox, &publisher, 100)
        .await
        .expect("outbox: an idle relay pass must succeed");
    assert_eq!(
        (again.claimed, publisher.published().len()),
        (0, claimed.len()),
        "outbox: a second pass must publish nothing"
    );
}

async fn a_claim_leaves_young_rows_to_the_handover<F: OutboxFixture + ?Sized>(
    fixture: &F,
    outbox: &dyn OutboxStore,
) {
    let before = pending(outbox).await;
    let young = message("young");
    fixture.enqueue(std::slice::from_ref(&young), true).await;
    let aged = outbox
        .claim(100, chrono::Duration::hours(1))
        .await
        .expect("outbox: claim must succeed");
    assert!(
        !aged.messages().iter().any(|m| m.id == young.id),
        "outbox: a claim of rows an hour old must leave a row committed just now"
    );
    aged.commit().await.expect("outbox: commit must succeed");
    assert!(
        peek(outbox, 100).await.iter().any(|m| m.id == young.id),
        "outbox: a claim of any age must take the row committed just now"
    );

    outbox
        .mark_published(&[young.id])
        .await
        .expect("outbox: marking outside a claim must succeed");
    assert_eq!(
        pending(outbox).await,
        before,
        "outbox: a row marked published outside a claim must no longer be pending"
    );
    assert!(
        !peek(outbox, 100).await.iter().any(|m| m.id == young.id),
        "outbox: a row marked published outside a claim must never be claimed again"
    );
}

async fn a_failed_publish_stays_pending_for_a_later_pass<F: OutboxFixture + ?Sized>(
    fixture: &F,
    outbox: &dyn OutboxStore,
) {
    let (ok1, failing, ok2) = (message("ok1"), message("failing"), message("ok2"));
    fixture
        .enqueue(&[ok1.clone(), failing.clone(), ok2.clone()], true)
        .await;
    let publisher = RecordingPublisher::new();
    publisher.fail(failing.id);
    let outcome = publish_once(outbox, &publisher, 100).await;
    assert!(
        outcome.is_err(),
        "outbox: a relay pass where the publisher failed a message must report an error"
    );
    assert_eq!(
        publisher.published(),
        vec![ok1.clone(), ok2.clone()],
        "outbox: the confirmed messages of a partly failed pass must still be published"
    );
    assert_eq!(
        pending(outbox).await,
        1,
        "outbox: only the message the publisher failed must stay pending"
    );
    assert_eq!(
        peek(outbox, 10).await,
        vec![failing.clone()],
        "outbox: the pending message must be the one the publisher failed"
    );

    publisher.heal(failing.id);
    let report = publish_once(outbox, &publisher, 100)
        .await
        .expect("outbox: the retry pass must succeed");
    assert_eq!(
        (report.published, publisher.published()),
        (1, vec![ok1, ok2, failing]),
        "outbox: a later pass must publish the failed message, and only it"
    );
    assert_eq!(
        pending(outbox).await,
        0,
        "outbox: after the retry nothing is pending"
    );
}

async fn purge_removes_only_old_published_messages<F: OutboxFixture + ?Sized>(
    fixture: &F,
    outbox: &dyn OutboxStore,
) {
    // first, m1, m2 and m3, then ok1, ok2 and the retried one, then the young one.
    let published_so_far = 8;
    let unpublished = message("unpublished");
    fixture
        .enqueue(std::slice::from_ref(&unpublished), true)
        .await;
    let purged = outbox
        .purge_published(chrono::Duration::hours(1))
        .await
        .expect("outbox: purge_published must succeed");
    assert_eq!(
        purged, 0,
        "outbox: purge_published must keep messages published more recently than the retention"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let purged = outbox
        .purge_published(chrono::Duration::seconds(1))
        .await
        .expect("outbox: purge_published must succeed");
    assert_eq!(
        purged, published_so_far,
        "outbox: purge_published must remove every message published longer ago than the \
         retention, and return how many"
    );
    assert_eq!(
        peek(outbox, 10).await,
        vec![unpublished],
        "outbox: purge_published must never remove an unpublished message"
    );
    let purged = outbox
        .purge_published(chrono::Duration::zero())
        .await
        .expect("outbox: purge_published must succeed");
    assert_eq!(
        purged, 0,
        "outbox: purge_published must never remove an unpublished message, whatever the \
         retention"
    );
}
