//! [`Consumer`]: feeds one service queue to a [`MessageHandler`], several deliveries at a time.
//!
//! - Deliveries already waiting are handed over together ([`MessageHandler::handle_batch`], up
//!   to [`Dispatch::batch_size`]), and up to [`Dispatch::concurrency`] batches are handled at
//!   once; a lone delivery is never held back to fill a batch.
//! - Manual acknowledgement, sent only once the handler has returned (it commits its effect and
//!   inbox row first): a crash in between means a redelivery, which the inbox turns into a no-op.
//! - [`HandleOutcome::DeadLetter`] rejects without requeue, so the broker moves the message to the
//!   queue's DLQ. [`HandleOutcome::Retry`] parks a copy in a retry queue (see [`super::retry`])
//!   and acknowledges the original, so the wait holds up no other message; past the delivery
//!   limit it dead-letters instead.
//! - A lost connection is re-opened with exponential backoff, re-declaring the topology, until
//!   shutdown.
//! - On shutdown the deliveries being handled are finished and settled; deliveries prefetched
//!   but not yet handled return to the queue when the channel closes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use ports::messaging::{Dispatch, MessageHandler};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, jitter};
use super::dispatch::Dispatcher;
use super::{Topology, connect, redact_url, short};

/// Default first delay before reconnecting; doubled after each failed attempt.
pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Default ceiling of the reconnect delay.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Consumes a service's queue and hands each delivery to a handler. Build it, then spawn
/// [`Consumer::run`].
pub struct Consumer {
    url: String,
    connection_name: String,
    topology: Topology,
    handler: Arc<dyn MessageHandler>,
    dispatch: Dispatch,
    prefetch: Option<u16>,
    reconnect_min: Duration,
    reconnect_max: Duration,
}

/// Why a session (one connection's lifetime) ended.
enum SessionEnd {
    /// The shutdown token was cancelled.
    Shutdown,
    /// The connection, the channel or the consumer failed.
    Lost(anyhow::Error),
}

impl Consumer {
    /// A consumer of `topology.queue` at `url`, connecting as `connection_name`.
    pub fn new(
        url: impl Into<String>,
        connection_name: impl Into<String>,
        topology: Topology,
        handler: Arc<dyn MessageHandler>,
    ) -> Self {
        Self {
            url: url.into(),
            connection_name: connection_name.into(),
            topology,
            handler,
            dispatch: Dispatch::default(),
            prefetch: None,
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
        }
    }

    /// Sets how many deliveries are handed over at once and how many batches run together.
    #[must_use]
    pub fn with_dispatch(mut self, dispatch: Dispatch) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// Sets how many unacknowledged deliveries the broker may push ahead (at least 1; by
    /// default [`Dispatch::prefetch`]).
    #[must_use]
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = Some(prefetch.max(1));
        self
    }

    /// Sets the pause before a [`HandleOutcome::Retry`] goes back to the queue (the
    /// topology's retry queues follow it).
    #[must_use]
    pub fn with_retry_delay(mut self, retry_delay: Duration) -> Self {
        self.topology.retry_delay = retry_delay;
        self
    }

    fn prefetch(&self) -> u16 {
        self.prefetch.unwrap_or_else(|| {
            u16::try_from(self.dispatch.prefetch())
                .unwrap_or(u16::MAX)
                .max(1)
        })
    }

    /// Sets the reconnect backoff: `min` doubled after each failure up to `max`.
    #[must_use]
    pub fn with_reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Consumes until `shutdown` is cancelled, reconnecting whenever the connection is lost.
    /// Returns `Ok` once stopped; the broker being unreachable is not an error, only retried.
    #[tracing::instrument(skip_all, fields(queue = %self.topology.queue))]
    /// Returns `Err` only for a configuration that can never work (a name longer than AMQP
    /// allows).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.validate_names()?;
        self.warn_about_unbound_keys();
        let mut backoff = Backoff::new(self.reconnect_min, self.reconnect_max);
        // Set while the broker is unreachable, so that loss and recovery are each logged once,
        // not once per attempt.
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            let opened = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                opened = self.open() => opened,
            };
            match opened {
                Ok((connection, channel)) => {
                    match failing_since.take() {
                        Some(since) => tracing::info!(
                            attempts = backoff.attempts(),
                            down_for = ?since.elapsed(),
                            "consumer reconnected"
                        ),
                        None => tracing::info!(
                            broker = %redact_url(&self.url),
                            "consumer started"
                        ),
                    }
                    backoff.reset();
                    match self.consume(&connection, &channel, &shutdown).await {
                        SessionEnd::Shutdown => {
                            close(connection, channel).await;
                            tracing::info!("consumer stopped");
                            return Ok(());
                        }
                        SessionEnd::Lost(error) => {
                            tracing::warn!(
                                error = format!("{error:#}"),
                                "consumer lost its connection; reconnecting"
                            );
                            failing_since = Some(tokio::time::Instant::now());
                        }
                    }
                }
                Err(error) => {
                    if failing_since.is_none() {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "consumer cannot connect and declare its topology; retrying"
                        );
                        failing_since = Some(tokio::time::Instant::now());
                    } else {
                        tracing::debug!(error = format!("{error:#}"), "reconnect attempt failed");
                    }
                }
            }
            let delay = jitter(backoff.next_delay());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Connects, declares the topology and sets the prefetch window.
    async fn open(&self) -> anyhow::Result<(Connection, Channel)> {
        let connection = connect(&self.url, &self.connection_name).await?;
        let channel = connection
            .create_channel()
            .await
            .context("failed to open a consumer channel")?;
        self.topology.declare(&channel).await?;
        channel
            .basic_qos(self.prefetch(), BasicQosOptions::default())
            .await
            .context("failed to set the prefetch count")?;
        Ok((connection, channel))
    }

    /// Runs one session: consumes until shutdown or until the connection fails, then waits for
    /// the batches being handled to be settled.
    async fn consume(
        &self,
        connection: &Connection,
        channel: &Channel,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let dispatcher = match self.dispatcher(connection).await {
            Ok(dispatcher) => dispatcher,
            Err(error) => return SessionEnd::Lost(error),
        };
        let mut deliveries = match self.subscribe(channel).await {
            Ok(deliveries) => deliveries,
            Err(error) => return SessionEnd::Lost(error),
        };
        let concurrency = self.dispatch.concurrency.max(1);
        let batch_size = self.dispatch.batch_size.max(1);
        let mut in_flight = JoinSet::new();
        let end = loop {
            // A free slot first: the broker keeps the rest of the prefetch window meanwhile.
            if in_flight.len() >= concurrency {
                if let Some(Err(error)) = joined(in_flight.join_next().await) {
                    break SessionEnd::Lost(error);
                }
                continue;
            }
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => break SessionEnd::Shutdown,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Some(Err(error)) = joined(Some(done)) {
                        break SessionEnd::Lost(error);
                    }
                    continue;
                }
                next = deliveries.next() => next,
            };
            let first = match delivered(next, connection, channel) {
                Ok(delivery) => delivery,
                Err(error) => break SessionEnd::Lost(error),
            };
            let mut batch = vec![first];
            // Only what has already arrived joins the batch: a lone message never waits.
            let mut lost = None;
            while batch.len() < batch_size {
                match deliveries.next().now_or_never() {
                    None => break,
                    Some(next) => match delivered(next, connection, channel) {
                        Ok(delivery) => batch.push(delivery),
                        Err(error) => {
                            lost = Some(error);
                            break;
                        }
                    },
                }
            }
            in_flight.spawn(dispatcher.clone().run(batch));
            if let Some(error) = lost {
                break SessionEnd::Lost(error);
            }
        };
        // Every batch taken is finished and settled, on shutdown as on a lost connection (where
        // settling fails and the broker redelivers).
        while let Some(done) = in_flight.join_next().await {
            if let Some(Err(error)) = joined(Some(done)) {
                tracing::debug!(error = format!("{error:#}"), "a batch was not settled");
            }
        }
        end
    }

    /// The handler, the topology and a confirming channel for the retry copies.
    async fn dispatcher(&self, connection: &Connection) -> anyhow::Result<Dispatcher> {
        let retry_channel = connection
            .create_channel()
            .await
            .context("failed to open the retry channel")?;
        retry_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("failed to enable confirms on the retry channel")?;
        Ok(Dispatcher {
            handler: self.handler.clone(),
            topology: Arc::new(self.topology.clone()),
            retry_channel,
        })
    }

    async fn subscribe(&self, channel: &Channel) -> anyhow::Result<lapin::Consumer> {
        // A tag naming the service shows who consumes in the management UI; should the name be
        // too long for one, an empty tag lets the broker generate it.
        let consumer_tag = short(&format!(
            "{}-{}",
            self.connection_name,
            uuid::Uuid::now_v7().simple()
        ))
        .unwrap_or_default();
        channel
            .basic_consume(
                short(&self.topology.queue)?,
                consumer_tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("failed to consume from `{}`", self.topology.queue))
    }

    fn validate_names(&self) -> anyhow::Result<()> {
        let topology = &self.topology;
        for name in [
            &topology.exchange,
            &topology.dead_letter_exchange,
            &topology.redelivery_exchange,
            &topology.queue,
            &topology.dlq,
            &self.connection_name,
        ]
        .into_iter()
        .chain(&topology.routing_keys)
        {
            short(name).context("invalid consumer configuration")?;
        }
        Ok(())
    }

    fn warn_about_unbound_keys(&self) {
        let unbound: Vec<&str> = self
            .handler
            .routing_keys()
            .into_iter()
            .filter(|key| !self.topology.routing_keys.iter().any(|bound| bound == key))
            .collect();
        if !unbound.is_empty() {
            tracing::warn!(
                ?unbound,
                "the handler expects routing keys the queue is not bound to"
            );
        }
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("url", &redact_url(&self.url))
            .field("connection_name", &self.connection_name)
            .field("topology", &self.topology)
            .field("dispatch", &self.dispatch)
            .field("prefetch", &self.prefetch())
            .finish_non_exhaustive()
    }
}

/// Runs a [`Consumer`] with default reconnect backoff until `shutdown` is cancelled. Meant to be
/// spawned: `tokio::spawn(run_consumer(...))`.
pub async fn run_consumer(
    url: String,
    connection_name: String,
    topology: Topology,
    handler: Arc<dyn MessageHandler>,
    dispatch: Dispatch,
    prefetch: u16,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Consumer::new(url, connection_name, topology, handler)
        .with_dispatch(dispatch)
        .with_prefetch(prefetch)
        .run(shutdown)
        .await
}

/// A delivery from the consumer stream, or why the session is over.
fn delivered(
    next: Option<lapin::Result<Delivery>>,
    connection: &Connection,
    channel: &Channel,
) -> anyhow::Result<Delivery> {
    match next {
        Some(Ok(delivery)) => Ok(delivery),
        Some(Err(error)) => Err(anyhow::Error::new(error).context("the consumer failed")),
        None => Err(anyhow!(
            "the consumer was cancelled (connection {}, channel {})",
            if connection.status().connected() {
                "open"
            } else {
                "closed"
            },
            if channel.status().connected() {
                "open"
            } else {
                "closed"
            },
        )),
    }
}

/// A finished batch's result; a panic inside one is reported like a settlement failure.
fn joined(
    done: Option<Result<anyhow::Result<()>, tokio::task::JoinError>>,
) -> Option<anyhow::Result<()>> {
    done.map(|joined| joined.unwrap_or_else(|error| Err(anyhow!("a batch task failed: {error}"))))
}

/// Closes the channel first so the broker requeues the prefetched deliveries right away, then the
/// connection. Failures are only logged: the broker cleans up after a dead connection anyway.
async fn close(connection: Connection, channel: Channel) {
    if let Err(error) = channel.close(200, "OK".into()).await {
        tracing::debug!(%error, "closing the consumer channel failed");
    }
    if let Err(error) = connection.close(200, "OK".into()).await {
        tracing::debug!(%error, "closing the consumer connection failed");
    }
}
