//! The order lifecycle: cancel with compensation, ship and deliver, details updates, history,
//! optimistic concurrency and idempotency keys.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::{TestSystem, eventually, scalar_i64};

async fn wait_stock(sys: &TestSystem, pid: &str, expected: i64) {
    let reached = eventually(Duration::from_secs(20), || async {
        (sys.stock_in_db(pid).await == expected).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "stock of {pid} never reached {expected} (is {})",
        sys.stock_in_db(pid).await
    );
}

async fn post(
    sys: &TestSystem,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> testkit::Reply {
    sys.request(Method::POST, &sys.order.base_url, path, headers, body)
        .await
}

async fn history(sys: &TestSystem, id: &str) -> Vec<Value> {
    let reply = sys
        .get(&sys.order.base_url, &format!("/orders/{id}/history"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["items"].as_array().unwrap().clone()
}

fn ship_body() -> Value {
    json!({"carrier": "DHL", "tracking_number": "JD014600003828"})
}

async fn a_cancel_delivered_three_times_restores_stock_once(sys: TestSystem) {
    let product = sys.create_product("Cancellable", "10.00", 5).await;
    let pid = product["id"].as_str().unwrap();
    let order = sys.settled_order(&[(pid, 2)], "confirmed").await;
    let id = order["id"].as_str().unwrap();
    assert_eq!(sys.stock_in_db(pid).await, 3);

    let cancelled = post(&sys, &format!("/orders/{id}/cancel"), &[], None).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["allowed_actions"], json!([]));
    wait_stock(&sys, pid, 5).await;

    // The same order.cancelled message twice more, as a broker redelivers.
    let db = sys.order_db().await;
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_sql_and_values(
            sea_orm::ConnectionTrait::get_database_backend(&db),
            "SELECT id, payload FROM outbox WHERE routing_key = 'order.cancelled'",
            vec![],
        ),
    )
    .await
    .unwrap()
    .expect("the cancel went through the outbox");
    let message_id: uuid::Uuid = row.try_get_by_index(0).unwrap();
    let payload: String = row.try_get_by_index(1).unwrap();
    for _ in 0..2 {
        sys.inject(
            "order.cancelled",
            payload.as_bytes(),
            Some(&message_id.to_string()),
        )
        .await;
    }
    // One consumer handles the queue in order: once a later order is confirmed, both
    // duplicates were handled.
    let marker = sys.create_product("Marker", "1.00", 1).await;
    sys.settled_order(&[(marker["id"].as_str().unwrap(), 1)], "confirmed")
        .await;
    assert_eq!(sys.stock_in_db(pid).await, 5, "released exactly once");

    let rows = history(&sys, id).await;
    let steps: Vec<(Value, Value)> = rows
        .iter()
        .map(|r| (r["from"].clone(), r["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (Value::Null, json!("pending")),
            (json!("pending"), json!("confirmed")),
            (json!("confirmed"), json!("cancelled")),
        ]
    );
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3], "a gap-free sequence");
    assert!(rows[1]["cause"].as_str().unwrap().starts_with("message:"));
    assert!(rows[2]["cause"].as_str().unwrap().starts_with("request"));
    sys.stop().await;
}

async fn a_shipped_order_cannot_be_cancelled_or_edited(sys: TestSystem) {
    let product = sys.create_product("Shippable", "10.00", 5).await;
    let pid = product["id"].as_str().unwrap();
    let order = sys.settled_order(&[(pid, 2)], "confirmed").await;
    let id = order["id"].as_str().unwrap();

    let shipped = post(&sys, &format!("/orders/{id}/ship"), &[], Some(&ship_body())).await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    assert_eq!(shipped.body["status"], "shipped");
    assert_eq!(shipped.body["carrier"], "DHL");
    assert_eq!(shipped.body["tracking_number"], "JD014600003828");
    assert_eq!(shipped.body["allowed_actions"], json!(["deliver"]));
    let before = history(&sys, id).await;

    for (method, path) in [
        (Method::POST, format!("/orders/{id}/cancel")),
        (Method::DELETE, format!("/orders/{id}")),
    ] {
        let refused = sys
            .request(method, &sys.order.base_url, &path, &[], None)
            .await;
        let problem = refused.assert_problem(409, "invalid_transition");
        assert_eq!(problem["current_status"], "shipped");
        assert_eq!(refused.body["allowed_actions"], json!(["deliver"]));
    }
    let edit = sys
        .request(
            Method::PATCH,
            &sys.order.base_url,
            &format!("/orders/{id}"),
            &[],
            Some(&json!({"note": "too late"})),
        )
        .await;
    edit.assert_problem(409, "invalid_transition");
    assert_eq!(history(&sys, id).await, before, "nothing changed");
    let read = sys.get_order(id).await;
    assert_eq!(read.body["status"], "shipped");
    assert!(read.body.get("note").is_none());
    // The reservation is consumed, never released.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sys.stock_in_db(pid).await, 3);

    let delivered = post(&sys, &format!("/orders/{id}/deliver"), &[], None).await;
    assert_eq!(delivered.status, 200, "{}", delivered.text);
    assert_eq!(delivered.body["status"], "delivered");
    let again = post(&sys, &format!("/orders/{id}/deliver"), &[], None).await;
    again.assert_problem(409, "invalid_transition");
    let db = sys.order_db().await;
    for key in ["order.shipped", "order.delivered"] {
        let n = scalar_i64(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE routing_key = ?",
            vec![key.into()],
        )
        .await;
        assert_eq!(n, 1, "{key} went through the outbox");
    }
    sys.stop().await;
}

async fn racing_cancels_and_ships_with_one_etag_have_one_winner(sys: TestSystem) {
    let product = sys.create_product("Contended", "10.00", 5).await;
    let pid = product["id"].as_str().unwrap();
    let order = sys.settled_order(&[(pid, 1)], "confirmed").await;
    let id = order["id"].as_str().unwrap().to_owned();
    let read = sys.get_order(&id).await;
    let etag = read.header("etag").unwrap().to_owned();
    let before = history(&sys, &id).await.len();

    let cancel_path = format!("/orders/{id}/cancel");
    let ship_path = format!("/orders/{id}/ship");
    let body = ship_body();
    let requests = (0..100).map(|i| {
        let (path, body) = if i % 2 == 0 {
            (cancel_path.as_str(), None)
        } else {
            (ship_path.as_str(), Some(&body))
        };
        let etag = etag.as_str();
        let sys = &sys;
        async move { post(sys, path, &[("If-Match", etag)], body).await }
    });
    let replies = join_all(requests).await;
    let winners: Vec<&testkit::Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one change wins");
    for loser in replies.iter().filter(|r| r.status != 200) {
        assert!(
            [409, 412].contains(&loser.status),
            "a loser gets 409 or 412, not {}: {}",
            loser.status,
            loser.text
        );
    }
    assert_eq!(
        history(&sys, &id).await.len(),
        before + 1,
        "history gains one row"
    );
    sys.stop().await;
}

async fn one_idempotency_key_places_one_order(sys: TestSystem) {
    let product = sys.create_product("Once", "4.00", 100).await;
    let pid = product["id"].as_str().unwrap();
    let body = json!({"items": [{"product_id": pid, "quantity": 1}]});
    let key = uuid::Uuid::now_v7().to_string();
    let replies = join_all((0..50).map(|_| {
        let (sys, body, key) = (&sys, &body, key.as_str());
        async move { post(sys, "/orders", &[("Idempotency-Key", key)], Some(body)).await }
    }))
    .await;
    let ids: HashSet<String> = replies
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every success carries the same order id");
    for other in replies.iter().filter(|r| r.status != 201) {
        other.assert_problem(409, "idempotency_key_in_progress");
        assert_eq!(other.header("retry-after"), Some("1"));
    }
    let db = sys.order_db().await;
    assert_eq!(
        scalar_i64(&db, "SELECT COUNT(*) FROM orders", vec![]).await,
        1
    );

    // A later retry replays the first answer; another body under the key is refused.
    let replay = post(&sys, "/orders", &[("Idempotency-Key", &key)], Some(&body)).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert!(ids.contains(replay.body["id"].as_str().unwrap()));
    assert_eq!(
        replay.header("location").map(str::to_owned),
        Some(format!("/orders/{}", replay.body["id"].as_str().unwrap()))
    );
    let other = json!({"items": [{"product_id": pid, "quantity": 2}]});
    let reused = post(&sys, "/orders", &[("Idempotency-Key", &key)], Some(&other)).await;
    reused.assert_problem(422, "idempotency_key_reused");
    assert_eq!(
        scalar_i64(&db, "SELECT COUNT(*) FROM orders", vec![]).await,
        1
    );

    // Keys also protect cancels: the retry gets the same answer, not a 409.
    let id = ids.into_iter().next().unwrap();
    sys.wait_settled(&id, Duration::from_secs(20)).await;
    let cancel_key = uuid::Uuid::now_v7().to_string();
    let first = post(
        &sys,
        &format!("/orders/{id}/cancel"),
        &[("Idempotency-Key", &cancel_key)],
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let retry = post(
        &sys,
        &format!("/orders/{id}/cancel"),
        &[("Idempotency-Key", &cancel_key)],
        None,
    )
    .await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, first.body);
    sys.stop().await;
}

async fn details_change_until_shipping_and_items_never(sys: TestSystem) {
    let product = sys.create_product("Editable", "3.00", 5).await;
    let pid = product["id"].as_str().unwrap();
    let placed = sys
        .post_json(
            &sys.order.base_url,
            "/orders",
            &json!({
                "items": [{"product_id": pid, "quantity": 1}],
                "note": "ring twice",
                "shipping_address": {"name": "Ada Lovelace", "line1": "12 St James's Square",
                    "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}
            }),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.body["note"], "ring twice");
    assert_eq!(placed.body["shipping_address"]["city"], "London");
    let id = placed.body["id"].as_str().unwrap();
    let settled = sys.wait_settled(id, Duration::from_secs(20)).await;
    let version = settled["version"].as_u64().unwrap();
    let etag = format!("\"{version}\"");
    let path = format!("/orders/{id}");

    let patch = |headers: Vec<(&'static str, String)>, body: Value| {
        let (sys, path) = (&sys, path.clone());
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            sys.request(
                Method::PATCH,
                &sys.order.base_url,
                &path,
                &headers,
                Some(&body),
            )
            .await
        }
    };
    let updated = patch(
        vec![("If-Match", etag.clone())],
        json!({"note": null, "shipping_address": {"name": "Ada", "line1": "1 Main St", "city": "Paris", "postal_code": "75001", "country": "FR"}}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert!(updated.body.get("note").is_none(), "null clears the note");
    assert_eq!(updated.body["shipping_address"]["country"], "FR");
    assert_eq!(updated.body["version"], version + 1);
    assert_eq!(
        updated.header("etag").map(str::to_owned),
        Some(format!("\"{}\"", version + 1))
    );

    let stale = patch(vec![("If-Match", etag.clone())], json!({"note": "again"})).await;
    stale.assert_problem(412, "precondition_failed");
    let items = patch(
        vec![],
        json!({"items": [{"product_id": pid, "quantity": 3}]}),
    )
    .await;
    items.assert_problem(409, "items_immutable");
    let invalid = patch(vec![], json!({"shipping_address": {"name": "", "line1": "x", "city": "y", "postal_code": "z", "country": "France"}})).await;
    invalid.assert_problem(400, "validation_failed");
    let mut fields = invalid.failing_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["shipping_address.country", "shipping_address.name"]
    );

    let rows = history(&sys, id).await;
    let last = rows.last().unwrap();
    assert_eq!(
        (last["from"].clone(), last["to"].clone()),
        (json!("confirmed"), json!("confirmed"))
    );
    assert_eq!(last["reason"], "details_updated");
    assert_eq!(
        sys.get_order(id).await.body["shipping_address"]["city"],
        "Paris"
    );
    sys.stop().await;
}

async fn a_price_change_reaches_the_next_order_within_a_second(sys: TestSystem) {
    let product = sys.create_product("Repriced", "10.00", 100).await;
    let pid = product["id"].as_str().unwrap();
    let old = sys.settled_order(&[(pid, 1)], "confirmed").await;
    assert_eq!(old["items"][0]["unit_price"], "10.00");

    let patched = sys
        .request(
            Method::PATCH,
            &sys.product.base_url,
            &format!("/products/{pid}"),
            &[],
            Some(&json!({"price": "12.50"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let started = std::time::Instant::now();
    let repriced = eventually(Duration::from_secs(1), || async {
        let reply = sys.place_order(&[(pid, 1)]).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        (reply.body["items"][0]["unit_price"] == "12.50").then_some(reply.body)
    })
    .await
    .expect("a new order uses the new price within a second");
    assert_eq!(repriced["total"], "12.50");
    println!("new price used after {:?}", started.elapsed());
    let old_again = sys.get_order(old["id"].as_str().unwrap()).await;
    assert_eq!(
        old_again.body["items"][0]["unit_price"], "10.00",
        "older orders keep their price"
    );
    assert_eq!(old_again.body["total"], "10.00");
    sys.stop().await;
}

async fn the_price_cache_can_be_warmed(sys: TestSystem) {
    let a = sys.create_product("Warm A", "1.00", 1).await;
    let b = sys.create_product("Warm B", "2.00", 1).await;
    let missing = domain::ProductId::new().to_string();
    let reply = sys
        .post_json(
            &sys.order.base_url,
            "/admin/cache/warmup",
            &json!({"product_ids": [a["id"], b["id"], missing]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut loaded: Vec<&str> = reply.body["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    loaded.sort();
    let mut want = vec![a["id"].as_str().unwrap(), b["id"].as_str().unwrap()];
    want.sort();
    assert_eq!(loaded, want);
    assert_eq!(reply.body["missing"], json!([missing]));
    let bad = sys
        .post_json(
            &sys.order.base_url,
            "/admin/cache/warmup",
            &json!({"product_ids": ["nope"]}),
        )
        .await;
    bad.assert_problem(400, "validation_failed");
    assert_eq!(bad.failing_fields(), ["product_ids[0]"]);
    sys.stop().await;
}

both!(a_cancel_delivered_three_times_restores_stock_once);
both!(a_shipped_order_cannot_be_cancelled_or_edited);
both!(racing_cancels_and_ships_with_one_etag_have_one_winner);
both!(one_idempotency_key_places_one_order);
both!(details_change_until_shipping_and_items_never);
both!(a_price_change_reaches_the_next_order_within_a_second);
both!(the_price_cache_can_be_warmed);
