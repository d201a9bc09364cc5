//! Bad input: a precise 4xx problem, and nothing written.

use serde_json::{Value, json};
use testkit::{TestSystem, scalar_i64};

async fn nothing_written(sys: &TestSystem) {
    let db = sys.order_db().await;
    assert_eq!(
        scalar_i64(&db, "SELECT COUNT(*) FROM orders", vec![]).await,
        0
    );
    assert_eq!(
        scalar_i64(&db, "SELECT COUNT(*) FROM order_items", vec![]).await,
        0
    );
    assert_eq!(
        scalar_i64(&db, "SELECT COUNT(*) FROM outbox", vec![]).await,
        0
    );
}

async fn an_unknown_product_is_422_and_nothing_is_written(sys: TestSystem) {
    let known = sys.create_product("Known", "1.00", 5).await;
    let unknown = domain::ProductId::new().to_string();
    let reply = sys
        .place_order(&[(known["id"].as_str().unwrap(), 1), (&unknown, 1)])
        .await;
    let problem = reply.assert_problem(422, "unknown_products");
    assert_eq!(problem["product_ids"], json!([unknown]));
    assert_eq!(problem["errors"][0]["field"], "items[1].product_id");
    nothing_written(&sys).await;
    sys.stop().await;
}

async fn malformed_orders_are_400_naming_the_field_and_nothing_is_written(sys: TestSystem) {
    let product = sys.create_product("Widget", "2.50", 5).await;
    let pid = product["id"].as_str().unwrap();
    let item = |q: Value| json!({"product_id": pid, "quantity": q});
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"product_id": domain::ProductId::new().to_string(), "quantity": 1}))
        .collect();

    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing items", json!({"customer_id": "c1"}), "items"),
        ("items not a list", json!({"items": "none"}), "items"),
        ("empty items", json!({"items": []}), "items"),
        (
            "quantity zero",
            json!({"items": [item(json!(0))]}),
            "items[0].quantity",
        ),
        (
            "negative quantity",
            json!({"items": [item(json!(-3))]}),
            "items[0].quantity",
        ),
        (
            "quantity too large",
            json!({"items": [item(json!(10_001))]}),
            "items[0].quantity",
        ),
        (
            "fractional quantity",
            json!({"items": [item(json!(1.5))]}),
            "items[0].quantity",
        ),
        (
            "quantity as text",
            json!({"items": [item(json!("2"))]}),
            "items[0].quantity",
        ),
        (
            "missing quantity",
            json!({"items": [{"product_id": pid}]}),
            "items[0].quantity",
        ),
        (
            "missing product id",
            json!({"items": [{"quantity": 1}]}),
            "items[0].product_id",
        ),
        (
            "bad uuid",
            json!({"items": [{"product_id": "not-a-uuid", "quantity": 1}]}),
            "items[0].product_id",
        ),
        (
            "duplicate product",
            json!({"items": [item(json!(1)), item(json!(2))]}),
            "items[1].product_id",
        ),
        ("more than 100 items", json!({"items": many}), "items"),
        (
            "bad customer id",
            json!({"customer_id": "has spaces", "items": [item(json!(1))]}),
            "customer_id",
        ),
    ];
    for (name, body, field) in cases {
        let reply = sys.post_json(&sys.order.base_url, "/orders", &body).await;
        reply.assert_problem(400, "validation_failed");
        assert!(
            reply.failing_fields().iter().any(|f| f == field),
            "{name}: expected field {field}, got {:?}",
            reply.failing_fields()
        );
    }

    let reply = sys
        .post_raw(
            &sys.order.base_url,
            "/orders",
            "application/json",
            "{\"items\": [",
        )
        .await;
    reply.assert_problem(400, "malformed_json");
    let reply = sys
        .post_raw(&sys.order.base_url, "/orders", "text/plain", "{}")
        .await;
    reply.assert_problem(415, "unsupported_media_type");

    nothing_written(&sys).await;
    sys.stop().await;
}

async fn bad_ids_filters_and_cursors_are_400(sys: TestSystem) {
    let o = &sys.order.base_url;
    let cases = [
        ("/orders/not-a-uuid", "id"),
        ("/orders?status=lost", "status"),
        ("/orders?limit=0", "limit"),
        ("/orders?limit=101", "limit"),
        ("/orders?cursor=bogus", "cursor"),
        ("/orders?product_id=nope", "product_id"),
        ("/orders/product/nope", "product_id"),
    ];
    for (path, field) in cases {
        let reply = sys.get(o, path).await;
        reply.assert_problem(400, "validation_failed");
        assert!(
            reply.failing_fields().iter().any(|f| f == field),
            "{path}: {:?}",
            reply.failing_fields()
        );
    }
    let missing = sys.get_order(&domain::OrderId::new().to_string()).await;
    missing.assert_problem(404, "order_not_found");
    let route = sys.get(o, "/nowhere").await;
    route.assert_problem(404, "route_not_found");
    sys.stop().await;
}

both!(an_unknown_product_is_422_and_nothing_is_written);
both!(malformed_orders_are_400_naming_the_field_and_nothing_is_written);
both!(bad_ids_filters_and_cursors_are_400);

async fn an_undeclared_method_is_405_with_allow(sys: TestSystem) {
    let (orders, products) = (&sys.order.base_url, &sys.product.base_url);
    let id = "01936f0e-aaaa-7000-8000-000000000000";
    for (method, base, path, allow) in [
        ("TRACE", orders, "/orders".to_owned(), "GET, POST"),
        ("PUT", orders, format!("/orders/{id}"), "GET, PATCH, DELETE"),
        ("GET", orders, format!("/orders/{id}/cancel"), "POST"),
        ("DELETE", products, "/products".to_owned(), "GET, POST"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let reply = sys.request(method.clone(), base, &path, &[], None).await;
        reply.assert_problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
    sys.get(orders, "/nowhere")
        .await
        .assert_problem(404, "route_not_found");
    sys.stop().await;
}
both!(an_undeclared_method_is_405_with_allow);
