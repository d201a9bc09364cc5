//! Retries that block nothing: a delivery that must wait before its next try waits in a retry
//! queue, not in the consumer.
//!
//! ```text
//! {queue} --consumer: Retry, via {queue}.redelivery--> {queue}.retry.{ms}ms (x-message-ttl = ms)
//!    ^                                                      | expired: dead-lettered through
//!    +------------------------------------------------------+ {queue}.redelivery, key {queue}
//! ```
//!
//! Both hops go through the service's own direct exchange, never the default exchange: a
//! service's broker user may write to its own exchanges only (see [`super::topology`]).
//!
//! Each pause has a queue of its own (one per distinct [`ports::messaging::retry_pause`] up to
//! the delivery limit), so every message in a retry queue has the same time to live and the
//! one at the head always expires first: a long pause never holds a short one behind it, which
//! a single queue with per-message TTLs would. The copy carries the original routing key and
//! the number of tries so far in headers; the consumer acknowledges the original only once the
//! broker confirmed the copy.

use std::time::Duration;

use anyhow::{Context, bail};
use lapin::message::Delivery;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};

use super::short;

/// Header holding the routing key a retried message was first delivered with (once it comes
/// back from a retry queue, its routing key is the work queue's name).
pub const ORIGINAL_ROUTING_KEY: &str = "x-original-routing-key";
/// Header holding how many times a message was handed back for a retry so far.
pub const RETRIES: &str = "x-retries";

/// The distinct pauses before the 1st..=`limit`th retry of a message, shortest first.
pub fn retry_delays(base: Duration, limit: u32) -> Vec<Duration> {
    let mut delays: Vec<Duration> = (0..limit)
        .map(|tries| ports::messaging::retry_pause(base, tries))
        .collect();
    delays.dedup();
    delays
}

/// The retry queue holding messages for `delay` before they return to `queue`.
pub fn retry_queue_name(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}ms", delay.as_millis())
}

/// How many retries `delivery` had before this delivery (the [`RETRIES`] header; 0 when absent).
pub fn retries(delivery: &Delivery) -> u32 {
    match header(delivery, RETRIES) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongUInt(n)) => *n,
        _ => 0,
    }
}

/// The routing key the message was published with: the [`ORIGINAL_ROUTING_KEY`] header of a
/// message back from a retry, else the delivery's own.
pub fn routing_key(delivery: &Delivery) -> String {
    match header(delivery, ORIGINAL_ROUTING_KEY) {
        Some(AMQPValue::LongString(key)) => key.to_string(),
        _ => delivery.routing_key.to_string(),
    }
}

pub(super) fn header<'a>(delivery: &'a Delivery, name: &str) -> Option<&'a AMQPValue> {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(name))
}

/// Publishes a copy of `delivery` to `retry_queue` (through `exchange`, the topology's
/// redelivery exchange, to which each retry queue is bound under its own name) with one more
/// retry counted, and waits for the broker's confirmation. `channel` must be in confirm mode.
pub async fn park(
    channel: &Channel,
    delivery: &Delivery,
    exchange: &str,
    retry_queue: &str,
) -> anyhow::Result<()> {
    // The broker's own bookkeeping of earlier lives (`x-death`, `x-delivery-count`) must not
    // travel with the copy.
    let mut headers = FieldTable::default();
    if let Some(original) = delivery.properties.headers() {
        for (name, value) in original.inner() {
            if !matches!(name.as_str(), "x-death" | "x-delivery-count") {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    headers.insert(
        ShortString::from(ORIGINAL_ROUTING_KEY),
        AMQPValue::LongString(LongString::from(routing_key(delivery))),
    );
    headers.insert(
        ShortString::from(RETRIES),
        AMQPValue::LongLongInt(i64::from(retries(delivery)) + 1),
    );
    let properties: BasicProperties = delivery.properties.clone().with_headers(headers);
    let confirmation = channel
        .basic_publish(
            short(exchange)?,
            short(retry_queue)?,
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &delivery.data,
            properties,
        )
        .await
        .with_context(|| format!("failed to publish to `{retry_queue}`"))?
        .await
        .with_context(|| format!("no confirmation from `{retry_queue}`"))?;
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) => bail!(
            "`{retry_queue}` is not bound to `{exchange}`: {} {}",
            returned.reply_code,
            returned.reply_text
        ),
        Confirmation::Nack(_) => bail!("the broker refused the message into `{retry_queue}`"),
        Confirmation::NotRequested => bail!("the retry channel is not in confirm mode"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_distinct_pause_up_to_the_limit_gets_a_queue() {
        let delays = retry_delays(Duration::from_secs(1), 10);
        let seconds: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30]);
        assert_eq!(
            retry_queue_name("order-service.events", delays[0]),
            "order-service.events.retry.1000ms"
        );
        assert!(retry_delays(Duration::from_secs(1), 0).is_empty());
    }

    #[test]
    fn a_message_back_from_a_retry_keeps_its_routing_key_and_count() {
        let mut delivery = Delivery::mock(1, "".into(), "q.events".into(), false, Vec::new());
        assert_eq!(routing_key(&delivery), "q.events");
        assert_eq!(retries(&delivery), 0);
        let mut headers = FieldTable::default();
        headers.insert(
            ORIGINAL_ROUTING_KEY.into(),
            AMQPValue::LongString("order.created".into()),
        );
        headers.insert(RETRIES.into(), AMQPValue::LongLongInt(3));
        delivery.properties = delivery.properties.clone().with_headers(headers);
        assert_eq!(routing_key(&delivery), "order.created");
        assert_eq!(retries(&delivery), 3);
    }
}
