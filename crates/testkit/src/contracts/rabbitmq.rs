//! The RabbitMQ [`BusFixture`]: [`RabbitMqPublisher`] and [`run_consumer`] on a topology of
//! their own (a per-test name prefix), removed by [`RabbitMqBus::teardown`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::bus::{BOUND_KEYS, BusFixture, RunningConsumer};
use crate::{Infra, Isolation};
use adapters::rabbitmq::{self, RabbitMqPublisher, Topology, get_one, run_consumer};
use adapters::runtime::Background;
use ports::messaging::Dispatch;
use ports::{EventPublisher, MessageHandler};

/// Returns to the queue before a message is dead-lettered.
pub const DELIVERY_LIMIT: u32 = 2;
/// Pause before a `Retry` goes back to the queue: short, so the suite runs quickly.
pub const RETRY_DELAY: Duration = Duration::from_millis(50);

/// One service queue (`t{id}.contract-service.events`, bound to [`BOUND_KEYS`]) with its
/// dead-letter queue, a publisher to its exchange, and a channel for draining the DLQ.
pub struct RabbitMqBus {
    url: String,
    topology: Topology,
    connection: lapin::Connection,
    channel: lapin::Channel,
    publisher: Arc<RabbitMqPublisher>,
}

impl RabbitMqBus {
    /// Declares the topology of this test.
    pub async fn new(infra: &Infra, iso: &Isolation) -> Self {
        Self::with_delivery_limit(infra, iso, DELIVERY_LIMIT).await
    }

    /// Declares the topology of this test, with room for `delivery_limit` retries.
    pub async fn with_delivery_limit(infra: &Infra, iso: &Isolation, delivery_limit: u32) -> Self {
        let topology = Topology::for_service(
            &format!("t{}.", iso.id),
            "contract-service",
            BOUND_KEYS.iter().map(|k| (*k).to_owned()).collect(),
            delivery_limit,
        )
        .with_retry_delay(RETRY_DELAY);
        let connection = rabbitmq::connect(&infra.amqp_url, "contract-tests")
            .await
            .expect("the test broker must accept a connection");
        let channel = connection.create_channel().await.expect("an AMQP channel");
        topology
            .declare(&channel)
            .await
            .expect("the contract topology must declare");
        let publisher = Arc::new(RabbitMqPublisher::new(
            infra.amqp_url.clone(),
            "contract-publisher",
            topology.exchange.clone(),
        ));
        Self {
            url: infra.amqp_url.clone(),
            topology,
            connection,
            channel,
            publisher,
        }
    }

    /// The names of this test's exchanges and queues.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Deletes the queues and exchanges and closes the connections.
    pub async fn teardown(&self) {
        self.publisher.close().await;
        self.topology
            .delete(&self.channel)
            .await
            .expect("delete the contract topology");
        self.connection
            .close(200, "contract done".into())
            .await
            .ok();
    }
}

impl std::fmt::Debug for RabbitMqBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitMqBus")
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

/// A consumer task; cancelled when dropped, so a failing suite does not leave it running.
struct RabbitMqConsumer {
    background: Option<Background>,
    cancel: Box<dyn Fn() + Send + Sync>,
}

impl Drop for RabbitMqConsumer {
    fn drop(&mut self) {
        (self.cancel)();
    }
}

#[async_trait]
impl RunningConsumer for RabbitMqConsumer {
    async fn stop(mut self: Box<Self>) {
        if let Some(background) = self.background.take() {
            background.shutdown().await;
        }
    }
}

#[async_trait]
impl BusFixture for RabbitMqBus {
    fn publisher(&self) -> Arc<dyn EventPublisher> {
        self.publisher.clone()
    }

    async fn start_consumer(&self, handler: Arc<dyn MessageHandler>) -> Box<dyn RunningConsumer> {
        let mut background = Background::new();
        let consumer = run_consumer(
            self.url.clone(),
            "contract-consumer".to_owned(),
            self.topology.clone(),
            handler,
            Dispatch::default(),
            Dispatch::default().prefetch() as u16,
            background.token(),
        );
        background.spawn("contract-consumer", async move {
            consumer
                .await
                .expect("the contract consumer must run until stopped");
        });
        let token = background.token();
        Box::new(RabbitMqConsumer {
            background: Some(background),
            cancel: Box::new(move || token.cancel()),
        })
    }

    async fn dead_letters(&self) -> Vec<Vec<u8>> {
        let mut bodies = Vec::new();
        while let Some(message) = get_one(&self.channel, &self.topology.dlq)
            .await
            .expect("the dead-letter queue must be readable")
        {
            bodies.push(message.delivery.data);
        }
        bodies
    }

    fn delivery_limit(&self) -> u32 {
        self.topology.delivery_limit
    }
}
