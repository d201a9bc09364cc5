//! Exchanges, queues and bindings, declared idempotently before publishing or consuming.
//!
//! ```text
//! {prefix}shop.events (topic) --routing keys--> {q} = {prefix}{service}.events (quorum)
//!                                                   | reject / nack without requeue,
//!                                                   | or delivery limit exceeded
//!                                                   v  (dead-letter key = {q})
//! {q}.dlx (direct) --{q}--> {q}.dlq
//!
//! {q}.redelivery (direct) --{q}--> {q}                      (retries back, replays)
//!                         --{q}.retry.{ms}ms--> {q}.retry.{ms}ms
//! ```
//!
//! A message whose handling failed transiently waits in one of the queue's retry queues
//! (`{q}.retry.{ms}ms`, see [`super::retry`]) and then returns to the queue.
//!
//! Only the shared topic exchange is common to the services; everything else belongs to one
//! service, so a broker user per service can be limited to names of its own (see the README's
//! broker users). That is why a service's messages travel back into its own queues through its
//! own direct exchange (`{q}.redelivery`), not through the shared exchange (where the service
//! may publish only the events it produces) nor the default exchange (writing there would reach
//! any queue by name). The original routing key stays readable in the `type` property and the
//! `x-original-routing-key` header.

use std::time::Duration;

use anyhow::Context;
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use super::short;

/// Names and settings of one consuming service's part of the broker topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The shared durable topic exchange every event is published to.
    pub exchange: String,
    /// The service's durable direct exchange receiving its queue's dead letters.
    pub dead_letter_exchange: String,
    /// The service's durable direct exchange leading back into its own queues: to the work
    /// queue (retries expiring, dead letters replayed) and to each retry queue (parked copies).
    pub redelivery_exchange: String,
    /// The service's durable quorum queue.
    pub queue: String,
    /// Where the service's queue dead-letters to.
    pub dlq: String,
    /// The routing keys the queue is bound to.
    pub routing_keys: Vec<String>,
    /// How many times a message may be returned to the queue (nack/reject with requeue, or a
    /// consumer vanishing while holding it) before the broker dead-letters it. At least 1.
    pub delivery_limit: u32,
    /// The pause before a message's first retry; it doubles with each retry, bounded (see
    /// [`ports::messaging::retry_pause`]). Each distinct pause gets a retry queue.
    pub retry_delay: Duration,
}

impl Topology {
    /// The topology of `service` (for example `order-service`). `prefix` is prepended to every
    /// name so that tests and parallel environments can share a broker without seeing each
    /// other's messages; it is empty in production.
    pub fn for_service(
        prefix: &str,
        service: &str,
        routing_keys: Vec<String>,
        delivery_limit: u32,
    ) -> Self {
        let queue = format!("{prefix}{service}.events");
        Self {
            exchange: Self::exchange_name(prefix),
            dead_letter_exchange: format!("{queue}.dlx"),
            redelivery_exchange: format!("{queue}.redelivery"),
            dlq: format!("{queue}.dlq"),
            queue,
            routing_keys,
            delivery_limit,
            retry_delay: DEFAULT_RETRY_DELAY,
        }
    }

    /// Sets the pause before a message's first retry.
    #[must_use]
    pub fn with_retry_delay(mut self, retry_delay: Duration) -> Self {
        self.retry_delay = retry_delay;
        self
    }

    /// The retry queues, shortest pause first: a message retried for the `n`th time waits in
    /// the `n`th (or the last, once the pause stops growing).
    pub fn retry_queues(&self) -> Vec<(Duration, String)> {
        super::retry::retry_delays(self.retry_delay, self.delivery_limit)
            .into_iter()
            .map(|delay| (delay, super::retry::retry_queue_name(&self.queue, delay)))
            .collect()
    }

    /// The name of the events exchange for `prefix`: what a publisher-only process needs.
    pub fn exchange_name(prefix: &str) -> String {
        format!("{prefix}shop.events")
    }

    /// Declares the exchanges, the queues and every binding. Idempotent: declaring an existing
    /// entity with the same settings is a no-op. Declaring it with other settings (another delivery
    /// limit, a classic queue under the same name) is refused by the broker and returned as an
    /// error; the channel is then closed by the broker.
    #[tracing::instrument(skip_all, fields(queue = %self.queue))]
    pub async fn declare(&self, channel: &Channel) -> anyhow::Result<()> {
        declare_exchange_only(channel, &self.exchange).await?;
        declare_exchange(channel, &self.dead_letter_exchange, ExchangeKind::Direct).await?;
        declare_exchange(channel, &self.redelivery_exchange, ExchangeKind::Direct).await?;

        declare_queue(channel, &self.dlq, quorum_arguments()).await?;
        bind(channel, &self.dlq, &self.dead_letter_exchange, &self.queue).await?;

        declare_queue(channel, &self.queue, self.queue_arguments()).await?;
        bind(channel, &self.queue, &self.redelivery_exchange, &self.queue).await?;
        for (delay, retry_queue) in self.retry_queues() {
            declare_queue(channel, &retry_queue, self.retry_queue_arguments(delay)).await?;
            bind(
                channel,
                &retry_queue,
                &self.redelivery_exchange,
                &retry_queue,
            )
            .await?;
        }
        for key in &self.routing_keys {
            bind(channel, &self.queue, &self.exchange, key).await?;
        }
        tracing::debug!(routing_keys = ?self.routing_keys, "topology declared");
        Ok(())
    }

    /// Deletes the queues (with their messages) and the exchanges. For tests and environments
    /// torn down after use; the topic exchange is shared by every service of the same prefix.
    pub async fn delete(&self, channel: &Channel) -> anyhow::Result<()> {
        let retry_queues = self.retry_queues().into_iter().map(|(_, name)| name);
        for queue in [self.queue.clone(), self.dlq.clone()]
            .into_iter()
            .chain(retry_queues)
        {
            channel
                .queue_delete(short(&queue)?, QueueDeleteOptions::default())
                .await
                .with_context(|| format!("failed to delete queue `{queue}`"))?;
        }
        for exchange in [
            &self.exchange,
            &self.dead_letter_exchange,
            &self.redelivery_exchange,
        ] {
            channel
                .exchange_delete(short(exchange)?, ExchangeDeleteOptions::default())
                .await
                .with_context(|| format!("failed to delete exchange `{exchange}`"))?;
        }
        Ok(())
    }

    fn queue_arguments(&self) -> FieldTable {
        let mut arguments = quorum_arguments();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(self.dead_letter_exchange.as_str())),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(self.queue.as_str())),
        );
        // Always the same AMQP integer type: the broker compares declared arguments type and
        // value, and a redeclaration must match the first one exactly.
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(self.delivery_limit)),
        );
        arguments
    }

    /// A retry queue: its messages expire after `delay` and are dead-lettered through the
    /// redelivery exchange back to the work queue. A classic queue: it only holds each message
    /// for a pause, and its copies are confirmed before the originals are acknowledged.
    fn retry_queue_arguments(&self, delay: Duration) -> FieldTable {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(self.redelivery_exchange.as_str())),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(self.queue.as_str())),
        );
        arguments
    }
}

/// Default pause before a message's first retry.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Declares the durable topic exchange events are published to, and nothing else: enough for a
/// process that only publishes. Idempotent.
pub async fn declare_exchange_only(channel: &Channel, exchange: &str) -> anyhow::Result<()> {
    declare_exchange(channel, exchange, ExchangeKind::Topic).await
}

async fn declare_exchange(
    channel: &Channel,
    exchange: &str,
    kind: ExchangeKind,
) -> anyhow::Result<()> {
    channel
        .exchange_declare(
            short(exchange)?,
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("failed to declare exchange `{exchange}`"))
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> anyhow::Result<()> {
    channel
        .queue_bind(
            short(queue)?,
            short(exchange)?,
            short(key)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("failed to bind `{queue}` to `{exchange}` with key `{key}`"))
}

async fn declare_queue(
    channel: &Channel,
    queue: &str,
    arguments: FieldTable,
) -> anyhow::Result<()> {
    channel
        .queue_declare(short(queue)?, QueueDeclareOptions::durable(), arguments)
        .await
        .with_context(|| format!("failed to declare queue `{queue}`"))?;
    Ok(())
}

/// Quorum queues replicate through Raft, survive a node loss, and are the queue type that honours
/// `x-delivery-limit` (the bound on redeliveries of a poison message).
fn quorum_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_derived_from_prefix_and_service() {
        let topology = Topology::for_service(
            "t1-",
            "product-service",
            vec!["order.created".to_owned()],
            5,
        );
        assert_eq!(topology.exchange, "t1-shop.events");
        assert_eq!(
            topology.dead_letter_exchange,
            "t1-product-service.events.dlx"
        );
        assert_eq!(
            topology.redelivery_exchange,
            "t1-product-service.events.redelivery"
        );
        assert_eq!(topology.queue, "t1-product-service.events");
        assert_eq!(topology.dlq, "t1-product-service.events.dlq");
        assert_eq!(topology.routing_keys, ["order.created"]);
        assert_eq!(topology.exchange, Topology::exchange_name("t1-"));
    }

    #[test]
    fn the_queue_dead_letters_to_its_own_dlq_with_a_delivery_limit() {
        let topology = Topology::for_service("", "order-service", vec![], 7);
        let arguments = topology.queue_arguments();
        let arguments = arguments.inner();
        assert_eq!(
            arguments.get("x-queue-type"),
            Some(&AMQPValue::LongString("quorum".into()))
        );
        assert_eq!(
            arguments.get("x-dead-letter-exchange"),
            Some(&AMQPValue::LongString("order-service.events.dlx".into()))
        );
        assert_eq!(
            arguments.get("x-dead-letter-routing-key"),
            Some(&AMQPValue::LongString("order-service.events".into()))
        );
        assert_eq!(
            arguments.get("x-delivery-limit"),
            Some(&AMQPValue::LongLongInt(7))
        );
    }

    #[test]
    fn retry_queues_expire_back_into_the_work_queue() {
        let topology = Topology::for_service("", "order-service", vec![], 3)
            .with_retry_delay(Duration::from_millis(200));
        let queues = topology.retry_queues();
        let names: Vec<&str> = queues.iter().map(|(_, name)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "order-service.events.retry.200ms",
                "order-service.events.retry.400ms",
                "order-service.events.retry.800ms"
            ]
        );
        let arguments = topology.retry_queue_arguments(queues[1].0);
        let arguments = arguments.inner();
        assert_eq!(
            arguments.get("x-message-ttl"),
            Some(&AMQPValue::LongLongInt(400))
        );
        assert_eq!(
            arguments.get("x-dead-letter-exchange"),
            Some(&AMQPValue::LongString(
                "order-service.events.redelivery".into()
            ))
        );
        assert_eq!(
            arguments.get("x-dead-letter-routing-key"),
            Some(&AMQPValue::LongString("order-service.events".into()))
        );
    }
}
