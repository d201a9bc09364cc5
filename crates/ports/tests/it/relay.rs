//! The outbox relay on the SQL outbox: committed messages go out from the hand-over at once;
//! rows the hand-over did not deliver are claimed from the table once they are old enough.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use adapters::sql::{OrderMigrator, SqlOrderStore, SqlOutboxStore, open_database};
use domain::MessageId;
use ports::events::OutboxMessage;
use ports::ordering::OrderStore;
use ports::relay::{RelayOptions, run_relay};
use ports::store::OutboxStore;
use ports::{Clock, EventPublisher, OutboxSignal, PublishError};

use crate::support::{manual_clock, sqlite_in_memory};

/// Confirms everything (after refusing the first `refusals` messages) and remembers what it
/// published.
#[derive(Default)]
struct Recorder(Mutex<Vec<MessageId>>, std::sync::atomic::AtomicUsize);

impl Recorder {
    fn published(&self) -> Vec<MessageId> {
        self.0.lock().expect("unpoisoned").clone()
    }
}

#[async_trait]
impl EventPublisher for Recorder {
    async fn publish_batch(&self, messages: &[OutboxMessage]) -> Vec<Result<(), PublishError>> {
        let mut published = self.0.lock().expect("unpoisoned");
        messages
            .iter()
            .map(|m| {
                let refuse = self
                    .1
                    .fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1))
                    .is_ok();
                if refuse {
                    return Err(PublishError::Nacked(m.id));
                }
                published.push(m.id);
                Ok(())
            })
            .collect()
    }
}

fn message(occurred_at: chrono::DateTime<chrono::Utc>) -> OutboxMessage {
    let id = MessageId::new();
    OutboxMessage {
        trace: None,
        id,
        routing_key: "relay.test".to_owned(),
        payload: format!(r#"{{"id":"{id}"}}"#),
        occurred_at,
    }
}

/// Commits `message` through an order store whose commits signal `signal`.
async fn commit(store: &SqlOrderStore, message: &OutboxMessage) {
    let mut tx = store.begin().await.expect("begin");
    tx.enqueue(message).await.expect("enqueue");
    tx.commit().await.expect("commit");
}

/// Waits (at most 5 s) until `publisher` published `id`.
async fn published(publisher: &Recorder, id: MessageId) -> bool {
    for _ in 0..100 {
        if publisher.published().contains(&id) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

struct Relay {
    outbox: SqlOutboxStore,
    publisher: Arc<Recorder>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    fn start(outbox: SqlOutboxStore, signal: OutboxSignal, claim_after: Duration) -> Self {
        Self::refusing(0, outbox, signal, claim_after)
    }

    /// A relay whose publisher refuses the first `refusals` messages.
    fn refusing(
        refusals: usize,
        outbox: SqlOutboxStore,
        signal: OutboxSignal,
        claim_after: Duration,
    ) -> Self {
        let publisher = Arc::new(Recorder(Mutex::default(), refusals.into()));
        let shutdown = CancellationToken::new();
        let options = RelayOptions {
            poll_interval: Duration::from_millis(50),
            claim_after,
            ..RelayOptions::default()
        };
        let task = tokio::spawn(run_relay(
            Arc::new(outbox.clone()),
            publisher.clone(),
            signal,
            options,
            shutdown.clone(),
        ));
        Self {
            outbox,
            publisher,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("the relay ends cleanly");
    }
}

/// A fresh order database in memory.
async fn order_database() -> sea_orm::DatabaseConnection {
    open_database::<OrderMigrator>(&sqlite_in_memory())
        .await
        .expect("the order database")
}

/// An order store and a relay sharing its signal, whose publisher refuses the first
/// `refusals` messages. Rows become claimable only after an hour: whatever goes out within
/// the test came from the hand-over.
async fn handing_over(refusals: usize) -> (SqlOrderStore, Relay) {
    let conn = order_database().await;
    let signal = OutboxSignal::new();
    let store = SqlOrderStore::new(conn.clone(), signal.clone());
    let relay = Relay::refusing(
        refusals,
        SqlOutboxStore::new(conn),
        signal,
        Duration::from_secs(3600),
    );
    (store, relay)
}

#[tokio::test]
async fn a_committed_message_is_published_from_the_hand_over_without_waiting_to_be_claimable() {
    let (store, relay) = handing_over(0).await;

    let sent = message(chrono::Utc::now());
    commit(&store, &sent).await;

    assert!(
        published(&relay.publisher, sent.id).await,
        "the committed message must be published from the hand-over"
    );
    assert_eq!(
        relay.outbox.pending().await.expect("pending"),
        0,
        "the message published from the hand-over must be marked published"
    );
    assert_eq!(relay.publisher.published(), vec![sent.id], "published once");
    relay.stop().await;
}

#[tokio::test]
async fn a_row_the_hand_over_never_saw_is_claimed_once_old_enough() {
    let conn = order_database().await;
    let clock = manual_clock();
    // Written by another process (or before a crash): its commit signals nobody here.
    let elsewhere = SqlOrderStore::new(conn.clone(), OutboxSignal::new());
    let outbox = SqlOutboxStore::new(conn).with_clock(clock.clone() as Arc<dyn Clock>);
    let relay = Relay::start(outbox, OutboxSignal::new(), Duration::from_secs(5));

    let left = message(clock.now());
    commit(&elsewhere, &left).await;
    // Several claim passes run meanwhile (every 50 ms): the row is too young for them.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        relay.publisher.published().is_empty(),
        "a row younger than claim_after must be left to the process that committed it"
    );

    clock.advance(chrono::Duration::seconds(6));
    assert!(
        published(&relay.publisher, left.id).await,
        "a row older than claim_after must be claimed and published"
    );
    assert_eq!(
        relay.outbox.pending().await.expect("pending"),
        0,
        "the claimed row must be marked published"
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_message_the_broker_refused_is_tried_again_from_the_hand_over() {
    // A second try can only come from the hand-over.
    let (store, relay) = handing_over(1).await;

    let sent = message(chrono::Utc::now());
    commit(&store, &sent).await;

    assert!(
        published(&relay.publisher, sent.id).await,
        "a refused message must be published again after the pause, not left for an hour"
    );
    assert_eq!(
        relay.outbox.pending().await.expect("pending"),
        0,
        "the message published on the second try must be marked published"
    );
    relay.stop().await;
}
