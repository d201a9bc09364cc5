//! The product API and its Redis cache.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::{TestSystem, eventually};

async fn a_product_is_created_and_read_back(sys: TestSystem) {
    let reply = sys
        .post_json(
            &sys.product.base_url,
            "/products",
            &json!({"name": "  Laptop ", "price": "699.99", "stock": 5}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/products/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(reply.body["name"], "Laptop");
    assert_eq!(reply.body["price"], "699.99");
    assert_eq!(reply.body["currency"], "USD");
    assert_eq!(reply.body["stock"], 5);
    assert_eq!(reply.body["version"], 1);
    let read = sys.get_product(id).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, reply.body);
    sys.stop().await;
}

async fn invalid_products_are_400_naming_each_field(sys: TestSystem) {
    let reply = sys
        .post_json(
            &sys.product.base_url,
            "/products",
            &json!({"name": " ", "price": "-1", "stock": -2, "currency": "EUR"}),
        )
        .await;
    reply.assert_problem(400, "validation_failed");
    let mut fields = reply.failing_fields();
    fields.sort();
    assert_eq!(fields, ["currency", "name", "price", "stock"]);
    for (price, why) in [
        ("1.999", "too precise"),
        ("abc", "not a number"),
        ("0", "zero"),
    ] {
        let reply = sys
            .post_json(
                &sys.product.base_url,
                "/products",
                &json!({"name": "X", "price": price, "stock": 1}),
            )
            .await;
        reply.assert_problem(400, "validation_failed");
        assert_eq!(reply.failing_fields(), ["price"], "{why}");
    }
    let missing = sys
        .post_json(
            &sys.product.base_url,
            "/products",
            &json!({"name": "X", "stock": 1}),
        )
        .await;
    missing.assert_problem(400, "validation_failed");
    assert_eq!(missing.failing_fields(), ["price"]);
    let list = sys.get(&sys.product.base_url, "/products").await;
    assert_eq!(list.body["items"], json!([]), "nothing was written");
    sys.stop().await;
}

async fn reads_are_served_from_the_cache_and_evicted_when_stock_changes(sys: TestSystem) {
    let product = sys.create_product("Cached", "5.00", 4).await;
    let pid = product["id"].as_str().unwrap();

    let first = sys.get_product(pid).await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let entry = sys
        .cached_product(pid)
        .await
        .expect("the read filled the cache");
    assert!(entry.contains("\"name\":\"Cached\""), "{entry}");

    // Change the row behind the cache's back: a read served from the cache cannot see it.
    let db = sys.product_db().await;
    let id = uuid::Uuid::parse_str(pid).unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE products SET name = 'Changed behind the cache' WHERE id = ?",
        vec![id.into()],
    ))
    .await
    .unwrap();
    let second = sys.get_product(pid).await;
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.body["name"], "Cached");
    assert_eq!(second.body["stock"], 4);

    // A reservation changes the stock and evicts the entry.
    let order = sys.place_order(&[(pid, 3)]).await;
    let settled = sys
        .wait_settled(order.body["id"].as_str().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(settled["status"], "confirmed");
    let after = eventually(Duration::from_secs(5), || async {
        let r = sys.get_product(pid).await;
        (r.body["stock"] == 1).then_some(r)
    })
    .await
    .expect("the product read after the reservation shows the new stock");
    assert_eq!(after.body["name"], "Changed behind the cache");
    assert_eq!(after.body["version"], 2);
    assert_eq!(
        after.header("x-cache"),
        Some("MISS"),
        "the reservation evicted the entry"
    );
    sys.stop().await;
}

async fn products_are_listed_by_keyset_and_fetched_by_ids(sys: TestSystem) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = sys.create_product(&format!("P{i}"), "1.00", 1).await;
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let first = sys.get(&sys.product.base_url, "/products?limit=3").await;
    assert_eq!(first.status, 200);
    let page1: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(page1, [&ids[4], &ids[3], &ids[2]], "newest first");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = sys
        .get(
            &sys.product.base_url,
            &format!("/products?limit=3&cursor={cursor}"),
        )
        .await;
    let page2: Vec<&str> = second.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(page2, [&ids[1], &ids[0]]);
    assert!(second.body["next_cursor"].is_null());

    let unknown = domain::ProductId::new().to_string();
    let by_ids = sys
        .get(
            &sys.product.base_url,
            &format!("/products?ids={},{unknown},{}", ids[0], ids[3]),
        )
        .await;
    let mut got: Vec<&str> = by_ids.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want = vec![ids[0].as_str(), ids[3].as_str()];
    want.sort();
    assert_eq!(got, want);
    let bad = sys.get(&sys.product.base_url, "/products?ids=nope").await;
    bad.assert_problem(400, "validation_failed");
    sys.stop().await;
}

both!(a_product_is_created_and_read_back);
both!(invalid_products_are_400_naming_each_field);
both!(reads_are_served_from_the_cache_and_evicted_when_stock_changes);
both!(products_are_listed_by_keyset_and_fetched_by_ids);
