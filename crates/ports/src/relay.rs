//! The outbox relay: publishes committed outbox rows (each pass in id order) and marks each one
//! published only after the broker confirmed it. Woken by an [`OutboxSignal`] right after
//! commits; polls as a fallback for rows left by a crash or written by another replica. Several
//! passes run at once, each claiming rows the others do not hold, so that rows committed while
//! a pass waits for the broker's confirms go out at once instead of after it. Stops between
//! batches when shut down. Published rows are purged after their retention.
//!
//! Messages of different passes (as of different replicas) may reach the broker out of commit
//! order; every consumer already copes with that (the inventory's cancel tombstones, the
//! inbox, versioned order updates).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::messaging::{EventPublisher, PublishError};
use crate::store::OutboxStore;

/// Wakes the relay after a commit that wrote outbox rows. Clones share one signal.
#[derive(Debug, Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    /// A new signal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the relay (a wake-up before it waits is kept, never lost).
    pub fn notify(&self) {
        self.0.notify_one();
    }

    /// Waits for the next wake-up.
    pub async fn notified(&self) {
        self.0.notified().await;
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
    /// Fallback poll when no signal arrives.
    pub poll_interval: Duration,
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
            max_backoff: Duration::from_secs(10),
            retention: chrono::Duration::days(7),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Rows confirmed and marked published.
    pub published: usize,
}

/// Publishes one batch. Confirmed rows are marked even when others failed; the failed ones
/// stay unpublished and are retried by a later pass.
pub async fn publish_once(
    store: &dyn OutboxStore,
    publisher: &dyn EventPublisher,
    batch_size: u32,
) -> anyhow::Result<PassReport> {
    let mut batch = store.claim(batch_size).await?;
    let messages = batch.messages().to_vec();
    if messages.is_empty() {
        batch.commit().await?;
        return Ok(PassReport {
            claimed: 0,
            published: 0,
        });
    }
    let results = publisher.publish_batch(&messages).await;
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
    batch.mark_published(&confirmed).await?;
    batch.commit().await?;
    debug!(
        claimed = messages.len(),
        published = confirmed.len(),
        "outbox pass"
    );
    match first_error {
        Some(e) => Err(anyhow::Error::new(e).context(format!(
            "{} of {} messages not confirmed",
            messages.len() - confirmed.len(),
            messages.len()
        ))),
        None => Ok(PassReport {
            claimed: messages.len(),
            published: confirmed.len(),
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
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let pass = publish_once(store, publisher, options.batch_size);
        tokio::pin!(pass);
        let result = tokio::select! {
            result = &mut pass => result,
            _ = shutdown.cancelled() => {
                // Let the batch in flight finish briefly; an abandoned batch stays unpublished
                // and goes out again after the restart (consumers deduplicate).
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut pass).await {
                    Ok(result) => result,
                    Err(_) => break,
                }
            }
        };
        match result {
            Ok(report) => {
                backoff = initial_backoff;
                if report.claimed as u32 >= options.batch_size {
                    // A full batch: more rows are probably waiting.
                    continue;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = signal.notified() => {}
                    _ = tokio::time::sleep(options.poll_interval) => {}
                }
            }
            Err(e) => {
                warn!(error = %format!("{e:#}"), backoff_ms = backoff.as_millis() as u64, "outbox relay pass failed");
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
