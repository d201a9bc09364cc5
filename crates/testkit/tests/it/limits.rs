//! Every string input at its longest accepted length is stored and read back whole, on MySQL
//! as on SQLite (which ignores column lengths, so the distributed run is the one that proves
//! the columns wide enough); one character more is a `400` naming the field. Characters are
//! multi-byte where the field allows it, because MySQL columns count characters of up to four
//! bytes.

use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestSystem;

/// `n` characters of two, three and four bytes.
fn wide(n: usize) -> String {
    ['é', '€', '😀'].iter().cycle().take(n).collect()
}

/// `n` visible ASCII characters (for keys and references that allow nothing else).
fn ascii(n: usize) -> String {
    "abcdefghijklmnopqrstuvwxyz0123456789-_"
        .chars()
        .cycle()
        .take(n)
        .collect()
}

/// An address whose lines are `line` and whose postal code is `postal_code` (at most 20).
fn address(line: &str, postal_code: &str) -> Value {
    json!({"name": line, "line1": line, "line2": line, "city": line, "region": line,
           "postal_code": postal_code, "country": "DE"})
}

async fn every_string_input_at_its_longest_is_stored_whole(sys: TestSystem) {
    let (orders, products) = (&sys.order.base_url, &sys.product.base_url);
    let name = wide(200);
    let created = sys
        .post_json(
            products,
            "/products",
            &json!({"name": name, "price": "1.00", "stock": 5}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let pid = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        sys.get(products, &format!("/products/{pid}")).await.body["name"],
        name
    );
    let too_long = sys
        .post_json(
            products,
            "/products",
            &json!({"name": wide(201), "price": "1.00", "stock": 5}),
        )
        .await;
    assert_eq!(too_long.status, 400, "{}", too_long.text);
    assert_eq!(too_long.failing_fields(), vec!["name"]);

    let reason = wide(200);
    let adjusted = sys
        .request(
            Method::POST,
            products,
            &format!("/products/{pid}/stock-adjustments"),
            &[("X-Request-Id", &ascii(128))],
            Some(&json!({"delta": 5, "reason": reason})),
        )
        .await;
    assert_eq!(adjusted.status, 201, "{}", adjusted.text);
    let listed = sys
        .get(products, &format!("/products/{pid}/stock-adjustments"))
        .await;
    assert_eq!(listed.body["items"][0]["reason"], reason, "{}", listed.text);
    let refused = sys
        .post_json(
            products,
            &format!("/products/{pid}/stock-adjustments"),
            &json!({"delta": 5, "reason": wide(201)}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);

    let (line, note, customer) = (wide(100), wide(500), ascii(64));
    let key = ascii(255);
    let body = json!({"customer_id": customer, "note": note, "shipping_address": address(&line, &wide(20)),
                      "items": [{"product_id": pid, "quantity": 1}]});
    let placed = sys
        .request(
            Method::POST,
            orders,
            "/orders",
            &[("Idempotency-Key", &key), ("X-Request-Id", &ascii(128))],
            Some(&body),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let replayed = sys
        .request(
            Method::POST,
            orders,
            "/orders",
            &[("Idempotency-Key", &key)],
            Some(&body),
        )
        .await;
    assert_eq!(
        replayed.status, 201,
        "a retry with the longest key: {}",
        replayed.text
    );
    assert_eq!(replayed.body["id"], id.as_str());
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    let read = sys.get(orders, &format!("/orders/{id}")).await;
    assert_eq!(read.body["customer_id"], customer);
    assert_eq!(read.body["note"], note);
    assert_eq!(read.body["shipping_address"]["line2"], line);
    assert_eq!(read.body["shipping_address"]["region"], line);
    assert_eq!(read.body["shipping_address"]["postal_code"], wide(20));

    let longer_key = sys
        .request(
            Method::POST,
            orders,
            "/orders",
            &[("Idempotency-Key", &ascii(256))],
            Some(&body),
        )
        .await;
    longer_key.assert_problem(400, "validation_failed");
    assert_eq!(longer_key.failing_fields(), vec!["Idempotency-Key"]);
    for (field, value) in [
        ("customer_id", json!(ascii(65))),
        ("note", json!(wide(501))),
        ("shipping_address", address(&wide(101), "10115")),
        ("shipping_address", address("Ada", &wide(21))),
    ] {
        let mut over = body.clone();
        over[field] = value;
        let reply = sys.post_json(orders, "/orders", &over).await;
        assert_eq!(reply.status, 400, "{field}: {}", reply.text);
    }

    sys.wait_settled(&id, std::time::Duration::from_secs(20))
        .await;
    let ship = json!({"carrier": ascii(64), "tracking_number": ascii(64)});
    let shipped = sys
        .post_json(orders, &format!("/orders/{id}/ship"), &ship)
        .await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    assert_eq!(shipped.body["tracking_number"], ascii(64).as_str());
    let history = sys.get(orders, &format!("/orders/{id}/history")).await;
    assert_eq!(history.status, 200, "{}", history.text);
    sys.stop().await;
}
both!(every_string_input_at_its_longest_is_stored_whole);
