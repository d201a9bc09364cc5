//! The outbox relay: publishes committed outbox rows and marks each one published only after
//! the broker confirmed it.
//!
//! Two ways in:
//! - **The hand-over.** A commit that wrote outbox rows hands its messages to the
//!   [`OutboxSignal`]; the relay publishes them at once and marks them with one `UPDATE`. No
//!   claim, no transaction held while the broker confirms: this is the path of every message in
//!   normal operation.
//!   A message the broker did not confirm is put back and tried again after the pause.
//! - **The claim.** Rows the hand-over did not deliver (left by a crash or by publishes that
//!   kept failing, written by another replica, or too many to hold in memory) are claimed from the table once they
//!   are [`RelayOptions::claim_after`] old, with `SKIP LOCKED` so that replicas share them. A
//!   pass runs every [`RelayOptions::poll_interval`], and at once when a commit made rows
//!   publishable again without handing them over.
//!
//! A row is the hand-over's for half of `claim_after` (older messages are dropped from it and
//! left to the claim), so the two paths publish the same row twice only when a confirmed row
//! could not be marked in time; consumers deduplicate by message id anyway. Several passes
//! run at once. Messages of different passes (as of different replicas) may reach the broker
//! out of commit order; every consumer already copes with that (the inventory's cancel
//! tombstones, the inbox, versioned order updates). Stops between passes when shut down.
//! Published rows are purged after their retention.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::events::OutboxMessage;
use crate::messaging::{EventPublisher, PublishError};
use crate::store::OutboxStore;

/// Most messages the hand-over holds; beyond it, commits leave their rows to the claim.
const HANDOVER_CAPACITY: usize = 8_192;

/// Wakes the relay after a commit that wrote outbox rows, and hands it the committed messages.
/// Clones share one signal.
#[derive(Debug, Clone, Default)]
pub struct OutboxSignal(Arc<Signal>);

#[derive(Debug, Default)]
struct Signal {
    wake: Notify,
    state: Mutex<Handover>,
}

#[derive(Debug, Default)]
struct Handover {
    /// Committed messages not yet taken, each with the moment it was handed over.
    messages: VecDeque<(Instant, OutboxMessage)>,
    /// Rows are waiting that only a claim will find.
    claim_requested: bool,
}

impl OutboxSignal {
    /// A new signal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the relay for a claim pass: a commit made rows publishable without handing them
    /// over (a wake-up before the relay waits is kept, never lost).
    pub fn notify(&self) {
        self.handover().claim_requested = true;
        self.0.wake.notify_one();
    }

    /// Hands over the messages of a commit (call only after it succeeded) and wakes the relay.
    /// When the hand-over is full they are left to the claim.
    pub fn committed(&self, messages: Vec<OutboxMessage>) {
        if messages.is_empty() {
            return;
        }
        {
            let mut handover = self.handover();
            if handover.messages.len() + messages.len() > HANDOVER_CAPACITY {
                handover.claim_requested = true;
            } else {
                let now = Instant::now();
                handover
                    .messages
                    .extend(messages.into_iter().map(|message| (now, message)));
            }
        }
        self.0.wake.notify_one();
    }

    /// Waits for the next wake-up.
    pub async fn notified(&self) {
        self.0.wake.notified().await;
    }

    /// Takes up to `max` handed-over messages, oldest first, dropping those handed over more
    /// than `fresh_for` ago (the claim publishes them).
    fn take(&self, max: usize, fresh_for: Duration) -> Vec<(Instant, OutboxMessage)> {
        let mut handover = self.handover();
        while handover
            .messages
            .front()
            .is_some_and(|(at, _)| at.elapsed() > fresh_for)
        {
            handover.messages.pop_front();
        }
        let count = max.min(handover.messages.len());
        let taken = handover.messages.drain(..count).collect();
        if !handover.messages.is_empty() {
            // More is waiting: another relay pass may take it at once.
            self.0.wake.notify_one();
        }
        taken
    }

    /// Puts back messages a pass could not publish, ahead of the others and with their
    /// original hand-over time: the next pass tries them again until they are left to the
    /// claim like any other.
    fn put_back(&self, entries: Vec<(Instant, OutboxMessage)>) {
        let mut handover = self.handover();
        for entry in entries.into_iter().rev() {
            handover.messages.push_front(entry);
        }
    }

    /// Whether a claim pass was asked for since the last call.
    fn take_claim_request(&self) -> bool {
        std::mem::take(&mut self.handover().claim_requested)
    }

    fn handover(&self) -> std::sync::MutexGuard<'_, Handover> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long a batch in flight may still take once shutdown began.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Relay tuning.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Rows claimed per pass.
    pub batch_size: u32,
    /// Passes running at once.
    pub concurrency: usize,
    /// How often rows the hand-over did not deliver are looked for.
    pub poll_interval: Duration,
    /// How old a row must be before a claim pass takes it: until then it is the hand-over's.
    pub claim_after: Duration,
    /// Longest pause after failures (the pause doubles from 100 ms up to this).
    pub max_backoff: Duration,
    /// Published rows older than this are purged.
    pub retention: chrono::Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            concurrency: 4,
            poll_interval: Duration::from_secs(1),
            claim_after: Duration::from_secs(5),
            max_backoff: Duration::from_secs(10),
            retention: chrono::Duration::days(7),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Rows claimed, or messages taken from the hand-over.
    pub claimed: usize,
    /// Rows confirmed and marked published.
    pub published: usize,
}

/// Claims and publishes one batch of every unpublished row, whatever its age. Confirmed rows
/// are marked even when others failed; the failed ones stay unpublished and are retried by a
/// later pass.
pub async fn publish_once(
    store: &dyn OutboxStore,
    publisher: &dyn EventPublisher,
    batch_size: u32,
) -> anyhow::Result<PassReport> {
    publish_claimed(store, publisher, batch_size, Duration::ZERO).await
}

/// [`publish_once`] for the rows at least `min_age` old.
async fn publish_claimed(
    store: &dyn OutboxStore,
    publisher: &dyn EventPublisher,
    batch_size: u32,
    min_age: Duration,
) -> anyhow::Result<PassReport> {
    let min_age = chrono::Duration::from_std(min_age).unwrap_or(chrono::Duration::MAX);
    let mut batch = store.claim(batch_size, min_age).await?;
    let messages = batch.messages().to_vec();
    if messages.is_empty() {
        batch.commit().await?;
        return Ok(PassReport {
            claimed: 0,
            published: 0,
        });
    }
    let (confirmed, failure) = publish(publisher, &messages).await;
    batch.mark_published(&confirmed).await?;
    batch.commit().await?;
    debug!(
        claimed = messages.len(),
        published = confirmed.len(),
        "outbox claim pass"
    );
    report(messages.len(), confirmed.len(), failure)
}

/// Publishes messages handed over by their commit and marks the confirmed ones published;
/// also returns the ids the broker confirmed.
async fn publish_handed(
    store: &dyn OutboxStore,
    publisher: &dyn EventPublisher,
    messages: &[OutboxMessage],
) -> (anyhow::Result<PassReport>, Vec<domain::MessageId>) {
    let (confirmed, failure) = publish(publisher, messages).await;
    let result = match store.mark_published(&confirmed).await {
        Ok(()) => report(messages.len(), confirmed.len(), failure),
        Err(e) => Err(e.into()),
    };
    (result, confirmed)
}

/// Publishes `messages`: the ids the broker confirmed, and the first failure.
async fn publish(
    publisher: &dyn EventPublisher,
    messages: &[OutboxMessage],
) -> (Vec<domain::MessageId>, Option<PublishError>) {
    let results = publisher.publish_batch(messages).await;
    let mut confirmed = Vec::with_capacity(messages.len());
    let mut first_error: Option<PublishError> = None;
    for (message, result) in messages.iter().zip(results) {
        match result {
            Ok(()) => confirmed.push(message.id),
            Err(e) => {
                warn!(message_id = %message.id, routing_key = %message.routing_key, error = %e, "publish failed; will retry");
                first_error.get_or_insert(e);
            }
        }
    }
    crate::metrics::count(crate::metrics::OUTBOX_PUBLISHED, confirmed.len() as u64);
    (confirmed, first_error)
}

fn report(
    attempted: usize,
    published: usize,
    failure: Option<PublishError>,
) -> anyhow::Result<PassReport> {
    match failure {
        Some(e) => Err(anyhow::Error::new(e).context(format!(
            "{} of {attempted} messages not confirmed",
            attempted - published
        ))),
        None => Ok(PassReport {
            claimed: attempted,
            published,
        }),
    }
}

/// Runs the relay until `shutdown` is cancelled: `options.concurrency` passes at once, the
/// first of which also purges.
pub async fn run_relay(
    store: Arc<dyn OutboxStore>,
    publisher: Arc<dyn EventPublisher>,
    signal: OutboxSignal,
    options: RelayOptions,
    shutdown: CancellationToken,
) {
    info!(concurrency = options.concurrency, "outbox relay started");
    let workers = (0..options.concurrency.max(1)).map(|worker| {
        relay_worker(
            worker == 0,
            store.as_ref(),
            publisher.as_ref(),
            &signal,
            &options,
            &shutdown,
        )
    });
    futures_util::future::join_all(workers).await;
    info!("outbox relay stopped");
}

/// What a relay loop does next.
enum Pass {
    /// Publish messages from the hand-over (with their hand-over times).
    Handed(Vec<Instant>, Vec<OutboxMessage>),
    /// Claim rows from the table.
    Claim,
}

/// One relay loop; `purges` for the one that also purges published rows.
async fn relay_worker(
    purges: bool,
    store: &dyn OutboxStore,
    publisher: &dyn EventPublisher,
    signal: &OutboxSignal,
    options: &RelayOptions,
    shutdown: &CancellationToken,
) {
    let initial_backoff = Duration::from_millis(100);
    let mut backoff = initial_backoff;
    let purge_every = Duration::from_secs(3600);
    let mut last_purge = tokio::time::Instant::now();
    // The first pass claims: rows may have been left by an earlier run.
    let mut next_claim = tokio::time::Instant::now();
    let fresh_for = options.claim_after / 2;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let handed = signal.take(options.batch_size as usize, fresh_for);
        let next = if !handed.is_empty() {
            let (stamps, messages) = handed.into_iter().unzip();
            Pass::Handed(stamps, messages)
        } else if signal.take_claim_request() || tokio::time::Instant::now() >= next_claim {
            Pass::Claim
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = signal.notified() => {}
                _ = tokio::time::sleep_until(next_claim) => {}
            }
            continue;
        };
        // The pass (and its borrow of `next`) ends within this block.
        let (result, confirmed) = {
            let pass = async {
                match &next {
                    Pass::Handed(_, messages) => publish_handed(store, publisher, messages).await,
                    Pass::Claim => (
                        publish_claimed(store, publisher, options.batch_size, options.claim_after)
                            .await,
                        Vec::new(),
                    ),
                }
            };
            tokio::pin!(pass);
            tokio::select! {
                result = &mut pass => result,
                _ = shutdown.cancelled() => {
                    // Let the batch in flight finish briefly; an abandoned batch stays unpublished
                    // and goes out again after the restart (consumers deduplicate).
                    match tokio::time::timeout(SHUTDOWN_GRACE, &mut pass).await {
                        Ok(result) => result,
                        Err(_) => break,
                    }
                }
            }
        };
        let now = tokio::time::Instant::now();
        match result {
            Ok(report) => {
                backoff = initial_backoff;
                if matches!(next, Pass::Claim) {
                    // A full batch: more rows are probably waiting.
                    let full = report.claimed as u32 >= options.batch_size;
                    next_claim = if full {
                        now
                    } else {
                        now + options.poll_interval
                    };
                }
            }
            Err(e) => {
                warn!(error = %format!("{e:#}"), backoff_ms = backoff.as_millis() as u64, "outbox relay pass failed");
                if let Pass::Handed(stamps, messages) = next {
                    // The messages the broker did not confirm are tried again after the
                    // pause (confirmed ones that could not be marked are left to the claim).
                    signal.put_back(
                        stamps
                            .into_iter()
                            .zip(messages)
                            .filter(|(_, m)| !confirmed.contains(&m.id))
                            .collect(),
                    );
                }
                next_claim = next_claim.max(now + backoff);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(options.max_backoff);
            }
        }
        if purges && last_purge.elapsed() >= purge_every {
            last_purge = tokio::time::Instant::now();
            match store.purge_published(options.retention).await {
                Ok(n) if n > 0 => info!(purged = n, "purged published outbox rows"),
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %format!("{:#}", anyhow::Error::from(e)), "outbox purge failed")
                }
            }
        }
    }
}
