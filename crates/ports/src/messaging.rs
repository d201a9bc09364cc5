//! The messaging ports: publishing outbox messages and handling deliveries.

use async_trait::async_trait;

use crate::events::OutboxMessage;
use crate::store::StoreError;
use domain::MessageId;

/// A delivery handed to a [`MessageHandler`].
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The AMQP `message_id` (the envelope id); `None` when the producer sent none.
    pub message_id: Option<MessageId>,
    /// The routing key.
    pub routing_key: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// Whether the broker delivered it before.
    pub redelivered: bool,
    /// The context of the span handling it (the consumer's span, a child of the producer's):
    /// what the handler's own messages continue ([`crate::OutboxMessage::caused_by`]).
    pub trace: Option<crate::TraceContext>,
}

/// What the consumer must do with a delivery once the handler returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleOutcome {
    /// Effect committed, or already applied before: acknowledge.
    Ack,
    /// A transient failure (database down, deadlock): try it again after a pause, without
    /// holding up other messages. The delivery limit bounds the retries, then it is
    /// dead-lettered.
    Retry(String),
    /// A permanent failure (malformed, unknown type, impossible to apply): dead-letter it now.
    DeadLetter(String),
}

impl HandleOutcome {
    /// What a storage failure means for the message being handled: a passing one
    /// ([`StoreError::Unavailable`]: the database unreachable, a deadlock, a lock wait) is
    /// retried; anything else (a constraint violation, a broken contract, bad data) would fail
    /// the same way again, so the message goes to the dead-letter queue at once, for an
    /// operator to look at and replay.
    pub fn after(error: StoreError) -> Self {
        let transient = matches!(error, StoreError::Unavailable(_));
        let reason = format!("{:#}", anyhow::Error::from(error));
        if transient {
            Self::Retry(reason)
        } else {
            Self::DeadLetter(reason)
        }
    }
}

/// A dead-lettered message, as shown to an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterView {
    /// Its message id, when it had one.
    pub message_id: Option<String>,
    /// The routing key it was published with.
    pub routing_key: String,
    /// Its body (UTF-8, lossy).
    pub body: String,
}

/// The dead-letter queue of one service: for operators, to look and to replay.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DeadLetters: Send + Sync + 'static {
    /// How many messages wait, and the oldest `limit` of them (left in place).
    async fn peek(&self, limit: u32) -> anyhow::Result<(u32, Vec<DeadLetterView>)>;
    /// Publishes up to `limit` of the messages waiting now back with their routing key, and
    /// removes them from the dead-letter queue once the broker confirmed each. The consumers'
    /// inbox makes a message applied before harmless. Returns how many were replayed.
    async fn replay(&self, limit: u32) -> anyhow::Result<u32>;
}

/// Longest pause before a failed message goes back to its queue.
pub const MAX_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(30);

/// The pause before a failed message goes back to its queue after `earlier` deliveries:
/// `base`, doubling with each delivery, at most [`MAX_RETRY_PAUSE`], so that a failing
/// dependency gets growing room instead of a hot requeue loop.
pub fn retry_pause(base: std::time::Duration, earlier: u32) -> std::time::Duration {
    base.saturating_mul(1_u32 << earlier.min(16))
        .min(MAX_RETRY_PAUSE.max(base))
}

/// Applies one kind of inbound message. Implementations make the effect idempotent (inbox).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    /// The routing keys this handler consumes (the queue is bound to them).
    fn routing_keys(&self) -> Vec<&'static str>;
    /// Handles one delivery.
    async fn handle(&self, message: &InboundMessage) -> HandleOutcome;

    /// Handles deliveries that arrived together; returns one outcome per message, in order.
    /// Each outcome means what it means for [`MessageHandler::handle`], message by message.
    ///
    /// The default handles them concurrently, one by one. A handler whose work is a database
    /// transaction may apply several in one (an inbox row each, one commit), as long as every
    /// message's effect stays exactly-once and all-or-nothing.
    async fn handle_batch(&self, messages: &[InboundMessage]) -> Vec<HandleOutcome> {
        futures_util::future::join_all(messages.iter().map(|m| self.handle(m))).await
    }
}

/// How a consumer feeds its handler: how many deliveries it hands over at once, and how many
/// such batches run at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    /// Most deliveries handed to [`MessageHandler::handle_batch`] at once (at least 1). Only
    /// deliveries already waiting are batched: a lone message is never held back for company.
    pub batch_size: usize,
    /// Most batches being handled at the same time (at least 1).
    pub concurrency: usize,
}

impl Default for Dispatch {
    /// Batches of up to 32 deliveries, 4 in flight: a transaction per batch amortises the
    /// commit, and a few in flight hide each other's round trips to the database, without
    /// piling up lock waits on the hot rows of a 2-core database.
    fn default() -> Self {
        Self {
            batch_size: 32,
            concurrency: 4,
        }
    }
}

impl Dispatch {
    /// How many unacknowledged deliveries a broker should push ahead: every slot's batch, plus
    /// one batch waiting, so that a freed slot finds work at once.
    pub fn prefetch(&self) -> usize {
        self.batch_size.max(1) * (self.concurrency.max(1) + 1)
    }
}

/// Where one service's inbound messages come from (a broker queue, the in-process bus): the
/// long-running loop that hands each delivery to the service's [`MessageHandler`].
#[async_trait]
pub trait MessageSource: Send + Sync + 'static {
    /// Feeds `handler` every delivery of the service's queue until `shutdown`, then drains:
    /// each delivery is acknowledged, retried or dead-lettered as the handler answers, and
    /// acknowledged only after the handler returned. Returns an error only when consuming
    /// cannot go on at all (a broken configuration); a broker outage is waited out.
    async fn consume(
        &self,
        handler: std::sync::Arc<dyn MessageHandler>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()>;
}

/// Why a message was not confirmed by the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker could not route it to any queue (`mandatory` return).
    #[error("message {0} was unroutable")]
    Unroutable(MessageId),
    /// The broker refused it (negative acknowledgement).
    #[error("message {0} was nacked by the broker")]
    Nacked(MessageId),
    /// No confirmation arrived in time.
    #[error("no confirmation for message {0} in time")]
    Timeout(MessageId),
    /// The connection or channel failed.
    #[error(transparent)]
    Connection(#[from] anyhow::Error),
}

/// Publishes messages with publisher confirms.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes every message and waits for the broker's confirmations. The result for each
    /// message, in input order: `Ok` only when the broker confirmed it and routed it.
    async fn publish_batch(&self, messages: &[OutboxMessage]) -> Vec<Result<(), PublishError>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retry_pauses_grow_and_are_bounded() {
        let base = Duration::from_millis(200);
        assert_eq!(retry_pause(base, 0), base);
        assert_eq!(retry_pause(base, 1), Duration::from_millis(400));
        assert_eq!(retry_pause(base, 3), Duration::from_millis(1600));
        assert_eq!(retry_pause(base, 40), MAX_RETRY_PAUSE);
        assert_eq!(
            retry_pause(Duration::from_secs(60), 2),
            Duration::from_secs(60)
        );
    }
}
