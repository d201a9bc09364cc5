//! At-least-once delivery with exactly-once effect, and dead-lettering.

use std::time::Duration;

use adapters::amqp;
use chrono::Utc;
use domain::{MessageId, OrderId, ProductId};
use ports::events::{OrderCreatedV1, OrderedItemV1, OutboxMessage, keys};
use testkit::{TestSystem, eventually, scalar_i64, spawn_system};

const SERVICE: &str = "product-service";

fn order_created(product_id: &str, quantity: u32) -> (OrderId, OutboxMessage) {
    let order_id = OrderId::new();
    let msg = OutboxMessage::new(
        &OrderCreatedV1 {
            order_id,
            items: vec![OrderedItemV1 {
                product_id: ProductId::parse(product_id).unwrap(),
                quantity,
            }],
        },
        Utc::now(),
    );
    (order_id, msg)
}

async fn publish(sys: &TestSystem, channel: &lapin::Channel, body: &[u8], id: Option<MessageId>) {
    amqp::publish_raw(
        channel,
        &amqp::Topology::exchange_name(&sys.amqp_prefix),
        keys::ORDER_CREATED,
        body,
        id.map(|i| i.to_string()).as_deref(),
    )
    .await
    .expect("publish");
}

async fn wait_stock(sys: &TestSystem, pid: &str, expected: i64) {
    let reached = eventually(Duration::from_secs(20), || async {
        (sys.stock_in_db(pid).await == expected).then_some(())
    })
    .await;
    assert!(reached.is_some(), "stock of {pid} never reached {expected}");
}

async fn reservations_of(sys: &TestSystem, order_id: OrderId) -> i64 {
    let db = sys.product_db().await;
    scalar_i64(
        &db,
        "SELECT COUNT(*) FROM stock_reservations WHERE order_id = ?",
        vec![order_id.as_uuid().into()],
    )
    .await
}

#[tokio::test]
async fn a_message_delivered_twice_is_applied_once() {
    let sys = spawn_system().await;
    let product = sys.create_product("Dup", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap();
    let marker = sys.create_product("Marker", "1.00", 10).await;
    let marker_id = marker["id"].as_str().unwrap();
    let (_conn, channel) = sys.amqp_channel().await;

    let (order_id, msg) = order_created(pid, 3);
    publish(&sys, &channel, msg.payload.as_bytes(), Some(msg.id)).await;
    publish(&sys, &channel, msg.payload.as_bytes(), Some(msg.id)).await;
    // One consumer handles the queue in order: once the marker is applied, both copies were.
    let (_, marker_msg) = order_created(marker_id, 1);
    publish(
        &sys,
        &channel,
        marker_msg.payload.as_bytes(),
        Some(marker_msg.id),
    )
    .await;
    wait_stock(&sys, marker_id, 9).await;

    assert_eq!(sys.stock_in_db(pid).await, 7, "decremented once, not twice");
    assert_eq!(reservations_of(&sys, order_id).await, 1);
    let db = sys.product_db().await;
    let answers = scalar_i64(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE routing_key = 'order.qty_confirmed'",
        vec![],
    )
    .await;
    assert_eq!(
        answers, 2,
        "one answer for the duplicated order, one for the marker"
    );
    sys.stop().await;
}

#[tokio::test]
async fn a_malformed_message_is_dead_lettered_without_blocking_the_queue() {
    let sys = spawn_system().await;
    let product = sys.create_product("After poison", "1.00", 5).await;
    let pid = product["id"].as_str().unwrap();
    let (_conn, channel) = sys.amqp_channel().await;

    publish(&sys, &channel, b"{this is not json", Some(MessageId::new())).await;
    publish(
        &sys,
        &channel,
        br#"{"id":"x","type":"order.created","version":1}"#,
        None,
    )
    .await;
    let (order_id, good) = order_created(pid, 2);
    publish(&sys, &channel, good.payload.as_bytes(), Some(good.id)).await;

    wait_stock(&sys, pid, 3).await;
    assert_eq!(reservations_of(&sys, order_id).await, 1);
    let topology = sys.topology(SERVICE, &[keys::ORDER_CREATED]);
    let (_c2, inspect) = sys.amqp_channel().await;
    let depth = eventually(Duration::from_secs(10), || async {
        let d = amqp::dlq_depth(&inspect, &topology)
            .await
            .expect("dlq depth");
        (d == 2).then_some(d)
    })
    .await;
    assert_eq!(depth, Some(2), "both malformed messages are in the DLQ");
    let dead = amqp::get_one(&inspect, &topology.dlq)
        .await
        .unwrap()
        .expect("a dead letter");
    assert_eq!(dead.delivery.data, b"{this is not json");
    sys.stop().await;
}
