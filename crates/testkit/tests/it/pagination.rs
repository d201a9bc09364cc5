//! Keyset pagination and filters over many orders.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde_json::Value;
use testkit::TestSystem;

async fn all_pages(sys: &TestSystem, query: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/orders?{query}&cursor={c}"),
            None => format!("/orders?{query}"),
        };
        let reply = sys.get(&sys.order.base_url, &path).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        pages.push(reply.body["items"].as_array().unwrap().clone());
        match reply.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 10, "pagination does not end");
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn two_hundred_fifty_orders_page_exactly_once_and_filter(sys: TestSystem) {
    let plenty = sys.create_product("Plenty", "3.00", 1000).await;
    let none = sys.create_product("Sold out", "4.00", 0).await;
    let (a, b) = (
        plenty["id"].as_str().unwrap().to_owned(),
        none["id"].as_str().unwrap().to_owned(),
    );
    let lines: Vec<String> = (0..250)
        .map(|i| if i % 5 == 0 { b.clone() } else { a.clone() })
        .collect();
    let created: Vec<String> = stream::iter(lines.iter())
        .map(|pid| async {
            let r = sys.place_order(&[(pid.as_str(), 1)]).await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_str().unwrap().to_owned()
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for id in &created {
        let o = sys.wait_settled(id, Duration::from_secs(60)).await;
        assert_ne!(o["status"], "pending", "order {id} did not settle");
    }

    let pages = all_pages(&sys, "limit=100").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let listed: Vec<String> = pages.iter().flat_map(|p| ids(p)).collect();
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), 250, "each order exactly once");
    assert_eq!(unique, created.iter().collect::<HashSet<_>>());
    let mut sorted = listed.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(listed, sorted, "newest first, stable across pages");
    assert_eq!(
        pages,
        all_pages(&sys, "limit=100").await,
        "a second walk gives the same pages"
    );

    let rejected: Vec<Value> = all_pages(&sys, "limit=100&status=rejected").await.concat();
    assert_eq!(rejected.len(), 50);
    assert!(
        rejected
            .iter()
            .all(|o| o["status"] == "rejected" && o["items"][0]["product_id"] == b.as_str())
    );
    let confirmed: Vec<Value> = all_pages(&sys, "limit=100&status=confirmed").await.concat();
    assert_eq!(confirmed.len(), 200);
    assert!(confirmed.iter().all(|o| o["status"] == "confirmed"));

    let of_a: Vec<Value> = all_pages(&sys, &format!("limit=100&product_id={a}"))
        .await
        .concat();
    assert_eq!(of_a.len(), 200);
    assert!(
        of_a.iter()
            .all(|o| o["items"][0]["product_id"] == a.as_str())
    );
    let of_b = sys
        .get(
            &sys.order.base_url,
            &format!("/orders/product/{b}?limit=100"),
        )
        .await;
    assert_eq!(of_b.body["items"].as_array().unwrap().len(), 50);
    assert!(of_b.body["next_cursor"].is_null());
    sys.stop().await;
}

async fn the_customer_filter_returns_only_that_customers_orders(sys: TestSystem) {
    let p = sys.create_product("Gadget", "1.00", 100).await;
    let pid = p["id"].as_str().unwrap();
    for customer in ["alice", "bob", "alice"] {
        let r = sys
            .post_json(
                &sys.order.base_url,
                "/orders",
                &serde_json::json!({"customer_id": customer, "items": [{"product_id": pid, "quantity": 1}]}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let alice = sys
        .get(&sys.order.base_url, "/orders?customer_id=alice")
        .await;
    let items = alice.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|o| o["customer_id"] == "alice"));
    sys.stop().await;
}

both!(two_hundred_fifty_orders_page_exactly_once_and_filter);
both!(the_customer_filter_returns_only_that_customers_orders);
