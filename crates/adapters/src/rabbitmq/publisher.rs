//! [`RabbitMqPublisher`]: publishes outbox messages with publisher confirms.
//!
//! A message counts as published only when the broker acknowledged it *and* did not return it as
//! unroutable (`mandatory`): an exchange without a matching binding would otherwise swallow events
//! silently, and the outbox row would be marked published for nothing.
//!
//! The publisher owns one connection and one channel in confirm mode, created lazily and
//! re-created on the next call after any failure, so a broker restart costs the relay one failed
//! batch rather than a restart of the service.

use std::fmt;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{
    BasicProperties, Channel, ChannelStatus, Confirmation, Connection, ConnectionStatus,
    PublisherConfirm,
};
use ports::events::OutboxMessage;
use ports::messaging::{EventPublisher, PublishError};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::Instrument;

use super::topology::declare_exchange_only;
use super::{PERSISTENT, connect, redact_url, short};
use crate::telemetry::propagation;

/// How long a batch waits for the broker's confirmations, unless configured otherwise. Confirms
/// normally arrive within milliseconds; seconds mean a stalled or overloaded broker, and the relay
/// is better off backing off and retrying.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes [`OutboxMessage`]s to the events exchange with publisher confirms.
pub struct RabbitMqPublisher {
    url: String,
    connection_name: String,
    exchange: String,
    app_id: String,
    confirm_timeout: Duration,
    /// Held while a batch is sent, not while its confirms are awaited: batches go out whole and
    /// in turn on the one channel, and lapin pairs each confirm with its message.
    link: Mutex<Link>,
    /// A copy of the current link's status handles, readable without waiting behind a batch.
    health: StdMutex<Option<(ConnectionStatus, ChannelStatus)>>,
}

/// The connection and its confirm-mode channel, each absent until opened or after a failure.
#[derive(Default)]
struct Link {
    connection: Option<Connection>,
    channel: Option<Channel>,
}

impl RabbitMqPublisher {
    /// A publisher to `exchange` at `url`. No IO happens here: the connection is opened by the
    /// first publish (or [`RabbitMqPublisher::ensure_connected`]), so a service can start, and
    /// buffer events in its outbox, while the broker is down.
    ///
    /// `connection_name` names the connection in the broker and is the default `app_id`.
    pub fn new(
        url: impl Into<String>,
        connection_name: impl Into<String>,
        exchange: impl Into<String>,
    ) -> Self {
        let connection_name = connection_name.into();
        Self {
            url: url.into(),
            app_id: connection_name.clone(),
            connection_name,
            exchange: exchange.into(),
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            link: Mutex::new(Link::default()),
            health: StdMutex::new(None),
        }
    }

    /// Sets the `app_id` property of every message (default: the connection name).
    #[must_use]
    pub fn with_app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = app_id.into();
        self
    }

    /// Sets how long a batch waits for its confirmations (default [`DEFAULT_CONFIRM_TIMEOUT`]).
    #[must_use]
    pub fn with_confirm_timeout(mut self, confirm_timeout: Duration) -> Self {
        self.confirm_timeout = confirm_timeout;
        self
    }

    /// The exchange messages are published to.
    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// Whether the publisher currently holds an open connection and channel. Does no IO and
    /// never waits behind a batch in progress: meant for health checks. `false` before the first
    /// publish; see [`RabbitMqPublisher::ensure_connected`].
    pub async fn is_connected(&self) -> bool {
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .is_some_and(|(connection, channel)| connection.connected() && channel.connected())
    }

    /// Opens the connection and channel now if they are not open (at startup, or from a health
    /// check that may do IO), declaring the exchange.
    #[tracing::instrument(skip_all)]
    pub async fn ensure_connected(&self) -> Result<(), PublishError> {
        let mut link = self.link.lock().await;
        self.channel(&mut link).await?;
        Ok(())
    }

    /// Closes the connection, if open. A later publish opens a new one.
    pub async fn close(&self) {
        let mut link = self.link.lock().await;
        self.set_health(None);
        // Closing is a courtesy to the broker; if it fails the connection is gone anyway. The
        // channel goes first: a channel still closing when the connection closes makes lapin
        // report an error.
        if let Some(channel) = link.channel.take()
            && let Err(error) = channel.close(200, "OK".into()).await
        {
            tracing::debug!(%error, "closing the publisher channel failed");
        }
        if let Some(connection) = link.connection.take()
            && let Err(error) = connection.close(200, "OK".into()).await
        {
            tracing::debug!(%error, "closing the publisher connection failed");
        }
    }

    /// The channel of the link, after re-creating whatever is broken: a channel closed by the
    /// broker is replaced on the same connection, a lost connection is re-opened.
    async fn channel(&self, link: &mut Link) -> anyhow::Result<Channel> {
        if let (Some(connection), Some(channel)) = (&link.connection, &link.channel)
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        self.discard(link);
        let connection = match link.connection.take() {
            Some(connection) => connection,
            None => connect(&self.url, &self.connection_name).await?,
        };
        let channel = self.open_channel(&connection).await;
        let connection = link.connection.insert(connection);
        let channel = channel?;
        tracing::info!(
            broker = %redact_url(&self.url),
            exchange = %self.exchange,
            "publisher connected"
        );
        self.set_health(Some((
            connection.status().clone(),
            channel.status().clone(),
        )));
        link.channel = Some(channel.clone());
        Ok(channel)
    }

    async fn open_channel(&self, connection: &Connection) -> anyhow::Result<Channel> {
        let channel = connection
            .create_channel()
            .await
            .context("failed to open a publisher channel")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("failed to enable publisher confirms")?;
        // Publishing to a missing exchange makes the broker close the channel, so make sure it
        // exists even when this process declares no queue.
        declare_exchange_only(&channel, &self.exchange).await?;
        Ok(channel)
    }

    fn set_health(&self, status: Option<(ConnectionStatus, ChannelStatus)>) {
        *self
            .health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = status;
    }

    /// Drops the channel, and the connection unless it is still open, so that the next call
    /// starts afresh. After a timeout or a failed publish the channel may still deliver late
    /// confirms for this batch; a fresh channel cannot mix them up with the next batch's.
    fn discard(&self, link: &mut Link) {
        self.set_health(None);
        // Dropping the last handle of a channel (or connection) closes it.
        link.channel = None;
        if link
            .connection
            .as_ref()
            .is_some_and(|connection| !connection.status().connected())
        {
            link.connection = None;
        }
    }

    async fn publish_one(
        &self,
        channel: &Channel,
        message: &OutboxMessage,
    ) -> anyhow::Result<PublisherConfirm> {
        let span = propagation::publish_span("rabbitmq", &self.exchange, message);
        let mut headers = FieldTable::default();
        for (name, value) in propagation::headers_of(&span) {
            headers.insert(name.into(), AMQPValue::LongString(value.into()));
        }
        let mut properties = BasicProperties::default()
            .with_message_id(short(&message.id.to_string())?)
            .with_type(short(&message.routing_key)?)
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT)
            .with_timestamp(u64::try_from(message.occurred_at.timestamp()).unwrap_or_default())
            .with_app_id(short(&self.app_id)?);
        if !headers.inner().is_empty() {
            properties = properties.with_headers(headers);
        }
        channel
            .basic_publish(
                short(&self.exchange)?,
                short(&message.routing_key)?,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                message.payload.as_bytes(),
                properties,
            )
            .instrument(span)
            .await
            .with_context(|| format!("failed to publish message {}", message.id))
    }
}

#[async_trait]
impl EventPublisher for RabbitMqPublisher {
    #[tracing::instrument(skip_all, fields(count = messages.len()))]
    async fn publish_batch(&self, messages: &[OutboxMessage]) -> Vec<Result<(), PublishError>> {
        if messages.is_empty() {
            return Vec::new();
        }
        // The lock covers opening the link and sending (which keeps each batch's messages
        // together and in order on the channel), not the wait for the confirms: a batch
        // committed meanwhile is sent at once instead of after this one's round trip.
        let mut link = self.link.lock().await;
        // Opening a connection to an unreachable broker must not hold the relay longer than a
        // batch would.
        let channel = match timeout(self.confirm_timeout, self.channel(&mut link)).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(error)) => {
                self.discard(&mut link);
                return fail_all(messages, &error);
            }
            Err(_) => {
                self.discard(&mut link);
                let error = anyhow!(
                    "timed out after {:?} connecting the publisher",
                    self.confirm_timeout
                );
                return fail_all(messages, &error);
            }
        };

        // Publish everything first, then collect the confirms: one round trip per batch instead
        // of one per message.
        let mut pending = Vec::with_capacity(messages.len());
        let mut publish_failure: Option<String> = None;
        for message in messages {
            if let Some(cause) = &publish_failure {
                pending.push(Err(anyhow!(
                    "message {} not published: an earlier publish of the batch failed: {cause}",
                    message.id
                )));
                continue;
            }
            let published = self.publish_one(&channel, message).await;
            if let Err(error) = &published {
                publish_failure = Some(format!("{error:#}"));
            }
            pending.push(published);
        }
        drop(link);

        let deadline = Instant::now() + self.confirm_timeout;
        let mut broken = publish_failure.is_some();
        let mut results = Vec::with_capacity(messages.len());
        for (message, published) in messages.iter().zip(pending) {
            let result = match published {
                Err(error) => Err(PublishError::Connection(error)),
                Ok(confirm) => match timeout_at(deadline, confirm).await {
                    Err(_) => {
                        broken = true;
                        Err(PublishError::Timeout(message.id))
                    }
                    Ok(Err(error)) => {
                        broken = true;
                        Err(PublishError::Connection(anyhow::Error::new(error).context(
                            format!("failed to get the confirmation of message {}", message.id),
                        )))
                    }
                    Ok(Ok(Confirmation::Ack(None))) => Ok(()),
                    Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                        tracing::debug!(
                            message_id = %message.id,
                            routing_key = %message.routing_key,
                            reply_code = returned.reply_code,
                            reply_text = %returned.reply_text,
                            "message returned as unroutable"
                        );
                        Err(PublishError::Unroutable(message.id))
                    }
                    Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked(message.id)),
                    Ok(Ok(Confirmation::NotRequested)) => {
                        broken = true;
                        Err(PublishError::Connection(anyhow!(
                            "publisher confirms are not enabled on the channel"
                        )))
                    }
                },
            };
            results.push(result);
        }

        if broken {
            let mut link = self.link.lock().await;
            // Unless a later batch already replaced it.
            if link
                .channel
                .as_ref()
                .is_some_and(|open| open.id() == channel.id())
            {
                tracing::warn!("publisher channel failed; it will be re-opened on the next batch");
                self.discard(&mut link);
            }
        }
        // The confirms are in; the relay has not marked the rows published yet.
        crate::fault::crash_point("relay.after_confirm");
        results
    }
}

/// The same connection failure for every message of a batch.
fn fail_all(messages: &[OutboxMessage], error: &anyhow::Error) -> Vec<Result<(), PublishError>> {
    messages
        .iter()
        .map(|message| {
            Err(PublishError::Connection(anyhow!(
                "message {} not published: {error:#}",
                message.id
            )))
        })
        .collect()
}

impl fmt::Debug for RabbitMqPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitMqPublisher")
            .field("url", &redact_url(&self.url))
            .field("connection_name", &self.connection_name)
            .field("exchange", &self.exchange)
            .field("app_id", &self.app_id)
            .field("confirm_timeout", &self.confirm_timeout)
            .finish_non_exhaustive()
    }
}
