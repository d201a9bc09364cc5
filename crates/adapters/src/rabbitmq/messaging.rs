//! One service's messaging over RabbitMQ: its topology, the publisher its outbox relay uses,
//! the source feeding its message handler, and its dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use super::{RabbitMqDeadLetters, RabbitMqPublisher, Topology, connect, run_consumer};
use crate::settings::AmqpSettings;
use ports::messaging::Dispatch;
use ports::{MessageHandler, MessageSource};

/// What a service needs from RabbitMQ, prepared at startup.
#[derive(Debug)]
pub struct RabbitMqMessaging {
    /// The publisher of the outbox relay (its connection state feeds `/health`).
    pub publisher: Arc<RabbitMqPublisher>,
    /// The service's queue, for its consumer.
    pub source: RabbitMqSource,
    /// The service's dead-letter queue, for the admin endpoints.
    pub dead_letters: Arc<RabbitMqDeadLetters>,
    /// The depths of its queues, for `/metrics`.
    pub depths: Arc<super::depths::QueueDepths>,
}

impl RabbitMqMessaging {
    /// Declares `service`'s topology (its queue bound to `routing_keys`) and prepares its
    /// publisher, consumer and dead-letter access. Best effort: a broker that is down at
    /// startup must not stop the service (the outbox keeps the events); the consumer declares
    /// the topology again on every (re)connection, and the publisher declares the exchange.
    pub async fn start(
        service: &'static str,
        settings: &AmqpSettings,
        routing_keys: &[&str],
    ) -> Self {
        let topology = Topology::for_service(
            &settings.prefix,
            service,
            routing_keys.iter().map(|k| (*k).to_owned()).collect(),
            settings.delivery_limit,
        )
        .with_retry_delay(Duration::from_millis(settings.retry_delay_ms));
        match tokio::time::timeout(
            Duration::from_secs(10),
            declare(service, settings, &topology),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "RabbitMQ unavailable at startup; events wait in the outbox")
            }
            Err(_) => {
                tracing::warn!("RabbitMQ did not answer at startup; events wait in the outbox")
            }
        }
        let publisher = Arc::new(
            RabbitMqPublisher::new(
                settings.url.expose_secret().to_owned(),
                service,
                topology.exchange.clone(),
            )
            .with_confirm_timeout(Duration::from_millis(settings.confirm_timeout_ms)),
        );
        let dead_letters = Arc::new(RabbitMqDeadLetters::new(
            settings.url.expose_secret().to_owned(),
            topology.clone(),
        ));
        let depths = Arc::new(super::depths::QueueDepths::new(
            settings.url.expose_secret().to_owned(),
            topology.clone(),
        ));
        let source = RabbitMqSource {
            url: settings.url.clone(),
            service,
            topology,
            dispatch: settings.dispatch(),
            prefetch: settings.prefetch,
        };
        Self {
            publisher,
            source,
            dead_letters,
            depths,
        }
    }
}

impl RabbitMqMessaging {
    /// `/health`'s probe of the broker: optional, the outbox keeps events while it is down.
    #[cfg(feature = "http")]
    pub fn health_check(&self) -> crate::http::health::HealthCheck {
        let publisher = self.publisher.clone();
        crate::http::health::HealthCheck::optional("rabbitmq", move || {
            let publisher = publisher.clone();
            async move {
                publisher
                    .ensure_connected()
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
    }
}

async fn declare(
    service: &str,
    settings: &AmqpSettings,
    topology: &Topology,
) -> anyhow::Result<()> {
    let setup = connect(settings.url.expose_secret(), service).await?;
    let channel = setup
        .create_channel()
        .await
        .context("failed to open an AMQP channel")?;
    topology.declare(&channel).await?;
    channel.close(200, "topology declared".into()).await.ok();
    setup.close(200, "topology declared".into()).await.ok();
    Ok(())
}

/// A service's RabbitMQ queue as a [`MessageSource`]: a consumer with manual acks that
/// reconnects with backoff.
#[derive(Debug, Clone)]
pub struct RabbitMqSource {
    url: SecretString,
    service: &'static str,
    topology: Topology,
    dispatch: Dispatch,
    prefetch: u16,
}

#[async_trait]
impl MessageSource for RabbitMqSource {
    async fn consume(
        &self,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        run_consumer(
            self.url.expose_secret().to_owned(),
            self.service.to_owned(),
            self.topology.clone(),
            handler,
            self.dispatch,
            self.prefetch,
            shutdown,
        )
        .await
    }
}
