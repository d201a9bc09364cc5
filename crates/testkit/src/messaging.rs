//! Reaching the bus behind the API, in either composition: injecting raw messages and dead
//! letters, and taking the dead letters out.

use std::time::Duration;

use domain::MessageId;

use crate::{Backend, TestSystem, eventually, scalar_i64};

impl TestSystem {
    /// Waits until the product service has handled each message of `ids` (its inbox holds
    /// them), then a moment more: a consumer handles several deliveries at once, so another
    /// copy of one of them may still be in flight.
    pub async fn handled_by_products(&self, ids: &[MessageId]) {
        let db = self.product_db().await;
        for id in ids {
            let handled = eventually(Duration::from_secs(20), || {
                let db = db.clone();
                async move {
                    let rows = scalar_i64(
                        &db,
                        "SELECT COUNT(*) FROM inbox WHERE consumer = ? AND message_id = ?",
                        vec!["product-service".into(), id.as_uuid().into()],
                    )
                    .await;
                    (rows == 1).then_some(())
                }
            })
            .await;
            assert!(
                handled.is_some(),
                "the product service never handled message {id}"
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Publishes a raw message on the events exchange or bus, bypassing the outbox (to
    /// inject duplicates and poison).
    pub async fn inject(&self, routing_key: &str, body: &[u8], message_id: Option<&str>) {
        match &self.backend {
            Backend::Distributed {
                infra, amqp_prefix, ..
            } => {
                let conn = adapters::rabbitmq::connect(&infra.amqp_url, "tests")
                    .await
                    .expect("AMQP connection");
                let channel = conn.create_channel().await.expect("AMQP channel");
                adapters::rabbitmq::publish_raw(
                    &channel,
                    &adapters::rabbitmq::Topology::exchange_name(amqp_prefix),
                    routing_key,
                    body,
                    message_id,
                )
                .await
                .expect("publish");
                channel.close(200, "done".into()).await.ok();
                conn.close(200, "done".into()).await.ok();
            }
            Backend::Standalone { bus, .. } => {
                let id = message_id.map(|m| domain::MessageId::parse(m).expect("a message id"));
                bus.publish_raw(routing_key, body, id).expect("publish");
            }
        }
    }

    /// Puts a message straight into `service`'s dead-letter queue, as if it had been
    /// dead-lettered after being published with `routing_key`.
    pub async fn inject_dead_letter(
        &self,
        service: &str,
        routing_key: &str,
        body: &[u8],
        message_id: &str,
    ) {
        match &self.backend {
            Backend::Distributed {
                infra, amqp_prefix, ..
            } => {
                let conn = adapters::rabbitmq::connect(&infra.amqp_url, "tests")
                    .await
                    .expect("AMQP connection");
                let channel = conn.create_channel().await.expect("AMQP channel");
                channel
                    .confirm_select(lapin::options::ConfirmSelectOptions::default())
                    .await
                    .expect("confirms");
                let topology =
                    adapters::rabbitmq::Topology::for_service(amqp_prefix, service, vec![], 10);
                let properties = lapin::BasicProperties::default()
                    .with_message_id(message_id.into())
                    .with_type(routing_key.into())
                    .with_delivery_mode(2);
                channel
                    .basic_publish(
                        topology.dead_letter_exchange.as_str().into(),
                        topology.queue.as_str().into(),
                        lapin::options::BasicPublishOptions {
                            mandatory: true,
                            ..Default::default()
                        },
                        body,
                        properties,
                    )
                    .await
                    .expect("publish to the dead-letter exchange")
                    .await
                    .expect("a confirm");
                channel.close(200, "done".into()).await.ok();
                conn.close(200, "done".into()).await.ok();
            }
            Backend::Standalone { bus, .. } => bus
                .add_dead_letter(
                    &format!("{service}.events"),
                    adapters::memory::DeadLetter {
                        message_id: Some(
                            domain::MessageId::parse(message_id).expect("a message id"),
                        ),
                        routing_key: routing_key.to_owned(),
                        body: body.to_vec(),
                        reason: "injected by a test".to_owned(),
                    },
                )
                .expect("a declared queue"),
        }
    }

    /// The bodies dead-lettered from `service`'s queue (taken out of a RabbitMQ DLQ).
    pub async fn dead_letters(&self, service: &str) -> Vec<Vec<u8>> {
        match &self.backend {
            Backend::Distributed {
                infra, amqp_prefix, ..
            } => {
                let conn = adapters::rabbitmq::connect(&infra.amqp_url, "tests")
                    .await
                    .expect("AMQP connection");
                let channel = conn.create_channel().await.expect("AMQP channel");
                let dlq = format!("{amqp_prefix}{service}.events.dlq");
                let mut bodies = Vec::new();
                while let Some(m) = adapters::rabbitmq::get_one(&channel, &dlq)
                    .await
                    .expect("DLQ")
                {
                    bodies.push(m.delivery.data);
                }
                channel.close(200, "done".into()).await.ok();
                conn.close(200, "done".into()).await.ok();
                bodies
            }
            Backend::Standalone { bus, .. } => bus
                .dead_letters(&format!("{service}.events"))
                .into_iter()
                .map(|d| d.body)
                .collect(),
        }
    }
}
