use adapters::rabbitmq::{self, Topology, topology::declare_exchange_only};

use crate::helpers::{BOUND_KEY, TestBroker};

#[tokio::test]
async fn declaring_the_topology_twice_succeeds() {
    let broker = TestBroker::start(3).await;

    broker
        .topology
        .declare(&broker.channel)
        .await
        .expect("a second declaration is a no-op");
    declare_exchange_only(&broker.channel, &broker.topology.exchange)
        .await
        .expect("declaring only the exchange again is a no-op");

    assert_eq!(broker.queue_depth().await, 0);
    assert_eq!(broker.dlq_depth().await, 0);
    broker.cleanup().await;
}

#[tokio::test]
async fn a_bound_key_reaches_the_queue_and_an_unbound_one_is_refused() {
    let broker = TestBroker::start(3).await;

    broker.publish(b"bound", None).await;
    let unbound = rabbitmq::publish_raw(
        &broker.channel,
        &broker.topology.exchange,
        "order.nobody_listens",
        b"unbound",
        None,
    )
    .await;

    assert!(unbound.is_err(), "an unroutable raw publish is reported");
    broker.wait_for_depths(1, 0).await;
    let message = rabbitmq::get_one(&broker.channel, &broker.topology.queue)
        .await
        .expect("get")
        .expect("the bound message is in the queue");
    assert_eq!(message.delivery.data, b"bound");
    assert_eq!(message.delivery.routing_key.as_str(), BOUND_KEY);
    broker.cleanup().await;
}

#[tokio::test]
async fn another_service_gets_its_own_queue_and_dlq_on_the_shared_exchanges() {
    let broker = TestBroker::start(3).await;
    let other = Topology::for_service(
        &broker.prefix,
        "other-service",
        vec![BOUND_KEY.to_owned()],
        3,
    );
    other.declare(&broker.channel).await.expect("declare");

    broker.publish(b"fan-out", None).await;

    assert_eq!(other.exchange, broker.topology.exchange);
    assert_ne!(other.dlq, broker.topology.dlq);
    broker.wait_for_depths(1, 0).await;
    assert_eq!(
        rabbitmq::queue_depth(&broker.channel, &other.queue)
            .await
            .expect("depth"),
        1
    );
    for queue in [&other.queue, &other.dlq] {
        broker
            .channel
            .queue_delete(queue.as_str().into(), Default::default())
            .await
            .expect("delete");
    }
    broker.cleanup().await;
}

#[tokio::test]
async fn redeclaring_with_another_delivery_limit_is_refused() {
    let broker = TestBroker::start(3).await;
    // The broker closes a channel on a refused declaration: use a spare one.
    let spare = broker.connection.create_channel().await.expect("channel");
    let mut changed = broker.topology.clone();
    changed.delivery_limit = 4;

    let refused = changed.declare(&spare).await;

    let error = format!(
        "{:#}",
        refused.expect_err("a conflicting declaration fails")
    );
    assert!(error.contains(&broker.topology.queue), "{error}");
    broker.cleanup().await;
}
