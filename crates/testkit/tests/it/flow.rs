//! The central flow: order → reservation → confirmed or rejected.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;
use testkit::TestSystem;

const SETTLE: Duration = Duration::from_secs(20);

async fn an_order_within_stock_is_confirmed_and_decrements_it(sys: TestSystem) {
    let product = sys.create_product("Laptop", "699.99", 5).await;
    let pid = product["id"].as_str().unwrap();

    // A client-sent price or total must not change what the server computes.
    let reply = sys
        .post_json(
            &sys.order.base_url,
            "/orders",
            &json!({
                "customer_id": "customer-42",
                "total": "0.01",
                "items": [{"product_id": pid, "quantity": 2, "price": "0.01", "unit_price": "0.01"}]
            }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let order = &reply.body;
    let id = order["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/orders/{id}").as_str())
    );
    assert_eq!(order["status"], "pending");
    assert_eq!(order["customer_id"], "customer-42");
    assert_eq!(order["total"], "1399.98");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["items"][0]["product_id"], pid);
    assert_eq!(order["items"][0]["product_name"], "Laptop");
    assert_eq!(order["items"][0]["unit_price"], "699.99");
    assert_eq!(order["items"][0]["quantity"], 2);
    assert_eq!(order["items"][0]["line_total"], "1399.98");
    assert!(order["created_at"].is_string() && order["updated_at"].is_string());
    assert!(order.get("rejection_reason").is_none());

    let settled = sys.wait_settled(id, SETTLE).await;
    assert_eq!(settled["status"], "confirmed", "{settled}");
    assert_eq!(settled["total"], "1399.98");
    assert_eq!(sys.stock_in_db(pid).await, 3);
    assert_eq!(sys.reserved_in_db(pid).await, 2);
    let product = sys.get_product(pid).await;
    assert_eq!(
        product.body["stock"], 3,
        "the product read shows the new stock"
    );
    sys.stop().await;
}

async fn an_order_beyond_stock_is_rejected_and_leaves_it_unchanged(sys: TestSystem) {
    let product = sys.create_product("Laptop", "699.99", 5).await;
    let pid = product["id"].as_str().unwrap();

    let reply = sys.place_order(&[(pid, 10)]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let settled = sys
        .wait_settled(reply.body["id"].as_str().unwrap(), SETTLE)
        .await;
    assert_eq!(settled["status"], "rejected", "{settled}");
    assert_eq!(settled["rejection_reason"], "insufficient_stock");
    assert_eq!(sys.stock_in_db(pid).await, 5);
    assert_eq!(sys.reserved_in_db(pid).await, 0);
    sys.stop().await;
}

async fn one_short_line_rejects_the_whole_order(sys: TestSystem) {
    let plenty = sys.create_product("Mouse", "19.99", 5).await;
    let scarce = sys.create_product("Monitor", "199.00", 1).await;
    let (a, b) = (
        plenty["id"].as_str().unwrap(),
        scarce["id"].as_str().unwrap(),
    );

    let reply = sys.place_order(&[(a, 2), (b, 2)]).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["total"], "437.98");
    let settled = sys
        .wait_settled(reply.body["id"].as_str().unwrap(), SETTLE)
        .await;
    assert_eq!(settled["status"], "rejected", "{settled}");
    assert_eq!(settled["rejection_reason"], "insufficient_stock");
    assert_eq!(
        sys.stock_in_db(a).await,
        5,
        "the satisfiable line was not reserved"
    );
    assert_eq!(sys.stock_in_db(b).await, 1);
    assert_eq!(sys.reserved_in_db(a).await, 0);
    sys.stop().await;
}

async fn concurrent_orders_never_oversell(sys: TestSystem) {
    let product = sys.create_product("Limited edition", "10.00", 50).await;
    let pid = product["id"].as_str().unwrap().to_owned();

    let replies =
        join_all((0..200).map(|_| async { sys.place_order(&[(pid.as_str(), 1)]).await })).await;
    let ids: Vec<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_str().unwrap().to_owned()
        })
        .collect();

    let mut confirmed = 0;
    let mut rejected = 0;
    for id in &ids {
        let order = sys.wait_settled(id, Duration::from_secs(60)).await;
        match order["status"].as_str() {
            Some("confirmed") => confirmed += 1,
            Some("rejected") => {
                assert_eq!(order["rejection_reason"], "insufficient_stock");
                rejected += 1;
            }
            other => panic!("order {id} did not settle: {other:?}"),
        }
    }
    assert_eq!((confirmed, rejected), (50, 150));
    assert_eq!(sys.stock_in_db(&pid).await, 0);
    // Conservation: initial stock = stock on hand + active reservations.
    assert_eq!(sys.reserved_in_db(&pid).await, 50);
    sys.stop().await;
}

both!(an_order_within_stock_is_confirmed_and_decrements_it);
both!(an_order_beyond_stock_is_rejected_and_leaves_it_unchanged);
both!(one_short_line_rejects_the_whole_order);
both!(concurrent_orders_never_oversell);
