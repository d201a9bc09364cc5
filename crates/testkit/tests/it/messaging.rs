//! At-least-once delivery with exactly-once effect, and dead-lettering.

use std::time::Duration;

use chrono::Utc;
use domain::{MessageId, OrderId, ProductId};
use ports::events::{OrderCreatedV1, OrderedItemV1, OutboxMessage, keys};
use testkit::{TestSystem, eventually, scalar_i64};

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

async fn inject(sys: &TestSystem, msg: &OutboxMessage) {
    sys.inject(
        keys::ORDER_CREATED,
        msg.payload.as_bytes(),
        Some(&msg.id.to_string()),
    )
    .await;
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

async fn a_message_delivered_twice_is_applied_once(sys: TestSystem) {
    let product = sys.create_product("Dup", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap();
    let marker = sys.create_product("Marker", "1.00", 10).await;
    let marker_id = marker["id"].as_str().unwrap();

    let (order_id, msg) = order_created(pid, 3);
    inject(&sys, &msg).await;
    inject(&sys, &msg).await;
    let (_, marker_msg) = order_created(marker_id, 1);
    inject(&sys, &marker_msg).await;
    sys.handled_by_products(&[msg.id, marker_msg.id]).await;

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

async fn a_malformed_message_is_dead_lettered_without_blocking_the_queue(sys: TestSystem) {
    let product = sys.create_product("After poison", "1.00", 5).await;
    let pid = product["id"].as_str().unwrap();

    let poison_id = MessageId::new().to_string();
    sys.inject(keys::ORDER_CREATED, b"{this is not json", Some(&poison_id))
        .await;
    sys.inject(
        keys::ORDER_CREATED,
        br#"{"id":"x","type":"order.created","version":1}"#,
        None,
    )
    .await;
    let (order_id, good) = order_created(pid, 2);
    inject(&sys, &good).await;

    wait_stock(&sys, pid, 3).await;
    assert_eq!(reservations_of(&sys, order_id).await, 1);
    // Reading a RabbitMQ DLQ takes the messages out: collect until both arrived.
    let mut dead = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dead.len() < 2 && std::time::Instant::now() < deadline {
        dead.extend(sys.dead_letters(SERVICE).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        dead.len(),
        2,
        "both malformed messages reach the DLQ: {dead:?}"
    );
    assert_eq!(dead[0], b"{this is not json");
    sys.stop().await;
}

both!(a_message_delivered_twice_is_applied_once);
both!(a_malformed_message_is_dead_lettered_without_blocking_the_queue);

async fn dead_letters_are_listed_and_replayed_once(sys: TestSystem) {
    let product = sys.create_product("Replayed", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap();
    let base = &sys.product.base_url;

    sys.inject(
        keys::ORDER_CREATED,
        b"{poison",
        Some(&MessageId::new().to_string()),
    )
    .await;
    let (order_id, valid) = order_created(pid, 4);
    sys.inject_dead_letter(
        SERVICE,
        keys::ORDER_CREATED,
        valid.payload.as_bytes(),
        &valid.id.to_string(),
    )
    .await;
    let listed = eventually(Duration::from_secs(10), || async {
        let page = sys.get(base, "/admin/dead-letters").await;
        (page.body["count"] == 2).then_some(page)
    })
    .await
    .expect("both messages are listed");
    let keys_listed: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["routing_key"].as_str().unwrap())
        .collect();
    assert!(
        keys_listed.iter().all(|k| *k == keys::ORDER_CREATED),
        "{keys_listed:?}"
    );
    assert_eq!(sys.stock_in_db(pid).await, 10, "listing takes nothing out");

    let replay = sys
        .post_json(base, "/admin/dead-letters/replay", &serde_json::json!({}))
        .await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.body["replayed"], 2);
    wait_stock(&sys, pid, 6).await;
    assert_eq!(reservations_of(&sys, order_id).await, 1);
    // The poison fails again and is back; the good one is gone.
    let back = eventually(Duration::from_secs(10), || async {
        let page = sys.get(base, "/admin/dead-letters").await;
        (page.body["count"] == 1).then_some(page)
    })
    .await
    .expect("the poison is dead-lettered again");
    assert_eq!(back.body["items"][0]["body"], "{poison");

    // The same message replayed once more has no second effect.
    sys.inject_dead_letter(
        SERVICE,
        keys::ORDER_CREATED,
        valid.payload.as_bytes(),
        &valid.id.to_string(),
    )
    .await;
    let again = sys
        .post_json(base, "/admin/dead-letters/replay", &serde_json::json!({}))
        .await;
    assert_eq!(again.status, 200);
    let marker = sys.create_product("Marker", "1.00", 1).await;
    sys.settled_order(&[(marker["id"].as_str().unwrap(), 1)], "confirmed")
        .await;
    assert_eq!(sys.stock_in_db(pid).await, 6, "applied exactly once");
    assert_eq!(reservations_of(&sys, order_id).await, 1);
    sys.stop().await;
}

both!(dead_letters_are_listed_and_replayed_once);
