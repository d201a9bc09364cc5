//! One batch of deliveries: handed to the handler together, then each settled as its outcome
//! says (acknowledged, parked for a retry, or dead-lettered).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::anyhow;
use futures_util::FutureExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use ports::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use tracing::Instrument;

use domain::MessageId;

use super::Topology;
use super::retry::{self, park, retries};
use crate::telemetry::propagation;

/// What settling a batch needs besides its deliveries: the handler, the topology (retry
/// queues, delivery limit) and a channel in confirm mode for the retry copies.
#[derive(Clone)]
pub(super) struct Dispatcher {
    pub handler: Arc<dyn MessageHandler>,
    pub topology: Arc<Topology>,
    pub retry_channel: Channel,
}

impl Dispatcher {
    /// Hands `deliveries` to the handler and settles each. An error means a settlement could
    /// not be sent (the channel is gone); the broker then redelivers what was not settled.
    pub async fn run(self, deliveries: Vec<Delivery>) -> anyhow::Result<()> {
        let queue = self.topology.queue.as_str();
        let spans: Vec<tracing::Span> = deliveries.iter().map(|d| process_span(queue, d)).collect();
        let messages: Vec<InboundMessage> = deliveries
            .iter()
            .zip(&spans)
            .map(|(delivery, span)| InboundMessage {
                trace: propagation::of(span),
                ..inbound(delivery)
            })
            .collect();
        let span = tracing::info_span!("handle_batch", size = messages.len());
        // The batch is its own operation; it links to each message it applies.
        for message in &messages {
            propagation::link(&span, message.trace.as_ref());
        }
        let started = std::time::Instant::now();
        // A panicking handler must not take the consumer down with it; the batch is retried
        // like any other failure, and dead-lettered by the delivery limit if it keeps panicking.
        let mut outcomes = AssertUnwindSafe(self.handler.handle_batch(&messages))
            .catch_unwind()
            .instrument(span)
            .await
            .unwrap_or_else(|_| {
                tracing::error!("message handler panicked");
                vec![HandleOutcome::Retry("the handler panicked".to_owned()); messages.len()]
            });
        if outcomes.len() != messages.len() {
            tracing::error!(
                messages = messages.len(),
                outcomes = outcomes.len(),
                "the handler answered a batch with the wrong number of outcomes; retrying it"
            );
            outcomes = vec![
                HandleOutcome::Retry("no outcome from the handler".to_owned());
                messages.len()
            ];
        }
        let handling = started.elapsed();
        let mut failure = None;
        for (((delivery, message), outcome), span) in deliveries
            .into_iter()
            .zip(&messages)
            .zip(outcomes)
            .zip(spans)
        {
            crate::observe::consumed(queue, message.redelivered, &outcome, handling);
            crate::observe::message_age(queue, &message.body);
            propagation::record_outcome(&span, &outcome);
            if let Err(error) = self.settle(delivery, outcome).instrument(span).await {
                failure.get_or_insert(error);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    async fn settle(&self, delivery: Delivery, outcome: HandleOutcome) -> anyhow::Result<()> {
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
                let tries = retries(&delivery);
                let queues = self.topology.retry_queues();
                let limit = usize::try_from(self.topology.delivery_limit).unwrap_or(usize::MAX);
                match queues.get(tries as usize).or(queues.last()) {
                    Some((pause, queue)) if (tries as usize) < limit => {
                        match park(
                            &self.retry_channel,
                            &delivery,
                            &self.topology.redelivery_exchange,
                            queue,
                        )
                        .await
                        {
                            Ok(()) => {
                                tracing::warn!(%reason, retry_in = ?pause, retries = tries + 1, "message will be retried");
                                delivery.ack(BasicAckOptions::default()).await
                            }
                            Err(error) => {
                                // Without its copy parked, the original goes back to the
                                // queue; the quorum queue's delivery limit still bounds it.
                                tracing::warn!(%reason, error = %format!("{error:#}"), "parking the message for a retry failed; requeueing it");
                                delivery
                                    .nack(BasicNackOptions {
                                        requeue: true,
                                        ..BasicNackOptions::default()
                                    })
                                    .await
                            }
                        }
                    }
                    _ => {
                        tracing::warn!(%reason, retries = tries, "retries exhausted; dead-lettering message");
                        crate::observe::retries_exhausted(&self.topology.queue);
                        delivery.reject(BasicRejectOptions { requeue: false }).await
                    }
                }
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
}

/// The port's view of a delivery. An absent or malformed `message_id` becomes `None`: whether
/// such a message is acceptable is the handler's decision, not the transport's. A message back
/// from a retry queue shows the routing key it was published with, and counts as redelivered.
pub(super) fn inbound(delivery: &Delivery) -> InboundMessage {
    InboundMessage {
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .and_then(|id| MessageId::parse(id.as_str()).ok()),
        routing_key: retry::routing_key(delivery),
        body: delivery.data.clone(),
        redelivered: delivery.redelivered || retries(delivery) > 0,
        trace: None,
    }
}

/// The consumer span of one delivery, the child of the producer's span whose context the
/// message's `traceparent` header carries.
fn process_span(queue: &str, delivery: &Delivery) -> tracing::Span {
    if !propagation::enabled() {
        return tracing::Span::none();
    }
    let text = |name| match retry::header(delivery, name) {
        Some(AMQPValue::LongString(value)) => std::str::from_utf8(value.as_bytes()).ok(),
        _ => None,
    };
    propagation::process_span(
        "rabbitmq",
        queue,
        &retry::routing_key(delivery),
        delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string()),
        text(propagation::TRACEPARENT),
        text(propagation::TRACESTATE),
    )
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
