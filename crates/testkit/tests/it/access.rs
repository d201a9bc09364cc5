//! Who may call what, through the APIs of both compositions: no token is `401`, a token that
//! does not verify is `401`, a customer sees and changes only its own orders (another's is
//! `404`, lists are its own), a customer calling an admin action is `403`, an admin may do
//! everything. Idempotency keys are the caller's own.

use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestSystem;
use testkit::auth::{
    admin_token, customer_token, expired_token, foreign_key_token, wrong_audience_token,
};

fn order_body(product: &str) -> Value {
    json!({"items": [{"product_id": product, "quantity": 1}]})
}

async fn no_token_or_a_bad_one_is_401(sys: TestSystem) {
    let product = sys.create_product("Widget", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap();
    let orders = &sys.order.base_url;
    let anonymous = sys
        .request_as(
            None,
            Method::POST,
            orders,
            "/orders",
            Some(&order_body(pid)),
        )
        .await;
    anonymous.assert_problem(401, "unauthenticated");
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Bearer realm=\"shop\"")
    );
    for token in [
        expired_token("alice"),
        wrong_audience_token("alice"),
        foreign_key_token("alice"),
        "not-a-jwt".to_owned(),
    ] {
        let refused = sys
            .request_as(Some(&token), Method::GET, orders, "/orders", None)
            .await;
        refused.assert_problem(401, "invalid_token");
        assert!(
            refused
                .header("www-authenticate")
                .is_some_and(|c| c.contains("error=\"invalid_token\"")),
            "{:?}",
            refused.headers
        );
    }
    // The catalogue is public; health and metrics need nothing either.
    for (base, path) in [
        (&sys.product.base_url, format!("/products/{pid}")),
        (&sys.product.base_url, "/products".to_owned()),
        (orders, "/health/ready".to_owned()),
        (orders, "/metrics".to_owned()),
    ] {
        let reply = sys.request_as(None, Method::GET, base, &path, None).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
    }
    let nothing = sys.get(orders, "/orders?limit=100").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(nothing, 0, "no refused request placed an order");
    sys.stop().await;
}
both!(no_token_or_a_bad_one_is_401);

async fn a_customer_sees_and_changes_only_its_own_orders(sys: TestSystem) {
    let product = sys.create_product("Widget", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap();
    let orders = &sys.order.base_url;
    let (alice, bob) = (customer_token("alice"), customer_token("bob"));
    let placed = sys
        .request_as(
            Some(&alice),
            Method::POST,
            orders,
            "/orders",
            Some(&order_body(pid)),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.body["customer_id"], "alice");
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let path = format!("/orders/{id}");
    // Confirmed first, so that the version below moves only if bob changes something.
    let settled = sys
        .wait_settled(&id, std::time::Duration::from_secs(20))
        .await;

    let own = sys
        .request_as(Some(&alice), Method::GET, orders, &path, None)
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::GET, "/history", None),
        (Method::POST, "/cancel", None),
        (Method::DELETE, "", None),
        (Method::PATCH, "", Some(json!({"note": "mine now"}))),
    ] {
        let reply = sys
            .request_as(
                Some(&bob),
                method.clone(),
                orders,
                &format!("{path}{suffix}"),
                body.as_ref(),
            )
            .await;
        reply.assert_problem(404, "order_not_found");
    }
    for query in [
        "/orders",
        "/orders?customer_id=alice",
        &format!("/orders/product/{pid}"),
    ] {
        let listed = sys
            .request_as(Some(&bob), Method::GET, orders, query, None)
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(
            listed.body["items"],
            json!([]),
            "bob lists {query}: {}",
            listed.text
        );
    }
    let mine = sys
        .request_as(Some(&alice), Method::GET, orders, "/orders", None)
        .await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    let untouched = sys.get(orders, &path).await;
    assert_eq!(
        untouched.body["version"], settled["version"],
        "bob changed nothing"
    );
    assert!(untouched.body["note"].is_null());

    // Ordering for someone else is refused, and stores nothing.
    let mut for_bob = order_body(pid);
    for_bob["customer_id"] = json!("bob");
    sys.request_as(
        Some(&alice),
        Method::POST,
        orders,
        "/orders",
        Some(&for_bob),
    )
    .await
    .assert_problem(403, "customer_mismatch");
    let all = sys.get(orders, "/orders").await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);

    let cancelled = sys
        .request_as(
            Some(&alice),
            Method::POST,
            orders,
            &format!("{path}/cancel"),
            None,
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    sys.stop().await;
}
both!(a_customer_sees_and_changes_only_its_own_orders);

async fn admin_actions_are_403_to_a_customer_and_open_to_an_admin(sys: TestSystem) {
    let product = sys.create_product("Widget", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap().to_owned();
    let (orders, products) = (&sys.order.base_url, &sys.product.base_url);
    let alice = customer_token("alice");
    let placed = sys
        .request_as(
            Some(&alice),
            Method::POST,
            orders,
            "/orders",
            Some(&order_body(&pid)),
        )
        .await;
    let id = placed.body["id"].as_str().unwrap().to_owned();
    sys.wait_settled(&id, std::time::Duration::from_secs(20))
        .await;
    let ship = json!({"carrier": "DHL", "tracking_number": "JD0001"});
    let admin_only: Vec<(Method, &String, String, Option<Value>)> = vec![
        (
            Method::POST,
            products,
            "/products".into(),
            Some(json!({"name": "X", "price": "1.00", "stock": 1})),
        ),
        (
            Method::PATCH,
            products,
            format!("/products/{pid}"),
            Some(json!({"price": "0.01"})),
        ),
        (
            Method::POST,
            products,
            format!("/products/{pid}/stock-adjustments"),
            Some(json!({"delta": 5, "reason": "x"})),
        ),
        (
            Method::GET,
            products,
            format!("/products/{pid}/stock-adjustments"),
            None,
        ),
        (
            Method::POST,
            orders,
            format!("/orders/{id}/ship"),
            Some(ship.clone()),
        ),
        (Method::POST, orders, format!("/orders/{id}/deliver"), None),
        (
            Method::POST,
            orders,
            "/admin/cache/warmup".into(),
            Some(json!({"product_ids": [pid]})),
        ),
        (Method::GET, orders, "/admin/dead-letters".into(), None),
        (
            Method::POST,
            orders,
            "/admin/dead-letters/replay".into(),
            None,
        ),
        (Method::GET, products, "/admin/dead-letters".into(), None),
    ];
    for (method, base, path, body) in &admin_only {
        let reply = sys
            .request_as(Some(&alice), method.clone(), base, path, body.as_ref())
            .await;
        reply.assert_problem(403, "forbidden");
    }
    let stored = sys.get(products, &format!("/products/{pid}")).await;
    assert_eq!(
        stored.body["price"], "1.00",
        "the customer changed no price"
    );

    // The admin ships and delivers the customer's order, and reads it.
    let admin = admin_token();
    let shipped = sys
        .request_as(
            Some(&admin),
            Method::POST,
            orders,
            &format!("/orders/{id}/ship"),
            Some(&ship),
        )
        .await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    let delivered = sys
        .request_as(
            Some(&admin),
            Method::POST,
            orders,
            &format!("/orders/{id}/deliver"),
            None,
        )
        .await;
    assert_eq!(delivered.body["status"], "delivered", "{}", delivered.text);
    let seen = sys
        .request_as(
            Some(&alice),
            Method::GET,
            orders,
            &format!("/orders/{id}"),
            None,
        )
        .await;
    assert_eq!(seen.body["status"], "delivered");
    sys.stop().await;
}
both!(admin_actions_are_403_to_a_customer_and_open_to_an_admin);

async fn idempotency_keys_are_the_callers_own(sys: TestSystem) {
    let product = sys.create_product("Widget", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap();
    let orders = &sys.order.base_url;
    let place = |token: String| {
        let body = order_body(pid);
        let url = format!("{orders}/orders");
        async move {
            testkit::Reply::read(
                reqwest::Client::new()
                    .post(url)
                    .bearer_auth(token)
                    .header("Idempotency-Key", "shared-key-1")
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let alices = place(customer_token("alice")).await;
    let bobs = place(customer_token("bob")).await;
    assert_eq!(alices.status, 201, "{}", alices.text);
    assert_eq!(
        bobs.status, 201,
        "bob's request is not alice's replay: {}",
        bobs.text
    );
    assert_ne!(alices.body["id"], bobs.body["id"]);
    assert_eq!(bobs.body["customer_id"], "bob");
    let again = place(customer_token("alice")).await;
    assert_eq!(
        again.body["id"], alices.body["id"],
        "alice's retry replays her answer"
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // The history names the request by a digest, never by the key.
    let history = sys
        .get(
            orders,
            &format!("/orders/{}/history", alices.body["id"].as_str().unwrap()),
        )
        .await;
    assert!(!history.text.contains("shared-key-1"), "{}", history.text);
    sys.stop().await;
}
both!(idempotency_keys_are_the_callers_own);

/// Three writes at once, then one a second, per caller.
const WRITES: adapters::settings::ClassLimit = adapters::settings::ClassLimit {
    per_second: 1,
    burst: 3,
};

async fn a_caller_over_its_write_limit_gets_429_and_others_do_not(sys: TestSystem) {
    let orders = &sys.order.base_url;
    let (alice, bob) = (customer_token("alice"), customer_token("bob"));
    // Orders of a product that does not exist: each is a write the limiter counts (and a
    // 422), and nothing is stored either way.
    let body = order_body("01936f0e-aaaa-7000-8000-000000000000");
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let reply = sys
            .request_as(Some(&alice), Method::POST, orders, "/orders", Some(&body))
            .await;
        statuses.push(reply.status);
        if reply.status == 429 {
            reply.assert_problem(429, "rate_limited");
            let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
            assert_eq!(retry, 1, "the next write is at most a second away");
            assert!(
                reply
                    .header("ratelimit-policy")
                    .is_some_and(|p| p.contains("\"writes\";q=3")),
                "{:?}",
                reply.headers
            );
            assert!(reply.header("ratelimit").is_some_and(|r| r.contains("r=0")));
            break;
        }
    }
    assert_eq!(
        &statuses[..3],
        &[422, 422, 422],
        "the burst goes through: {statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&429),
        "then alice is limited: {statuses:?}"
    );
    let bobs = sys
        .request_as(Some(&bob), Method::POST, orders, "/orders", Some(&body))
        .await;
    assert_eq!(
        bobs.status, 422,
        "bob has a bucket of his own: {}",
        bobs.text
    );
    let read = sys
        .request_as(Some(&alice), Method::GET, orders, "/orders", None)
        .await;
    assert_eq!(
        read.status, 200,
        "reads have their own bucket: {}",
        read.text
    );
    sys.stop().await;
}

mod a_caller_over_its_write_limit_gets_429_and_others_do_not {
    #[tokio::test]
    async fn distributed() {
        let sys =
            testkit::spawn_system_with(|_| {}, |order| order.rate_limit.writes = super::WRITES)
                .await;
        super::a_caller_over_its_write_limit_gets_429_and_others_do_not(sys).await;
    }

    #[tokio::test]
    async fn standalone() {
        let sys = testkit::spawn_standalone_with(|s| s.rate_limit.writes = super::WRITES).await;
        super::a_caller_over_its_write_limit_gets_429_and_others_do_not(sys).await;
    }
}
