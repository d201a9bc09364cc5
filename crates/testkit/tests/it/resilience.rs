//! Failures of dependencies, as clients see them.

use std::time::{Duration, Instant};

use testkit::spawn_system;

#[tokio::test]
async fn orders_fail_fast_while_the_product_service_is_down_and_cached_prices_still_serve() {
    let mut sys = spawn_system().await;
    let cached = sys.create_product("Cached price", "3.00", 10).await;
    let uncached = sys.create_product("Never priced", "4.00", 10).await;
    let (cached, uncached) = (
        cached["id"].as_str().unwrap().to_owned(),
        uncached["id"].as_str().unwrap().to_owned(),
    );
    // Once an order is confirmed, the product's `product.created` (published before the
    // inventory's answer, on the same queue) has evicted whatever was cached: warm the price.
    sys.settled_order(&[(&cached, 1)], "confirmed").await;
    let warm = sys
        .post_json(
            &sys.order.base_url,
            "/admin/cache/warmup",
            &serde_json::json!({"product_ids": [cached]}),
        )
        .await;
    assert_eq!(warm.body["loaded"], serde_json::json!([cached]));

    sys.stop_product_service().await;

    // Unpriced products: 503 with Retry-After; after a few failures the breaker opens and
    // the answer comes at once, without waiting on the dead peer.
    let mut last = Duration::ZERO;
    let mut suspended = false;
    for _ in 0..8 {
        let started = Instant::now();
        let reply = sys.place_order(&[(&uncached, 1)]).await;
        last = started.elapsed();
        reply.assert_problem(503, "product_service_unavailable");
        assert!(reply.header("retry-after").is_some());
        suspended = reply.body["detail"].as_str().unwrap().contains("suspended");
    }
    assert!(suspended, "repeated failures open the circuit breaker");
    assert!(
        last < Duration::from_millis(100),
        "an open breaker answers at once, took {last:?}"
    );

    // A product whose price is cached still sells.
    let reply = sys.place_order(&[(&cached, 1)]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["items"][0]["unit_price"], "3.00");
    sys.stop().await;
}

#[tokio::test]
async fn orders_are_accepted_while_the_broker_is_unreachable() {
    const DEAD_BROKER: &str = "amqp://guest:guest@127.0.0.1:1/%2f";
    let sys = testkit::spawn_system_with(
        |p| p.amqp.url = DEAD_BROKER.into(),
        |o| o.amqp.url = DEAD_BROKER.into(),
    )
    .await;
    let product = sys.create_product("Buffered", "2.00", 5).await;
    let reply = sys
        .place_order(&[(product["id"].as_str().unwrap(), 1)])
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["status"], "pending");

    // The event waits in the outbox; health says the broker is down but the service serves.
    let db = sys.order_db().await;
    let waiting = testkit::scalar_i64(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND routing_key = 'order.created'",
        vec![],
    )
    .await;
    assert_eq!(waiting, 1);
    let health = sys.get(&sys.order.base_url, "/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.body["status"], "degraded");
    assert_eq!(health.body["services"]["rabbitmq"], "down");
    assert_eq!(health.body["services"]["database"], "up");
    sys.stop().await;
}

#[tokio::test]
async fn an_order_the_inventory_never_answers_is_rejected_with_timeout() {
    let mut sys = testkit::spawn_system_with(
        |_| {},
        |o| {
            o.sweeper.interval_secs = 1;
            o.sweeper.pending_deadline_secs = 1;
            o.sweeper.max_reemits = 1;
        },
    )
    .await;
    let product = sys.create_product("Unanswered", "2.00", 5).await;
    let pid = product["id"].as_str().unwrap().to_owned();
    // Once an order is confirmed, `product.created` has been handled (see above): warm after.
    sys.settled_order(&[(&pid, 1)], "confirmed").await;
    let warm = sys
        .post_json(
            &sys.order.base_url,
            "/admin/cache/warmup",
            &serde_json::json!({"product_ids": [pid]}),
        )
        .await;
    assert_eq!(warm.status, 200);
    sys.stop_product_service().await;

    let placed = sys.place_order(&[(&pid, 1)]).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let order = sys.wait_settled(&id, Duration::from_secs(20)).await;
    assert_eq!(order["status"], "rejected", "{order}");
    assert_eq!(order["rejection_reason"], "timeout");

    let history = sys
        .get(&sys.order.base_url, &format!("/orders/{id}/history"))
        .await;
    let last = history.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["cause"], "sweeper");
    let db = sys.order_db().await;
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    let reemits = testkit::scalar_i64(
        &db,
        "SELECT reemits FROM orders WHERE id = ?",
        vec![uuid.into()],
    )
    .await;
    assert_eq!(
        reemits, 1,
        "order.created went out once more before the timeout"
    );
    let cancels = testkit::scalar_i64(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE routing_key = 'order.cancelled'",
        vec![],
    )
    .await;
    assert_eq!(cancels, 1, "order.cancelled releases a late reservation");
    let created = testkit::scalar_i64(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE routing_key = 'order.created' AND id = ?",
        vec![uuid.into()],
    )
    .await;
    assert_eq!(
        created, 1,
        "the re-emission is the same message, with the order's id"
    );
    sys.stop().await;
}

#[tokio::test]
async fn an_exhausted_database_pool_answers_503_instead_of_queueing_requests() {
    let sys = testkit::spawn_system_with(
        |_| {},
        |o| {
            o.database.max_connections = 1;
            o.database.acquire_timeout_ms = 300;
        },
    )
    .await;
    let product = sys.create_product("Pooled", "2.00", 5).await;
    let product = product["id"].as_str().unwrap().to_owned();

    // Another client locks every gap of `orders`: the next order's insert waits on it, holding
    // the order service's only pooled connection.
    let db = sys.order_db().await;
    let blocker = lock_order_inserts(&db).await;
    let first = order_in_background(
        &sys,
        serde_json::json!({"items": [{"product_id": product, "quantity": 1}]}),
        None,
    );
    waiting_order_insert(&db).await;

    // The pool is exhausted: the next request is refused with 503 and Retry-After while the
    // first one is still waiting, instead of queueing behind it.
    let reply = sys.place_order(&[(&product, 1)]).await;
    reply.assert_problem(503, "service_unavailable");
    assert!(reply.header("retry-after").is_some());
    assert!(
        !first.is_finished(),
        "the blocked order answered before the lock was released"
    );

    // Once the lock goes, the first order completes and the service serves again.
    blocker.rollback().await.unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status, 201, "{}", first.text);
    let reply = sys.place_order(&[(&product, 1)]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    sys.stop().await;
}

#[tokio::test]
async fn a_database_connection_lost_mid_order_answers_503_and_the_retry_is_placed_once() {
    let sys = spawn_system().await;
    let product = sys.create_product("Cut off", "2.00", 5).await;
    let product = product["id"].as_str().unwrap().to_owned();
    let db = sys.order_db().await;
    let blocker = lock_order_inserts(&db).await;
    let body = serde_json::json!({"items": [{"product_id": product, "quantity": 2}]});
    let key = [("Idempotency-Key", "lost-connection-1")];
    let first = order_in_background(&sys, body.clone(), Some(key[0].1));
    // The order's transaction is waiting on the lock: its connection dies under it, as when
    // the server restarts or a network path drops.
    let connection = waiting_order_insert(&db).await;
    execute(&db, &format!("KILL CONNECTION {connection}")).await;
    let reply = first.await.unwrap();
    reply.assert_problem(503, "service_unavailable");
    assert!(reply.header("retry-after").is_some());
    blocker.rollback().await.unwrap();

    // Nothing of the cut-off order was written.
    let rows = |table: &str| {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let db = db.clone();
        async move { testkit::scalar_i64(&db, &sql, vec![]).await }
    };
    assert_eq!(rows("orders").await, 0, "a half-written order");
    assert_eq!(
        rows("outbox").await,
        0,
        "an event of an order that does not exist"
    );

    // The client's retry with the same key is served (the failure gave the key back), once.
    let retry = sys
        .request(
            reqwest::Method::POST,
            &sys.order.base_url,
            "/orders",
            &key,
            Some(&body),
        )
        .await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    let id = retry.body["id"].as_str().unwrap().to_owned();
    assert_eq!(rows("orders").await, 1);
    assert_eq!(
        sys.wait_settled(&id, Duration::from_secs(20)).await["status"],
        "confirmed"
    );
    assert_eq!(sys.stock_in_db(&product).await, 3);
    sys.stop().await;
}

/// `POST /orders` with `body` (and an `Idempotency-Key`) on a task of its own, for a request
/// that is to block.
fn order_in_background(
    sys: &testkit::TestSystem,
    body: serde_json::Value,
    key: Option<&'static str>,
) -> tokio::task::JoinHandle<testkit::Reply> {
    let mut request = sys
        .http
        .post(format!("{}/orders", sys.order.base_url))
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    tokio::spawn(async move { testkit::Reply::read(request.send().await.unwrap()).await })
}

/// Locks every gap of `orders` from another client, so that the next order's insert waits.
async fn lock_order_inserts(db: &sea_orm::DatabaseConnection) -> sea_orm::DatabaseTransaction {
    use sea_orm::TransactionTrait;
    let blocker = db.begin().await.unwrap();
    execute(&blocker, "SELECT id FROM orders FOR UPDATE").await;
    blocker
}

/// Waits until an order insert of this database waits on the lock; returns its connection id.
async fn waiting_order_insert(db: &sea_orm::DatabaseConnection) -> i64 {
    testkit::eventually(Duration::from_secs(10), || async {
        let id = testkit::scalar_i64(
            db,
            "SELECT COALESCE(MAX(ID), 0) FROM information_schema.PROCESSLIST \
             WHERE DB = DATABASE() AND INFO LIKE 'INSERT INTO `orders`%'",
            vec![],
        )
        .await;
        (id > 0).then_some(id)
    })
    .await
    .expect("the order never reached the lock")
}

async fn execute(db: &impl sea_orm::ConnectionTrait, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
