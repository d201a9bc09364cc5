//! The event bus rules about keeping up: several messages are handled at once, and neither a
//! slow message nor one waiting for its retry holds up the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{BOUND_KEYS, BusFixture, ScriptedHandler, body, message, publish, settle};
use crate::contracts::{WAIT, holds_within};
use domain::MessageId;
use ports::{HandleOutcome, InboundMessage, MessageHandler};

/// Longest 99 % of the messages may wait while another one is failing.
pub const MAX_HOLD_UP: Duration = Duration::from_millis(100);
/// Longest any message may wait. A message held up behind the failing one would wait out one
/// of its retry pauses, most of which last seconds; the slack above [`MAX_HOLD_UP`] is for the
/// scheduling noise of a shared machine running the whole test suite at once.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

pub(super) async fn every_message_is_handled_once_with_several_in_flight<F: BusFixture + ?Sized>(
    fixture: &F,
) {
    let handler = Arc::new(ScriptedHandler::new());
    let consumer = fixture.start_consumer(handler.clone()).await;
    let messages: Vec<_> = (0..60)
        .map(|i| message(BOUND_KEYS[i % 2], &format!("many-{i}")))
        .collect();
    // Three batches published back to back: the consumer sees many messages at once.
    for chunk in messages.chunks(20) {
        publish(fixture, chunk).await;
    }
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    let handled = || -> Vec<MessageId> {
        handler
            .deliveries()
            .iter()
            .filter_map(|d| d.message_id)
            .filter(|id| ids.contains(id))
            .collect()
    };
    let all = holds_within(WAIT, || handled().len() >= ids.len()).await;
    settle().await;
    consumer.stop().await;
    assert!(
        all,
        "event bus: every published message must be handled ({} of {})",
        handled().len(),
        ids.len()
    );
    let mut seen = handled();
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        seen, expected,
        "event bus: each acknowledged message must be handled exactly once"
    );
}

/// Holds the delivery of one body until another body has been handled.
struct Gate {
    slow: Vec<u8>,
    fast: Vec<u8>,
    opened: Notify,
    fast_seen: Mutex<bool>,
    slow_waited: Mutex<Option<bool>>,
}

#[async_trait]
impl MessageHandler for Gate {
    fn routing_keys(&self) -> Vec<&'static str> {
        BOUND_KEYS.to_vec()
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        if message.body == self.fast {
            *self.fast_seen.lock().expect("unpoisoned") = true;
            self.opened.notify_waiters();
        } else if message.body == self.slow {
            let opened = self.opened.notified();
            let seen = *self.fast_seen.lock().expect("unpoisoned");
            let got_through = seen || tokio::time::timeout(WAIT, opened).await.is_ok();
            *self.slow_waited.lock().expect("unpoisoned") = Some(got_through);
        }
        HandleOutcome::Ack
    }
}

pub(super) async fn a_slow_message_holds_up_no_other<F: BusFixture + ?Sized>(fixture: &F) {
    let (slow, fast) = (
        message(BOUND_KEYS[0], "slow"),
        message(BOUND_KEYS[1], "fast"),
    );
    let gate = Arc::new(Gate {
        slow: body(&slow).to_vec(),
        fast: body(&fast).to_vec(),
        opened: Notify::new(),
        fast_seen: Mutex::new(false),
        slow_waited: Mutex::new(None),
    });
    let consumer = fixture.start_consumer(gate.clone()).await;
    // The in-process bus confirms a message once it is handled: publish the slow one without
    // waiting for it.
    let publisher = fixture.publisher();
    let slow_published = tokio::spawn(async move { publisher.publish_batch(&[slow]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    publish(fixture, std::slice::from_ref(&fast)).await;
    let done = holds_within(WAIT, || {
        gate.slow_waited.lock().expect("unpoisoned").is_some()
    })
    .await;
    let _ = slow_published.await;
    consumer.stop().await;
    assert!(done, "event bus: the slow message must be handled");
    assert_eq!(
        *gate.slow_waited.lock().expect("unpoisoned"),
        Some(true),
        "event bus: a message published after one still being handled must be handled meanwhile"
    );
}

/// Fails one body transiently until a deadline, acknowledges everything else, and notes when
/// each body was first handled.
struct FailsUntil {
    victim: Vec<u8>,
    until: Instant,
    first_seen: Mutex<HashMap<Vec<u8>, Instant>>,
    victim_tries: Mutex<u32>,
}

#[async_trait]
impl MessageHandler for FailsUntil {
    fn routing_keys(&self) -> Vec<&'static str> {
        BOUND_KEYS.to_vec()
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        let now = Instant::now();
        self.first_seen
            .lock()
            .expect("unpoisoned")
            .entry(message.body.clone())
            .or_insert(now);
        if message.body == self.victim {
            *self.victim_tries.lock().expect("unpoisoned") += 1;
            if now < self.until {
                return HandleOutcome::Retry("the victim's dependency is down".to_owned());
            }
        }
        HandleOutcome::Ack
    }
}

/// While one message fails transiently for `failing_for`, a message published every 100 ms
/// is handled within [`MAX_HOLD_UP`] of its publication (99 % of them; all within
/// [`MAX_WAIT`]), and the failing one is retried
/// meanwhile (not dead-lettered). The fixture's delivery limit must allow the retries of that
/// period.
pub async fn a_message_failing_for_a_while_holds_up_no_other<F: BusFixture + ?Sized>(
    fixture: &F,
    failing_for: Duration,
) {
    let victim = message(BOUND_KEYS[0], "victim");
    let handler = Arc::new(FailsUntil {
        victim: body(&victim).to_vec(),
        until: Instant::now() + failing_for,
        first_seen: Mutex::new(HashMap::new()),
        victim_tries: Mutex::new(0),
    });
    let consumer = fixture.start_consumer(handler.clone()).await;
    let publisher = fixture.publisher();
    let victim_published = tokio::spawn(async move { publisher.publish_batch(&[victim]).await });
    let mut delays = Vec::new();
    let mut unhandled = 0;
    let mut i = 0;
    while Instant::now() < handler.until {
        let m = message(BOUND_KEYS[i % 2], &format!("bystander-{i}"));
        i += 1;
        let published_at = Instant::now();
        publish(fixture, std::slice::from_ref(&m)).await;
        let seen = || {
            handler
                .first_seen
                .lock()
                .expect("unpoisoned")
                .get(body(&m))
                .copied()
        };
        if holds_within(WAIT, || seen().is_some()).await {
            delays.extend(seen().map(|at| at.saturating_duration_since(published_at)));
        } else {
            unhandled += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let victim_tries = *handler.victim_tries.lock().expect("unpoisoned");
    let dead = fixture.dead_letters().await;
    consumer.stop().await;
    victim_published.abort();
    assert_eq!(
        unhandled, 0,
        "event bus: every message published while another fails must be handled"
    );
    delays.sort();
    let slowest = delays.last().copied().unwrap_or_default();
    let p99 = delays
        .get(delays.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or_default();
    assert!(
        p99 <= MAX_HOLD_UP && slowest <= MAX_WAIT,
        "event bus: messages must not wait behind a failing one: 99 % within {MAX_HOLD_UP:?} \
         (took {p99:?}), all within {MAX_WAIT:?} (slowest {slowest:?}), of {}",
        delays.len()
    );
    assert!(
        victim_tries >= 3,
        "event bus: the failing message must be retried meanwhile (tried {victim_tries} times)"
    );
    assert!(
        dead.is_empty(),
        "event bus: a message still within its retries must not be dead-lettered"
    );
    eprintln!(
        "event bus: {} bystanders handled while one message failed, 99 % within {p99:?}, \
         slowest after {slowest:?}; the failing one was tried {victim_tries} times",
        delays.len()
    );
}
