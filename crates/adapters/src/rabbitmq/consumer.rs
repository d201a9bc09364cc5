//! [`Consumer`]: feeds one service queue to a [`MessageHandler`], one delivery at a time.
//!
//! - Manual acknowledgement, sent only once the handler has returned (it commits its effect and
//!   inbox row first): a crash in between means a redelivery, which the inbox turns into a no-op.
//! - [`HandleOutcome::DeadLetter`] rejects without requeue, so the broker moves the message to the
//!   queue's DLQ. [`HandleOutcome::Retry`] waits `retry_delay`, then requeues; the quorum queue's
//!   delivery limit dead-letters a message that keeps failing.
//! - A lost connection is re-opened with exponential backoff, re-declaring the topology, until
//!   shutdown.
//! - On shutdown the in-flight delivery is finished and acknowledged; deliveries prefetched but
//!   not yet handled return to the queue when the channel closes.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use ports::messaging::{HandleOutcome, InboundMessage, MessageHandler};

use tokio_util::sync::CancellationToken;

use domain::MessageId;

use super::backoff::{Backoff, jitter};
use super::{Topology, connect, redact_url, short};

/// Default number of unacknowledged deliveries the broker may push ahead of the handler. Enough
/// to hide the network round trip between two messages; small enough that a stopping consumer
/// hands little back.
pub const DEFAULT_PREFETCH: u16 = 16;
/// Default pause before a message whose handling failed transiently goes back to the queue.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
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
    prefetch: u16,
    retry_delay: Duration,
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
            prefetch: DEFAULT_PREFETCH,
            retry_delay: DEFAULT_RETRY_DELAY,
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
        }
    }

    /// Sets how many unacknowledged deliveries the broker may push ahead (at least 1).
    #[must_use]
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Sets the pause before a [`HandleOutcome::Retry`] goes back to the queue.
    #[must_use]
    pub fn with_retry_delay(mut self, retry_delay: Duration) -> Self {
        self.retry_delay = retry_delay;
        self
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
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .context("failed to set the prefetch count")?;
        Ok((connection, channel))
    }

    /// Runs one session: consumes until shutdown or until the connection fails.
    async fn consume(
        &self,
        connection: &Connection,
        channel: &Channel,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        // A tag naming the service shows who consumes in the management UI; should the name be
        // too long for one, an empty tag lets the broker generate it.
        let consumer_tag = short(&format!(
            "{}-{}",
            self.connection_name,
            uuid::Uuid::now_v7().simple()
        ))
        .unwrap_or_default();
        let queue = match short(&self.topology.queue) {
            Ok(queue) => queue,
            Err(error) => return SessionEnd::Lost(error),
        };
        let mut deliveries = match channel
            .basic_consume(
                queue,
                consumer_tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        {
            Ok(deliveries) => deliveries,
            Err(error) => {
                return SessionEnd::Lost(
                    anyhow::Error::new(error)
                        .context(format!("failed to consume from `{}`", self.topology.queue)),
                );
            }
        };
        loop {
            // Checked between deliveries only: a delivery being handled is always finished.
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => return SessionEnd::Shutdown,
                next = deliveries.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    return SessionEnd::Lost(
                        anyhow::Error::new(error).context("the consumer failed"),
                    );
                }
                None => {
                    return SessionEnd::Lost(anyhow!(
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
                    ));
                }
            };
            if let Err(error) = self.process(delivery, shutdown).await {
                return SessionEnd::Lost(error);
            }
        }
    }

    /// Hands one delivery to the handler and settles it according to the outcome. An error means
    /// the settlement could not be sent (the channel is gone); the broker then redelivers.
    #[tracing::instrument(
        skip_all,
        fields(
            routing_key = %delivery.routing_key,
            message_id = tracing::field::Empty,
            redelivered = delivery.redelivered,
        )
    )]
    async fn process(
        &self,
        delivery: Delivery,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let message = inbound(&delivery);
        if let Some(id) = &message.message_id {
            tracing::Span::current().record("message_id", tracing::field::display(id));
        }
        // A panicking handler must not take the consumer down with it; the message is retried
        // like any other failure, and dead-lettered by the delivery limit if it keeps panicking.
        let outcome = AssertUnwindSafe(self.handler.handle(&message))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!("message handler panicked");
                HandleOutcome::Retry("the handler panicked".to_owned())
            });
        let settled = match outcome {
            HandleOutcome::Ack => {
                crate::fault::crash_point("consumer.before_ack");
                delivery.ack(BasicAckOptions::default()).await
            }
            HandleOutcome::DeadLetter(reason) => {
                tracing::warn!(%reason, "dead-lettering message");
                delivery.reject(BasicRejectOptions { requeue: false }).await
            }
            HandleOutcome::Retry(reason) => {
                let pause =
                    ports::messaging::retry_pause(self.retry_delay, delivery_count(&delivery));
                tracing::warn!(%reason, retry_in = ?pause, "message will be retried");
                // The pause keeps a failing dependency from turning the requeue into a hot loop,
                // and grows with each delivery. Shutdown cuts it short: the message is requeued
                // at once for another consumer.
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.cancelled() => {}
                }
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
        };
        match settled {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow!(
                "the channel closed before the delivery was settled; the broker will redeliver it"
            )),
            Err(error) => Err(anyhow::Error::new(error).context("failed to settle the delivery")),
        }
    }

    fn validate_names(&self) -> anyhow::Result<()> {
        let topology = &self.topology;
        for name in [
            &topology.exchange,
            &topology.dead_letter_exchange,
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
            .field("prefetch", &self.prefetch)
            .field("retry_delay", &self.retry_delay)
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
    prefetch: u16,
    retry_delay: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Consumer::new(url, connection_name, topology, handler)
        .with_prefetch(prefetch)
        .with_retry_delay(retry_delay)
        .run(shutdown)
        .await
}

/// The port's view of a delivery. An absent or malformed `message_id` becomes `None`: whether
/// such a message is acceptable is the handler's decision, not the transport's.
/// Earlier deliveries of this message: the `x-delivery-count` header a quorum queue adds on
/// redelivery (absent on the first delivery).
fn delivery_count(delivery: &Delivery) -> u32 {
    use lapin::types::AMQPValue;
    let count = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count").cloned());
    match count {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongInt(n)) => u32::try_from(n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongUInt(n)) => n,
        Some(AMQPValue::ShortInt(n)) => u32::try_from(n).unwrap_or(u32::MAX),
        Some(AMQPValue::ShortUInt(n)) => u32::from(n),
        _ => 0,
    }
}

fn inbound(delivery: &Delivery) -> InboundMessage {
    InboundMessage {
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .and_then(|id| MessageId::parse(id.as_str()).ok()),
        routing_key: delivery.routing_key.to_string(),
        body: delivery.data.clone(),
        redelivered: delivery.redelivered,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_without_a_valid_message_id_has_none() {
        let delivery = Delivery::mock(1, "ex".into(), "order.created".into(), true, b"{}".to_vec());
        let message = inbound(&delivery);
        assert_eq!(message.message_id, None);
        assert_eq!(message.routing_key, "order.created");
        assert_eq!(message.body, b"{}");
        assert!(message.redelivered);

        let mut delivery = Delivery::mock(2, "ex".into(), "k".into(), false, Vec::new());
        delivery.properties = delivery
            .properties
            .clone()
            .with_message_id("not-a-uuid".into());
        assert_eq!(inbound(&delivery).message_id, None);

        let id = MessageId::new();
        let mut delivery = Delivery::mock(3, "ex".into(), "k".into(), false, Vec::new());
        delivery.properties = delivery
            .properties
            .clone()
            .with_message_id(id.to_string().into());
        assert_eq!(inbound(&delivery).message_id, Some(id));
    }
}
