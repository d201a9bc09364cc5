use std::time::Duration;

use adapters::rabbitmq::{self, RabbitMqPublisher};
use chrono::Utc;
use domain::{MessageId, OrderId};
use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use ports::events::{OrderCreatedV1, OrderedItemV1, OutboxMessage};
use ports::messaging::{EventPublisher, PublishError};

use crate::helpers::{Proxy, TestBroker, amqp_url};

fn order_created() -> OutboxMessage {
    OutboxMessage::new(
        &OrderCreatedV1 {
            order_id: OrderId::new(),
            items: vec![OrderedItemV1 {
                product_id: domain::ProductId::new(),
                quantity: 2,
            }],
        },
        Utc::now(),
    )
}

fn unroutable() -> OutboxMessage {
    OutboxMessage {
        routing_key: "order.nobody_listens".to_owned(),
        ..order_created()
    }
}

#[tokio::test]
async fn a_confirmed_message_arrives_with_its_properties() {
    let broker = TestBroker::start(3).await;
    let publisher =
        RabbitMqPublisher::new(&broker.url, "test-publisher", &broker.topology.exchange)
            .with_app_id("order-service");
    let message = order_created();

    let results = publisher
        .publish_batch(std::slice::from_ref(&message))
        .await;

    assert!(matches!(results.as_slice(), [Ok(())]), "{results:?}");
    assert!(publisher.is_connected().await);
    let got = rabbitmq::get_one(&broker.channel, &broker.topology.queue)
        .await
        .expect("get")
        .expect("the message was routed to the queue");
    let properties = &got.delivery.properties;
    assert_eq!(got.delivery.routing_key.as_str(), "order.created");
    assert_eq!(got.delivery.data, message.payload.as_bytes());
    assert_eq!(
        properties.message_id().as_ref().map(|id| id.as_str()),
        Some(message.id.to_string().as_str())
    );
    assert_eq!(
        properties.kind().as_ref().map(|kind| kind.as_str()),
        Some("order.created")
    );
    assert_eq!(
        properties.content_type().as_ref().map(|ct| ct.as_str()),
        Some("application/json")
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    assert_eq!(
        *properties.timestamp(),
        Some(u64::try_from(message.occurred_at.timestamp()).expect("after 1970"))
    );
    assert_eq!(
        properties.app_id().as_ref().map(|app| app.as_str()),
        Some("order-service")
    );
    broker.cleanup().await;
}

#[tokio::test]
async fn an_unbound_routing_key_is_unroutable_and_the_rest_of_the_batch_is_not_affected() {
    let broker = TestBroker::start(3).await;
    let publisher =
        RabbitMqPublisher::new(&broker.url, "test-publisher", &broker.topology.exchange);
    let batch = [order_created(), unroutable(), order_created()];

    let results = publisher.publish_batch(&batch).await;

    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(PublishError::Unroutable(id)) if id == batch[1].id),
        "{results:?}"
    );
    assert!(results[2].is_ok(), "{results:?}");
    broker.wait_for_depths(2, 0).await;
    // The same channel keeps working after a return.
    let again = publisher.publish_batch(&[order_created()]).await;
    assert!(matches!(again.as_slice(), [Ok(())]), "{again:?}");
    broker.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_broker_fails_every_message_with_a_connection_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let publisher = RabbitMqPublisher::new(
        format!("amqp://guest:secret@127.0.0.1:{port}/%2f"),
        "test-publisher",
        "unused.events",
    );

    let results = publisher
        .publish_batch(&[order_created(), order_created()])
        .await;

    assert_eq!(results.len(), 2);
    for result in &results {
        let Err(PublishError::Connection(error)) = result else {
            panic!("expected a connection error, got {result:?}");
        };
        let error = format!("{error:#}");
        assert!(!error.contains("secret"), "the password leaked: {error}");
    }
    assert!(!publisher.is_connected().await);
    assert!(publisher.ensure_connected().await.is_err());
}

#[tokio::test]
async fn the_publisher_recovers_after_the_connection_drops() {
    let broker = TestBroker::start(3).await;
    let proxy = Proxy::start(&amqp_url()).await;
    let publisher = RabbitMqPublisher::new(&proxy.url, "test-publisher", &broker.topology.exchange)
        .with_confirm_timeout(Duration::from_secs(2));
    publisher.ensure_connected().await.expect("connect");
    assert!(publisher.is_connected().await);

    proxy.sever();
    // At most the first batch may fail: it can race with the discovery of the dead socket.
    let mut attempts = Vec::new();
    for _ in 0..2 {
        let message = order_created();
        let result = publisher
            .publish_batch(std::slice::from_ref(&message))
            .await;
        let ok = matches!(result.as_slice(), [Ok(())]);
        attempts.push(result);
        if ok {
            break;
        }
        assert!(
            matches!(attempts[0].as_slice(), [Err(PublishError::Connection(_))]),
            "{attempts:?}"
        );
    }

    assert!(
        matches!(attempts.last().map(Vec::as_slice), Some([Ok(())])),
        "{attempts:?}"
    );
    assert!(publisher.is_connected().await);
    broker.wait_for_depths(1, 0).await;
    publisher.close().await;
    assert!(!publisher.is_connected().await);
    broker.cleanup().await;
}

#[tokio::test]
async fn a_message_refused_by_a_full_queue_is_nacked() {
    let broker = TestBroker::start(3).await;
    // A queue that takes nothing and refuses rather than drops: the broker nacks what it gets.
    let full_queue = format!("{}full", broker.prefix);
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    broker
        .channel
        .queue_declare(
            full_queue.as_str().into(),
            QueueDeclareOptions::default(),
            arguments,
        )
        .await
        .expect("declare the full queue");
    broker
        .channel
        .queue_bind(
            full_queue.as_str().into(),
            broker.topology.exchange.as_str().into(),
            "order.full".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind the full queue");
    let publisher =
        RabbitMqPublisher::new(&broker.url, "test-publisher", &broker.topology.exchange);
    let refused = OutboxMessage {
        routing_key: "order.full".to_owned(),
        ..order_created()
    };

    let results = publisher
        .publish_batch(&[refused.clone(), order_created()])
        .await;

    assert!(
        matches!(results.as_slice(), [Err(PublishError::Nacked(id)), Ok(())] if *id == refused.id),
        "{results:?}"
    );
    broker
        .channel
        .queue_delete(full_queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete the full queue");
    broker.cleanup().await;
}

#[tokio::test]
async fn confirms_that_do_not_arrive_in_time_are_timeouts_and_the_next_batch_recovers() {
    let broker = TestBroker::start(3).await;
    let proxy = Proxy::start(&amqp_url()).await;
    let publisher = RabbitMqPublisher::new(&proxy.url, "test-publisher", &broker.topology.exchange)
        .with_confirm_timeout(Duration::from_millis(500));
    publisher.ensure_connected().await.expect("connect");
    let batch = [order_created(), order_created()];

    proxy.stall(true);
    let started = tokio::time::Instant::now();
    let results = publisher.publish_batch(&batch).await;
    let waited = started.elapsed();
    proxy.stall(false);

    assert!(
        matches!(
            results.as_slice(),
            [Err(PublishError::Timeout(first)), Err(PublishError::Timeout(second))]
                if *first == batch[0].id && *second == batch[1].id
        ),
        "{results:?}"
    );
    assert!(
        waited < Duration::from_secs(2),
        "the timeout bounds the batch: {waited:?}"
    );
    let next = publisher.publish_batch(&[order_created()]).await;
    assert!(matches!(next.as_slice(), [Ok(())]), "{next:?}");
    // The timed-out messages did reach the broker: the relay's retry will duplicate them, which
    // the consumers' inbox absorbs.
    broker.wait_for_depths(3, 0).await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_missing_message_id_is_not_required_by_the_broker() {
    // Duplicates are the consumers' concern (inbox): the broker takes the same id twice.
    let broker = TestBroker::start(3).await;
    let id = MessageId::new().to_string();

    broker.publish(b"first", Some(&id)).await;
    broker.publish(b"again", Some(&id)).await;
    broker.publish(b"anonymous", None).await;

    broker.wait_for_depths(3, 0).await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_message_larger_than_a_frame_arrives_whole() {
    let broker = TestBroker::start(3).await;
    // Connections ask for 16 KiB frames unless the URL names a size.
    assert_eq!(broker.connection.configuration().frame_max(), 16 * 1024);
    let publisher =
        RabbitMqPublisher::new(&broker.url, "test-publisher", &broker.topology.exchange);
    let items = (0..1_000)
        .map(|_| OrderedItemV1 {
            product_id: domain::ProductId::new(),
            quantity: 1,
        })
        .collect();
    let message = OutboxMessage::new(
        &OrderCreatedV1 {
            order_id: OrderId::new(),
            items,
        },
        Utc::now(),
    );
    assert!(
        message.payload.len() > 3 * 16 * 1024,
        "spans several frames"
    );

    let results = publisher
        .publish_batch(std::slice::from_ref(&message))
        .await;

    assert!(matches!(results.as_slice(), [Ok(())]), "{results:?}");
    let got = rabbitmq::get_one(&broker.channel, &broker.topology.queue)
        .await
        .expect("get")
        .expect("the message was routed to the queue");
    assert_eq!(got.delivery.data, message.payload.as_bytes());
}
