//! The event bus contract: an [`EventPublisher`] and the consumer of one service queue, with
//! its dead-letter queue and delivery limit.
//!
//! Each rule starts its own consumer with a [`ScriptedHandler`], publishes messages with
//! unique bodies, waits for their fate and stops the consumer. Rules only look at their own
//! messages, so a straggler from an earlier rule cannot confuse a later one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{WAIT, holds_within};

mod keeping_up;

use domain::MessageId;
pub use keeping_up::a_message_failing_for_a_while_holds_up_no_other;
use ports::{
    EventPublisher, HandleOutcome, InboundMessage, MessageHandler, OutboxMessage, PublishError,
};

/// The routing keys the fixture's service queue is bound to.
pub const BOUND_KEYS: [&str; 2] = ["contract.first", "contract.second"];
/// A routing key no queue is bound to.
pub const UNBOUND_KEY: &str = "contract.unbound";

/// A consumer started by a [`BusFixture`].
#[async_trait]
pub trait RunningConsumer: Send {
    /// Stops consuming; the delivery being handled is finished first.
    async fn stop(self: Box<Self>);
}

/// What the event bus suite runs against: one service queue, bound to [`BOUND_KEYS`] before
/// the suite starts, with a dead-letter queue.
#[async_trait]
pub trait BusFixture: Send + Sync {
    /// The publisher of the events the queue receives.
    fn publisher(&self) -> Arc<dyn EventPublisher>;

    /// Starts a consumer of the service queue feeding `handler`.
    async fn start_consumer(&self, handler: Arc<dyn MessageHandler>) -> Box<dyn RunningConsumer>;

    /// Takes every message now in the dead-letter queue and returns their bodies, oldest
    /// first.
    async fn dead_letters(&self) -> Vec<Vec<u8>>;

    /// How many times a message may go back to the queue before it is dead-lettered: a message
    /// that always fails is handled `delivery_limit() + 1` times.
    fn delivery_limit(&self) -> u32;
}

/// What a [`ScriptedHandler`] answers for one body.
#[derive(Debug, Clone)]
struct Script {
    first: VecDeque<HandleOutcome>,
    then: HandleOutcome,
}

/// A [`MessageHandler`] answering per body: scripted outcomes first, then a fixed one
/// (`Ack` for bodies without a script). Records every delivery.
#[derive(Debug, Default)]
pub struct ScriptedHandler {
    scripts: Mutex<HashMap<Vec<u8>, Script>>,
    deliveries: Mutex<Vec<InboundMessage>>,
}

impl ScriptedHandler {
    /// A handler that acknowledges everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// For deliveries of `body`: answers `first` in turn, then `then` forever.
    #[must_use]
    pub fn on(self, body: &[u8], first: Vec<HandleOutcome>, then: HandleOutcome) -> Self {
        self.scripts.lock().expect("unpoisoned").insert(
            body.to_vec(),
            Script {
                first: first.into(),
                then,
            },
        );
        self
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<InboundMessage> {
        self.deliveries.lock().expect("unpoisoned").clone()
    }

    /// The deliveries of `body` so far.
    pub fn deliveries_of(&self, body: &[u8]) -> Vec<InboundMessage> {
        self.deliveries
            .lock()
            .expect("unpoisoned")
            .iter()
            .filter(|d| d.body == body)
            .cloned()
            .collect()
    }
}

#[async_trait]
impl MessageHandler for ScriptedHandler {
    fn routing_keys(&self) -> Vec<&'static str> {
        BOUND_KEYS.to_vec()
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        self.deliveries
            .lock()
            .expect("unpoisoned")
            .push(message.clone());
        let mut scripts = self.scripts.lock().expect("unpoisoned");
        match scripts.get_mut(&message.body) {
            Some(script) => script
                .first
                .pop_front()
                .unwrap_or_else(|| script.then.clone()),
            None => HandleOutcome::Ack,
        }
    }
}

/// Runs every rule of the event bus contract against `fixture`; panics on the first broken
/// one.
pub async fn event_bus_contract<F: BusFixture + ?Sized>(fixture: &F) {
    // Whatever an earlier run left behind must not count as this run's dead letters.
    fixture.dead_letters().await;
    a_published_message_is_handled_once(fixture).await;
    retry_redelivers_until_acknowledged(fixture).await;
    dead_letter_moves_exactly_that_message(fixture).await;
    a_message_that_keeps_failing_is_dead_lettered_after_the_limit(fixture).await;
    an_unroutable_message_is_refused(fixture).await;
    keeping_up::every_message_is_handled_once_with_several_in_flight(fixture).await;
    keeping_up::a_slow_message_holds_up_no_other(fixture).await;
}

/// A message on `key` with a body no other message has.
fn message(key: &str, label: &str) -> OutboxMessage {
    let id = MessageId::new();
    OutboxMessage {
        trace: None,
        id,
        routing_key: key.to_owned(),
        payload: format!(r#"{{"id":"{id}","label":"{label}"}}"#),
        occurred_at: crate::now(),
    }
}

fn body(m: &OutboxMessage) -> &[u8] {
    m.payload.as_bytes()
}

async fn publish(fixture: &(impl BusFixture + ?Sized), messages: &[OutboxMessage]) {
    let results = fixture.publisher().publish_batch(messages).await;
    assert_eq!(
        results.len(),
        messages.len(),
        "event bus: publish_batch must answer once per message"
    );
    for (m, result) in messages.iter().zip(results) {
        if let Err(e) = result {
            panic!(
                "event bus: publishing {} on a bound key `{}` must be confirmed: {e}",
                m.id, m.routing_key
            );
        }
    }
}

/// Drains the dead-letter queue until it held `body` (or [`WAIT`] passes); returns every body
/// drained.
async fn dead_letters_until(fixture: &(impl BusFixture + ?Sized), body: &[u8]) -> Vec<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut drained = Vec::new();
    loop {
        drained.extend(fixture.dead_letters().await);
        if drained.iter().any(|b| b == body) || tokio::time::Instant::now() >= deadline {
            return drained;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lets a little time pass so a delivery that should not happen has a chance to show up.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn a_published_message_is_handled_once<F: BusFixture + ?Sized>(fixture: &F) {
    let handler = Arc::new(ScriptedHandler::new());
    let consumer = fixture.start_consumer(handler.clone()).await;
    let m = message(BOUND_KEYS[1], "once");
    publish(fixture, std::slice::from_ref(&m)).await;
    assert!(
        holds_within(WAIT, || !handler.deliveries_of(body(&m)).is_empty()).await,
        "event bus: a published message must be delivered to the queue's consumer"
    );
    settle().await;
    consumer.stop().await;
    let deliveries = handler.deliveries_of(body(&m));
    assert_eq!(
        deliveries.len(),
        1,
        "event bus: an acknowledged message must be handled exactly once"
    );
    let d = &deliveries[0];
    assert_eq!(
        d.message_id,
        Some(m.id),
        "event bus: the delivery's message id must be the outbox message id"
    );
    assert_eq!(
        d.routing_key, m.routing_key,
        "event bus: the delivery must carry the routing key it was published with"
    );
    assert!(
        !d.redelivered,
        "event bus: a first delivery must not be flagged redelivered"
    );
}

async fn retry_redelivers_until_acknowledged<F: BusFixture + ?Sized>(fixture: &F) {
    let m = message(BOUND_KEYS[0], "retry");
    let handler = Arc::new(ScriptedHandler::new().on(
        body(&m),
        vec![HandleOutcome::Retry("transient".to_owned())],
        HandleOutcome::Ack,
    ));
    let consumer = fixture.start_consumer(handler.clone()).await;
    publish(fixture, std::slice::from_ref(&m)).await;
    let redelivered = holds_within(WAIT, || handler.deliveries_of(body(&m)).len() >= 2).await;
    settle().await;
    consumer.stop().await;
    assert!(
        redelivered,
        "event bus: a message answered with Retry must be delivered again"
    );
    let deliveries = handler.deliveries_of(body(&m));
    assert_eq!(
        deliveries.len(),
        2,
        "event bus: once the redelivery is acknowledged the message must not come back"
    );
    assert!(
        deliveries[1].redelivered,
        "event bus: a redelivery must be flagged redelivered"
    );
    assert_eq!(
        deliveries[1].message_id,
        Some(m.id),
        "event bus: a redelivery must keep the message id"
    );
    assert_eq!(
        deliveries[1].routing_key, m.routing_key,
        "event bus: a redelivery must keep the routing key it was published with"
    );
}

async fn dead_letter_moves_exactly_that_message<F: BusFixture + ?Sized>(fixture: &F) {
    let (poison, next) = (
        message(BOUND_KEYS[0], "dead-letter"),
        message(BOUND_KEYS[0], "after"),
    );
    let handler = Arc::new(ScriptedHandler::new().on(
        body(&poison),
        vec![],
        HandleOutcome::DeadLetter("malformed".to_owned()),
    ));
    let consumer = fixture.start_consumer(handler.clone()).await;
    publish(fixture, &[poison.clone(), next.clone()]).await;
    let next_handled = holds_within(WAIT, || !handler.deliveries_of(body(&next)).is_empty()).await;
    let dead = dead_letters_until(fixture, body(&poison)).await;
    settle().await;
    consumer.stop().await;
    assert!(
        next_handled,
        "event bus: the message after a dead-lettered one must still be handled"
    );
    assert_eq!(
        dead,
        vec![body(&poison).to_vec()],
        "event bus: DeadLetter must put exactly that message's body in the dead-letter queue"
    );
    assert_eq!(
        handler.deliveries_of(body(&poison)).len(),
        1,
        "event bus: a dead-lettered message must not be redelivered"
    );
    assert_eq!(
        handler.deliveries_of(body(&next)).len(),
        1,
        "event bus: an acknowledged message must be handled exactly once"
    );
}

async fn a_message_that_keeps_failing_is_dead_lettered_after_the_limit<F: BusFixture + ?Sized>(
    fixture: &F,
) {
    let limit = fixture.delivery_limit();
    let m = message(BOUND_KEYS[1], "always-retry");
    let handler = Arc::new(ScriptedHandler::new().on(
        body(&m),
        vec![],
        HandleOutcome::Retry("still failing".to_owned()),
    ));
    let consumer = fixture.start_consumer(handler.clone()).await;
    publish(fixture, std::slice::from_ref(&m)).await;
    let dead = dead_letters_until(fixture, body(&m)).await;
    settle().await;
    consumer.stop().await;
    assert_eq!(
        dead,
        vec![body(&m).to_vec()],
        "event bus: a message that keeps failing with Retry must land in the dead-letter queue \
         after the delivery limit ({limit})"
    );
    let deliveries = handler.deliveries_of(body(&m));
    assert_eq!(
        deliveries.len() as u32,
        limit + 1,
        "event bus: a message that keeps failing must be handled delivery_limit + 1 times \
         (limit {limit}), then no more"
    );
    assert!(
        deliveries.iter().skip(1).all(|d| d.redelivered),
        "event bus: every redelivery must be flagged redelivered"
    );
}

async fn an_unroutable_message_is_refused<F: BusFixture + ?Sized>(fixture: &F) {
    let handler = Arc::new(ScriptedHandler::new());
    let consumer = fixture.start_consumer(handler.clone()).await;
    let (routed, lost) = (
        message(BOUND_KEYS[0], "routed"),
        message(UNBOUND_KEY, "unroutable"),
    );
    let results = fixture
        .publisher()
        .publish_batch(&[routed.clone(), lost.clone()])
        .await;
    let delivered = holds_within(WAIT, || !handler.deliveries_of(body(&routed)).is_empty()).await;
    settle().await;
    consumer.stop().await;
    assert_eq!(
        results.len(),
        2,
        "event bus: publish_batch must answer once per message"
    );
    assert!(
        results[0].is_ok(),
        "event bus: a message on a bound key must be confirmed even when another message of the \
         batch is unroutable: {:?}",
        results[0]
    );
    assert!(
        matches!(&results[1], Err(PublishError::Unroutable(id)) if *id == lost.id),
        "event bus: a message on a key no queue is bound to must be Err(Unroutable({})), got \
         {:?}",
        lost.id,
        results[1]
    );
    assert!(
        delivered,
        "event bus: the routed message of a batch with an unroutable one must be delivered"
    );
    assert!(
        handler.deliveries_of(body(&lost)).is_empty(),
        "event bus: an unroutable message must not be delivered"
    );
}
