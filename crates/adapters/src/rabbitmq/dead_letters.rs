//! The dead-letter queue of one service on RabbitMQ, for operators: look, replay.
//!
//! A replayed message goes back into the service's own work queue through its redelivery
//! exchange, carrying its original routing key in the `x-original-routing-key` header. It is not
//! republished on the shared exchange: that would hand it to every queue bound to its key, and
//! the service's broker user may publish there only the events the service produces (the order
//! service must not publish `order.qty_confirmed`, which it consumes).

use anyhow::Context;
use async_trait::async_trait;
use lapin::options::{BasicAckOptions, BasicGetOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use super::retry::ORIGINAL_ROUTING_KEY;
use super::{Topology, connect, queue_depth, short};
use ports::messaging::{DeadLetterView, DeadLetters};

/// [`DeadLetters`] of a topology's `.dlq`.
#[derive(Debug, Clone)]
pub struct RabbitMqDeadLetters {
    url: String,
    topology: Topology,
}

impl RabbitMqDeadLetters {
    /// The dead letters of `topology` on the broker at `url`.
    pub fn new(url: impl Into<String>, topology: Topology) -> Self {
        Self {
            url: url.into(),
            topology,
        }
    }
}

/// The routing key a dead letter was first published with: the `type` property our publisher
/// sets, else the [`ORIGINAL_ROUTING_KEY`] header of a retried or replayed message, else the
/// first routing key recorded in its `x-death` header.
fn original_routing_key(message: &lapin::message::BasicGetMessage) -> Option<String> {
    let properties = &message.delivery.properties;
    if let Some(kind) = properties.kind() {
        return Some(kind.to_string());
    }
    let headers = properties.headers().as_ref()?;
    if let Some(AMQPValue::LongString(key)) = headers.inner().get(ORIGINAL_ROUTING_KEY) {
        return Some(key.to_string());
    }
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(death) = deaths.as_slice().first()? else {
        return None;
    };
    let AMQPValue::FieldArray(keys) = death.inner().get("routing-keys")? else {
        return None;
    };
    match keys.as_slice().first()? {
        AMQPValue::LongString(key) => Some(key.to_string()),
        AMQPValue::ShortString(key) => Some(key.to_string()),
        _ => None,
    }
}

fn view(message: &lapin::message::BasicGetMessage) -> DeadLetterView {
    DeadLetterView {
        message_id: message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(ToString::to_string),
        routing_key: original_routing_key(message).unwrap_or_default(),
        body: String::from_utf8_lossy(&message.delivery.data).into_owned(),
    }
}

#[async_trait]
impl DeadLetters for RabbitMqDeadLetters {
    async fn peek(&self, limit: u32) -> anyhow::Result<(u32, Vec<DeadLetterView>)> {
        let conn = connect(&self.url, "dead-letters").await?;
        let channel = conn.create_channel().await.context("no AMQP channel")?;
        let count = queue_depth(&channel, &self.topology.dlq).await?;
        let mut items = Vec::new();
        for _ in 0..limit.min(count) {
            let got = channel
                .basic_get(
                    short(&self.topology.dlq)?,
                    BasicGetOptions { no_ack: false },
                )
                .await
                .context("failed to read the dead-letter queue")?;
            match got {
                Some(message) => items.push(view(&message)),
                None => break,
            }
        }
        // Closing without acknowledging puts every message back where it was.
        channel.close(200, "peeked".into()).await.ok();
        conn.close(200, "peeked".into()).await.ok();
        Ok((count, items))
    }

    async fn replay(&self, limit: u32) -> anyhow::Result<u32> {
        let conn = connect(&self.url, "dead-letters").await?;
        let channel = conn.create_channel().await.context("no AMQP channel")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("no publisher confirms")?;
        // Only what waits now: a replayed message that fails again comes back to the queue
        // and must not be replayed in a loop.
        let waiting = queue_depth(&channel, &self.topology.dlq).await?;
        let mut replayed = 0;
        for _ in 0..limit.min(waiting) {
            let Some(message) = channel
                .basic_get(
                    short(&self.topology.dlq)?,
                    BasicGetOptions { no_ack: false },
                )
                .await
                .context("failed to read the dead-letter queue")?
            else {
                break;
            };
            let Some(routing_key) = original_routing_key(&message) else {
                tracing::warn!("a dead letter without a routing key stays in the queue");
                continue;
            };
            // A fresh delivery history (the consumer counts retries from here), and the key the
            // consumer must see instead of the work queue's name it is redelivered with.
            let mut headers = FieldTable::default();
            headers.insert(
                ShortString::from(ORIGINAL_ROUTING_KEY),
                AMQPValue::LongString(LongString::from(routing_key.as_str())),
            );
            let properties = message.delivery.properties.clone().with_headers(headers);
            let confirm = channel
                .basic_publish(
                    short(&self.topology.redelivery_exchange)?,
                    short(&self.topology.queue)?,
                    lapin::options::BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &message.delivery.data,
                    properties,
                )
                .await
                .context("failed to republish a dead letter")?
                .await
                .context("no confirmation for a replayed dead letter")?;
            if !matches!(confirm, lapin::Confirmation::Ack(None)) {
                anyhow::bail!("the broker refused a replayed dead letter (key `{routing_key}`)");
            }
            message
                .delivery
                .ack(BasicAckOptions::default())
                .await
                .context("failed to remove a replayed dead letter")?;
            replayed += 1;
        }
        channel.close(200, "replayed".into()).await.ok();
        conn.close(200, "replayed".into()).await.ok();
        tracing::info!(replayed, queue = %self.topology.dlq, "dead letters replayed");
        Ok(replayed)
    }
}
