//! The services' own broker users (deploy/rabbitmq/service-users.sh, created by `infra.sh up`):
//! the broker itself refuses a service publishing another service's events or reading another
//! service's queue.
//!
//! The users' URLs come from `TEST_AMQP_ORDER_URL` and `TEST_AMQP_PRODUCT_URL`; a missing one
//! fails the test. Topic permissions are kept per exact exchange name, so each test copies the
//! users' permissions on `shop.events` to its own prefixed exchange through the management API
//! (`TEST_RABBITMQ_API_URL`), as an operator running the services under a prefix would.

use adapters::rabbitmq::{self, Topology};
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ErrorKind};
use ports::events::keys;

use crate::helpers::amqp_url;

const ORDER_SERVICE: &str = "order-service";
const PRODUCT_SERVICE: &str = "product-service";

fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{var} is not set: run `make test`, whose RabbitMQ has the services' users \
             (deploy/local-infra/infra.sh), or point it at a broker that has them"
        ),
    }
}

/// Copies each service user's topic permissions on `shop.events` to `{prefix}shop.events`.
async fn grant_topic_permissions(prefix: &str) {
    let mut api = reqwest::Url::parse(&required("TEST_RABBITMQ_API_URL"))
        .expect("TEST_RABBITMQ_API_URL is a URL");
    let (admin, password) = (api.username().to_owned(), api.password().map(str::to_owned));
    // The credentials go in a header, not in the URL.
    let _ = api.set_username("");
    let _ = api.set_password(None);
    let client = reqwest::Client::new();
    for user in [ORDER_SERVICE, PRODUCT_SERVICE] {
        let url = format!(
            "{}/topic-permissions/%2F/{user}",
            api.as_str().trim_end_matches('/')
        );
        let granted: Vec<serde_json::Value> = client
            .get(&url)
            .basic_auth(&admin, password.as_deref())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("the management API lists the topic permissions")
            .json()
            .await
            .expect("topic permissions as JSON");
        let base = granted
            .iter()
            .find(|permission| permission["exchange"] == "shop.events")
            .unwrap_or_else(|| panic!("{user} has no topic permissions on shop.events"));
        client
            .put(&url)
            .basic_auth(&admin, password.as_deref())
            .json(&serde_json::json!({
                "exchange": Topology::exchange_name(prefix),
                "write": base["write"],
                "read": base["read"],
            }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("the management API sets the topic permissions");
    }
}

/// A connection as a service's user, with a confirm-mode channel.
async fn connect_as(url: &str, name: &str) -> (Connection, Channel) {
    let connection = rabbitmq::connect(url, name)
        .await
        .expect("the service user may connect");
    let channel = confirming_channel(&connection).await;
    (connection, channel)
}

/// A channel in confirm mode: a refused publish closes its channel, so each check gets one.
async fn confirming_channel(connection: &Connection) -> Channel {
    let channel = connection.create_channel().await.expect("a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    channel
}

/// Both services' topologies under a fresh prefix, each declared by its own user (which proves
/// the users may declare them).
struct Services {
    prefix: String,
    order: Topology,
    product: Topology,
}

impl Services {
    async fn declare() -> Self {
        let prefix = format!("t{}.", uuid::Uuid::now_v7().simple());
        grant_topic_permissions(&prefix).await;
        let topology = |service: &str, keys: &[&str]| {
            Topology::for_service(
                &prefix,
                service,
                keys.iter().map(|k| (*k).to_owned()).collect(),
                3,
            )
        };
        let services = Self {
            order: topology(ORDER_SERVICE, ports::ordering::ROUTING_KEYS),
            product: topology(PRODUCT_SERVICE, ports::inventory::ROUTING_KEYS),
            prefix: prefix.clone(),
        };
        for (url, topology) in [
            (required("TEST_AMQP_ORDER_URL"), &services.order),
            (required("TEST_AMQP_PRODUCT_URL"), &services.product),
        ] {
            let (connection, channel) = connect_as(&url, "broker-users-test").await;
            topology
                .declare(&channel)
                .await
                .expect("a service user may declare its own topology");
            connection.close(200, "declared".into()).await.ok();
        }
        services
    }

    async fn delete(self) {
        let connection = rabbitmq::connect(&amqp_url(), "broker-users-test")
            .await
            .expect("the admin connects");
        let channel = connection.create_channel().await.expect("a channel");
        for topology in [&self.order, &self.product] {
            topology
                .delete(&channel)
                .await
                .expect("delete the test topology");
        }
        connection.close(200, "OK".into()).await.ok();
    }
}

/// Publishes an empty message and waits for the broker's answer.
async fn publish(channel: &Channel, exchange: &str, key: &str) -> lapin::Result<Confirmation> {
    channel
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            b"{}",
            BasicProperties::default(),
        )
        .await?
        .await
}

#[track_caller]
fn assert_access_refused<T: std::fmt::Debug>(what: &str, result: lapin::Result<T>) {
    match result {
        Err(error) => match error.kind() {
            ErrorKind::ProtocolError(amqp) => assert_eq!(
                amqp.get_id(),
                403,
                "{what}: expected ACCESS_REFUSED, got {amqp:?}"
            ),
            other => panic!("{what}: expected ACCESS_REFUSED, got {other:?}"),
        },
        Ok(value) => panic!("{what} was allowed: {value:?}"),
    }
}

#[tokio::test]
async fn the_order_service_may_publish_its_events_and_no_other() {
    let services = Services::declare().await;
    let exchange = Topology::exchange_name(&services.prefix);
    let (connection, channel) =
        connect_as(&required("TEST_AMQP_ORDER_URL"), "broker-users-test").await;

    let created = publish(&channel, &exchange, keys::ORDER_CREATED).await;
    assert!(
        matches!(created, Ok(Confirmation::Ack(None))),
        "order.created is confirmed and routed, got {created:?}"
    );

    assert_access_refused(
        "the order service publishing order.qty_confirmed",
        publish(&channel, &exchange, keys::ORDER_QTY_CONFIRMED).await,
    );

    // Nor may it reach a queue by name through the default exchange.
    let channel = confirming_channel(&connection).await;
    assert_access_refused(
        "the order service publishing through the default exchange",
        publish(&channel, "", &services.product.queue).await,
    );

    connection.close(200, "OK".into()).await.ok();
    services.delete().await;
}

#[tokio::test]
async fn the_product_service_cannot_read_the_order_services_queue() {
    let services = Services::declare().await;
    let (connection, channel) =
        connect_as(&required("TEST_AMQP_PRODUCT_URL"), "broker-users-test").await;

    assert_access_refused(
        "the product service getting from the order service's queue",
        channel
            .basic_get(
                services.order.queue.as_str().into(),
                BasicGetOptions::default(),
            )
            .await,
    );

    let channel = connection.create_channel().await.expect("a new channel");
    assert_access_refused(
        "the product service consuming the order service's queue",
        channel
            .basic_consume(
                services.order.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map(|_| ()),
    );

    // Its own queue it may read.
    let channel = connection.create_channel().await.expect("a new channel");
    let own = channel
        .basic_get(
            services.product.queue.as_str().into(),
            BasicGetOptions::default(),
        )
        .await;
    assert!(
        matches!(own, Ok(None)),
        "its own empty queue reads as empty, got {own:?}"
    );

    connection.close(200, "OK".into()).await.ok();
    services.delete().await;
}
