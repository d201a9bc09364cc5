//! RabbitMQ adapter (lapin): topology, a confirming publisher and a consumer loop.
//!
//! The broker carries the integration events between the services (DESIGN §4): one durable topic
//! exchange, one durable quorum queue per consuming service with an explicit delivery limit, and a
//! dead-letter exchange routing each queue's rejects to that queue's own `.dlq`.
//!
//! Layout:
//! - [`topology`]: names, declaration (idempotent) and deletion of the exchanges and queues.
//! - [`publisher`]: [`RabbitMqPublisher`], the [`ports::EventPublisher`] used by the outbox relay;
//!   publisher confirms + `mandatory`, lazy reconnection.
//! - [`consumer`]: [`Consumer`], the long-running loop feeding a [`ports::MessageHandler`] batches
//!   of deliveries, several at once; reconnection with backoff, drains on shutdown.
//! - `dispatch`: one batch handed to the handler, each delivery settled as its outcome says;
//!   manual ack after the handler returned.
//! - [`retry`]: the retry queues a transiently failing message waits in, off the work queue.
//! - [`dead_letters`]: [`RabbitMqDeadLetters`], peeking at and replaying a service's `.dlq`.
//! - [`depths`]: the work and dead-letter queues' depths, read for `/metrics`.
//! - [`messaging`]: [`RabbitMqMessaging`], everything one service needs from the broker, and
//!   [`RabbitMqSource`], its queue as a [`ports::MessageSource`].
//! - this file: connecting, plus small helpers for tests and operations (queue depths, fetching
//!   one message, injecting a raw message).

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use lapin::message::BasicGetMessage;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

mod backoff;
pub mod consumer;
pub mod dead_letters;
pub mod depths;
mod dispatch;
pub mod messaging;
pub mod publisher;
pub mod retry;
pub mod topology;

pub use consumer::{Consumer, run_consumer};
pub use dead_letters::RabbitMqDeadLetters;
pub use messaging::{RabbitMqMessaging, RabbitMqSource};
pub use publisher::RabbitMqPublisher;
pub use topology::{Topology, declare_exchange_only};

/// How long establishing a connection (TCP + AMQP handshake) may take. Without a bound, a
/// black-holed broker address would stall a reconnect loop far longer than its backoff.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest AMQP frame this client asks for, unless the URL says otherwise (`?frame_max=`).
/// lapin keeps a send and a receive ring of 32 frames per connection, so RabbitMQ's default
/// (128 KiB) costs 8 MiB of buffers per connection once traffic has cycled through them; at
/// 16 KiB it is 1 MiB. The services' messages are a few KiB, and a larger one is split into
/// several body frames.
const FRAME_MAX: u32 = 16 * 1024;

/// Opens a connection named `connection_name` (shown in the management UI, which is how an
/// operator tells the services' connections apart).
///
/// The URL may carry credentials; errors only ever show it with the password masked.
pub async fn connect(url: &str, connection_name: &str) -> anyhow::Result<Connection> {
    let properties =
        ConnectionProperties::default().with_connection_name(connection_name.to_owned().into());
    let mut uri: AMQPUri = url.parse().map_err(|e: String| {
        let redacted = redact_url(url);
        anyhow!(
            "invalid RabbitMQ URL {redacted}: {}",
            e.replace(url, &redacted)
        )
    })?;
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, properties)).await {
        Ok(connection) => connection.with_context(|| {
            format!(
                "failed to connect to RabbitMQ at {} as `{connection_name}`",
                redact_url(url)
            )
        }),
        Err(_) => bail!(
            "timed out after {CONNECT_TIMEOUT:?} connecting to RabbitMQ at {}",
            redact_url(url)
        ),
    }
}

/// Number of messages ready in the dead-letter queue of `topology`.
pub async fn dlq_depth(channel: &Channel, topology: &Topology) -> anyhow::Result<u32> {
    queue_depth(channel, &topology.dlq).await
}

/// Number of messages ready (not delivered to a consumer) in `queue`.
///
/// Uses a passive declare, so a missing queue is an error, and that error closes `channel` (AMQP
/// closes a channel on a failed declare): use a channel dedicated to such checks.
pub async fn queue_depth(channel: &Channel, queue: &str) -> anyhow::Result<u32> {
    Ok(inspect_queue(channel, queue).await?.message_count())
}

/// Number of consumers attached to `queue` (a passive declare, like [`queue_depth`]).
pub async fn queue_consumers(channel: &Channel, queue: &str) -> anyhow::Result<u32> {
    Ok(inspect_queue(channel, queue).await?.consumer_count())
}

async fn inspect_queue(channel: &Channel, queue: &str) -> anyhow::Result<lapin::Queue> {
    channel
        .queue_declare(
            short(queue)?,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("failed to inspect queue `{queue}`"))
}

/// Takes one message off `queue` (acknowledged on delivery), or `None` when it is empty.
pub async fn get_one(channel: &Channel, queue: &str) -> anyhow::Result<Option<BasicGetMessage>> {
    channel
        .basic_get(short(queue)?, BasicGetOptions { no_ack: true })
        .await
        .with_context(|| format!("failed to get a message from queue `{queue}`"))
}

/// Publishes an arbitrary body, bypassing the outbox: for tests and operations that need to inject
/// a malformed or duplicate message. Only `message_id` (when given) and a persistent delivery mode
/// are set.
///
/// The publish is `mandatory`; on a channel in confirm mode this waits for the broker and fails
/// when the message was nacked or could not be routed to any queue. On a channel without confirms
/// it returns once the message was handed to the connection.
pub async fn publish_raw(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    message_id: Option<&str>,
) -> anyhow::Result<()> {
    let mut properties = BasicProperties::default().with_delivery_mode(PERSISTENT);
    if let Some(id) = message_id {
        properties = properties.with_message_id(short(id)?);
    }
    let confirmation = channel
        .basic_publish(
            short(exchange)?,
            short(routing_key)?,
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties,
        )
        .await
        .with_context(|| format!("failed to publish to `{exchange}` with key `{routing_key}`"))?
        .await
        .with_context(|| {
            format!("no confirmation for the message sent with key `{routing_key}`")
        })?;
    match confirmation {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(returned)) => bail!(
            "message with key `{routing_key}` was unroutable: {} {}",
            returned.reply_code,
            returned.reply_text
        ),
        Confirmation::Nack(_) => bail!("message with key `{routing_key}` was nacked by the broker"),
    }
}

/// AMQP `delivery_mode` for messages written to disk by the broker.
pub(crate) const PERSISTENT: u8 = 2;

/// Converts to an AMQP short string. lapin's `From<&str>` panics above 255 bytes, which must never
/// happen on a message path, so every name coming from configuration or a message goes through
/// here.
pub(crate) fn short(value: &str) -> anyhow::Result<ShortString> {
    ShortString::try_new(value)
        .with_context(|| format!("`{value}` is too long for an AMQP short string"))
}

/// The URL with its password masked, for logs and error messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The userinfo ends at the last `@` before the path: a password may itself contain `@` when
    // percent-encoding was forgotten.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let (userinfo, host_and_path) = rest.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{host_and_path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked_in_a_url() {
        assert_eq!(
            redact_url("amqp://guest:s3cr@t@rabbit:5672/%2f"),
            "amqp://guest:***@rabbit:5672/%2f"
        );
        assert_eq!(
            redact_url("amqps://user:pw@host/vhost"),
            "amqps://user:***@host/vhost"
        );
    }

    #[test]
    fn a_url_without_password_is_left_alone() {
        assert_eq!(
            redact_url("amqp://127.0.0.1:5672/%2f"),
            "amqp://127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("amqp://user@host/"), "amqp://user@host/");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn a_name_longer_than_a_short_string_is_an_error_not_a_panic() {
        assert!(short(&"x".repeat(255)).is_ok());
        assert!(short(&"x".repeat(256)).is_err());
    }
}
