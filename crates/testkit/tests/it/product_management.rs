//! Product changes (`PATCH`, `If-Match`), manual stock adjustments, and the inventory side of
//! the order lifecycle: `order.cancelled` releases once (or leaves a tombstone when nothing was
//! reserved yet), `order.shipped` consumes. Conservation holds throughout: for every product,
//! initial stock + adjustments = stock + active and consumed reservations.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use serde_json::{Value, json};

use domain::{OrderId, ProductId};
use ports::events::{
    IntegrationEvent, OrderCancelledV1, OrderCreatedV1, OrderShippedV1, OrderedItemV1,
    OutboxMessage,
};
use testkit::{TestSystem, eventually, scalar_i64};

/// An HTTP answer with the headers these tests look at.
struct Answer {
    status: u16,
    etag: Option<String>,
    location: Option<String>,
    content_type: Option<String>,
    body: Value,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, location, content_type) =
            (header("etag"), header("location"), header("content-type"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Self {
            status,
            etag,
            location,
            content_type,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    fn assert_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "unexpected status: {}", self.body);
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        &self.body
    }

    fn failing_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn patch(sys: &TestSystem, pid: &str, body: Value, if_match: Option<&str>) -> Answer {
    let mut request = sys
        .http
        .patch(format!("{}/products/{pid}", sys.product.base_url))
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    Answer::read(request.send().await.unwrap()).await
}

async fn adjust(
    sys: &TestSystem,
    pid: &str,
    delta: i64,
    reason: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = sys
        .http
        .post(format!(
            "{}/products/{pid}/stock-adjustments",
            sys.product.base_url
        ))
        .json(&json!({"delta": delta, "reason": reason}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Answer::read(request.send().await.unwrap()).await
}

async fn get(sys: &TestSystem, path: &str) -> Answer {
    Answer::read(
        sys.http
            .get(format!("{}{path}", sys.product.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn uuid_of(id: &str) -> sea_orm::Value {
    uuid::Uuid::parse_str(id).unwrap().into()
}

/// Units held by reservations that left the stock for good or for now.
async fn held_in_db(sys: &TestSystem, pid: &str) -> i64 {
    let db = sys.product_db().await;
    scalar_i64(
        &db,
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM stock_reservations \
         WHERE product_id = ? AND status IN ('active', 'consumed')",
        vec![uuid_of(pid)],
    )
    .await
}

async fn adjusted_in_db(sys: &TestSystem, pid: &str) -> i64 {
    let db = sys.product_db().await;
    scalar_i64(
        &db,
        "SELECT CAST(COALESCE(SUM(delta), 0) AS SIGNED) FROM stock_adjustments WHERE product_id = ?",
        vec![uuid_of(pid)],
    )
    .await
}

async fn adjustments_in_db(sys: &TestSystem, pid: &str) -> i64 {
    let db = sys.product_db().await;
    scalar_i64(
        &db,
        "SELECT COUNT(*) FROM stock_adjustments WHERE product_id = ?",
        vec![uuid_of(pid)],
    )
    .await
}

async fn assert_conserved(sys: &TestSystem, pid: &str, initial: i64) {
    let (adjusted, stock, held) = (
        adjusted_in_db(sys, pid).await,
        sys.stock_in_db(pid).await,
        held_in_db(sys, pid).await,
    );
    assert_eq!(
        initial + adjusted,
        stock + held,
        "conservation of {pid}: initial {initial} + adjustments {adjusted} = stock {stock} + \
         active and consumed reservations {held}"
    );
}

async fn reservations_with_status(sys: &TestSystem, order_id: OrderId, status: &str) -> i64 {
    let db = sys.product_db().await;
    scalar_i64(
        &db,
        "SELECT COUNT(*) FROM stock_reservations WHERE order_id = ? AND status = ?",
        vec![order_id.as_uuid().into(), status.into()],
    )
    .await
}

/// Outbox rows of one kind that mention `id`.
async fn outbox_rows(sys: &TestSystem, routing_key: &str, id: &str) -> i64 {
    let db = sys.product_db().await;
    scalar_i64(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE routing_key = ? AND payload LIKE ?",
        vec![routing_key.into(), format!("%{id}%").into()],
    )
    .await
}

async fn inject<E: IntegrationEvent>(sys: &TestSystem, msg: &OutboxMessage) {
    sys.inject(E::TYPE, msg.payload.as_bytes(), Some(&msg.id.to_string()))
        .await;
}

fn created(order_id: OrderId, pid: &str, quantity: u32) -> OutboxMessage {
    OutboxMessage::new(
        &OrderCreatedV1 {
            order_id,
            items: vec![OrderedItemV1 {
                product_id: ProductId::parse(pid).unwrap(),
                quantity,
            }],
        },
        Utc::now(),
    )
}

fn cancelled(order_id: OrderId) -> OutboxMessage {
    OutboxMessage::new(
        &OrderCancelledV1 {
            order_id,
            reason: "customer".into(),
        },
        testkit::now(),
    )
}

fn shipped(order_id: OrderId) -> OutboxMessage {
    OutboxMessage::new(
        &OrderShippedV1 {
            order_id,
            carrier: "UPS".into(),
            tracking_number: "1Z999AA10123456784".into(),
        },
        testkit::now(),
    )
}

async fn wait_stock(sys: &TestSystem, pid: &str, expected: i64) {
    let reached = eventually(Duration::from_secs(20), || async {
        (sys.stock_in_db(pid).await == expected).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "stock of {pid} never reached {expected} (it is {})",
        sys.stock_in_db(pid).await
    );
}

/// The product consumer handles its queue in order: once a marker order injected last is
/// reserved, every message injected before it was handled.
/// Waits until the product service has handled `msgs` (see [`TestSystem::handled_by_products`]).
async fn drain(sys: &TestSystem, msgs: &[&OutboxMessage]) {
    let ids: Vec<_> = msgs.iter().map(|m| m.id).collect();
    sys.handled_by_products(&ids).await;
}

async fn patch_renames_and_reprices_under_if_match(sys: TestSystem) {
    let product = sys.create_product("Lamp", "10.00", 3).await;
    let pid = product["id"].as_str().unwrap();
    assert_eq!(
        outbox_rows(&sys, "product.created", pid).await,
        1,
        "product.created is written with the product"
    );
    // Fill the cache, so that a stale copy would show.
    assert_eq!(sys.get_product(pid).await.body["name"], "Lamp");
    assert_eq!(
        sys.get_product(pid).await.header("x-cache"),
        Some("HIT"),
        "the second read is cached"
    );

    let changed = patch(
        &sys,
        pid,
        json!({"name": "Desk lamp", "price": "12.50"}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.etag.as_deref(), Some("\"2\""));
    assert_eq!(changed.body["name"], "Desk lamp");
    assert_eq!(changed.body["price"], "12.50");
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.body["stock"], 3, "the stock is left alone");

    let read = sys.get_product(pid).await;
    assert_eq!(read.header("x-cache"), Some("MISS"), "the PATCH evicted it");
    assert_eq!(read.body["name"], "Desk lamp");
    assert_eq!(read.body["price"], "12.50");
    assert_eq!(read.header("etag"), Some("\"2\""));

    let stale = patch(&sys, pid, json!({"price": "99.00"}), Some("\"1\"")).await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(stale.body["current_version"], 2);
    let read = sys.get_product(pid).await;
    assert_eq!(
        read.body["price"], "12.50",
        "a stale If-Match changes nothing"
    );
    assert_eq!(read.body["version"], 2);

    // Without If-Match the change applies to the current version; a number is a price too.
    let unconditional = patch(&sys, pid, json!({"price": 15}), None).await;
    assert_eq!(unconditional.status, 200, "{}", unconditional.body);
    assert_eq!(unconditional.body["price"], "15.00");
    assert_eq!(unconditional.body["version"], 3);
    assert_eq!(sys.get_product(pid).await.body["price"], "15.00");

    // The same values again: nothing to change, nothing written.
    let same = patch(&sys, pid, json!({"name": "Desk lamp"}), Some("\"3\"")).await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body["version"], 3);

    assert_eq!(
        outbox_rows(&sys, "product.updated", pid).await,
        2,
        "one product.updated per change"
    );

    let empty = patch(&sys, pid, json!({}), None).await;
    empty.assert_problem(400, "validation_failed");
    let invalid = patch(&sys, pid, json!({"name": " ", "price": "-1"}), None).await;
    invalid.assert_problem(400, "validation_failed");
    let mut fields = invalid.failing_fields();
    fields.sort();
    assert_eq!(fields, ["name", "price"]);
    let bad_tag = patch(&sys, pid, json!({"name": "X"}), Some("yesterday")).await;
    assert_eq!(
        bad_tag.assert_problem(400, "validation_failed")["errors"][0]["field"],
        "If-Match"
    );
    let unknown = patch(
        &sys,
        &ProductId::new().to_string(),
        json!({"name": "X"}),
        None,
    )
    .await;
    unknown.assert_problem(404, "product_not_found");
    let read = sys.get_product(pid).await;
    assert_eq!(
        (read.body["name"].clone(), read.body["version"].clone()),
        (json!("Desk lamp"), json!(3)),
        "refused changes write nothing"
    );
    sys.stop().await;
}

async fn stock_adjustments_are_recorded_and_listed_newest_first(sys: TestSystem) {
    let product = sys.create_product("Chair", "49.00", 2).await;
    let pid = product["id"].as_str().unwrap();
    assert_eq!(sys.get_product(pid).await.body["stock"], 2);

    let delivery = adjust(&sys, pid, 5, "delivery", &[("X-Request-Id", "req-42")]).await;
    assert_eq!(delivery.status, 201, "{}", delivery.body);
    let first_id = delivery.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        delivery.location.as_deref(),
        Some(format!("/products/{pid}/stock-adjustments/{first_id}").as_str())
    );
    assert_eq!(delivery.etag.as_deref(), Some("\"2\""));
    assert_eq!(delivery.body["product_id"], pid);
    assert_eq!(delivery.body["delta"], 5);
    assert_eq!(delivery.body["reason"], "delivery");
    assert_eq!(delivery.body["stock_after"], 7);
    assert!(delivery.body["created_at"].is_string());

    let breakage = adjust(&sys, pid, -3, "breakage", &[("If-Match", "\"2\"")]).await;
    assert_eq!(breakage.status, 201, "{}", breakage.body);
    assert_eq!(breakage.body["stock_after"], 4);

    let read = sys.get_product(pid).await;
    assert_eq!(read.header("x-cache"), Some("MISS"), "adjustments evict");
    assert_eq!(read.body["stock"], 4);
    assert_eq!(read.body["version"], 3);

    let listed = get(&sys, &format!("/products/{pid}/stock-adjustments")).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let deltas: Vec<i64> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["delta"].as_i64().unwrap())
        .collect();
    assert_eq!(deltas, [-3, 5], "newest first");
    assert!(listed.body["next_cursor"].is_null());

    let page1 = get(&sys, &format!("/products/{pid}/stock-adjustments?limit=1")).await;
    assert_eq!(page1.body["items"][0]["delta"], -3);
    let cursor = page1.body["next_cursor"].as_str().unwrap();
    let page2 = get(
        &sys,
        &format!("/products/{pid}/stock-adjustments?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(page2.body["items"][0]["id"], first_id.as_str());
    assert!(page2.body["next_cursor"].is_null(), "{}", page2.body);

    let one = get(&sys, delivery.location.as_deref().unwrap()).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["reason"], "delivery");
    let db = sys.product_db().await;
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT COUNT(*) FROM stock_adjustments WHERE id = ? AND cause = 'request:req-42'",
            vec![uuid_of(&first_id)],
        )
        .await,
        1,
        "the request id is kept as the cause"
    );

    // Below zero: refused with the current stock, nothing written.
    let refused = adjust(&sys, pid, -5, "shrinkage", &[]).await;
    refused.assert_problem(409, "insufficient_stock");
    assert_eq!(refused.body["stock"], 4);
    assert_eq!(sys.stock_in_db(pid).await, 4);
    assert_eq!(adjustments_in_db(&sys, pid).await, 2);
    assert_eq!(sys.get_product(pid).await.body["version"], 3);

    let stale = adjust(&sys, pid, 1, "recount", &[("If-Match", "\"2\"")]).await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(stale.body["current_version"], 3);
    assert_eq!(adjustments_in_db(&sys, pid).await, 2);

    let invalid = adjust(&sys, pid, 0, "", &[]).await;
    invalid.assert_problem(400, "validation_failed");
    let mut fields = invalid.failing_fields();
    fields.sort();
    assert_eq!(fields, ["delta", "reason"]);

    let ghost = ProductId::new().to_string();
    adjust(&sys, &ghost, 1, "recount", &[])
        .await
        .assert_problem(404, "product_not_found");
    get(&sys, &format!("/products/{ghost}/stock-adjustments"))
        .await
        .assert_problem(404, "product_not_found");

    assert_conserved(&sys, pid, 2).await;
    sys.stop().await;
}

async fn concurrent_adjustments_never_drive_the_stock_negative(sys: TestSystem) {
    let product = sys.create_product("Contested", "1.00", 10).await;
    let pid = product["id"].as_str().unwrap();

    let attempts = (0..30)
        .map(|i| {
            let delta = if i % 6 == 5 { 1 } else { -1 };
            let sys = &sys;
            async move { (delta, adjust(sys, pid, delta, "concurrent", &[]).await) }
        })
        .collect::<Vec<_>>();
    let answers = join_all(attempts).await;
    let mut applied = 0;
    for (delta, answer) in &answers {
        match answer.status {
            201 => applied += delta,
            409 => {
                assert_eq!(*delta, -1, "only a removal may be refused");
                answer.assert_problem(409, "insufficient_stock");
            }
            other => panic!("unexpected status {other}: {}", answer.body),
        }
    }
    let stock = sys.stock_in_db(pid).await;
    assert!(stock >= 0);
    assert_eq!(stock, 10 + applied, "every granted adjustment applied once");
    assert_eq!(
        adjustments_in_db(&sys, pid).await,
        answers.iter().filter(|(_, a)| a.status == 201).count() as i64,
        "exactly the granted adjustments are recorded"
    );
    assert_conserved(&sys, pid, 10).await;
    sys.stop().await;
}

async fn a_cancel_delivered_three_times_restores_the_stock_once(sys: TestSystem) {
    let product = sys.create_product("Kettle", "30.00", 10).await;
    let pid = product["id"].as_str().unwrap();
    let order_id = OrderId::new();
    inject::<OrderCreatedV1>(&sys, &created(order_id, pid, 3)).await;
    wait_stock(&sys, pid, 7).await;
    assert_eq!(sys.get_product(pid).await.body["stock"], 7, "cached at 7");

    let cancel = cancelled(order_id);
    for _ in 0..3 {
        inject::<OrderCancelledV1>(&sys, &cancel).await;
    }
    drain(&sys, &[&cancel]).await;

    assert_eq!(
        sys.stock_in_db(pid).await,
        10,
        "released once, not three times"
    );
    assert_eq!(
        reservations_with_status(&sys, order_id, "released").await,
        1
    );
    assert_eq!(reservations_with_status(&sys, order_id, "active").await, 0);
    let read = sys.get_product(pid).await;
    assert_eq!(
        read.body["stock"], 10,
        "the release evicted the cached copy"
    );

    // Another cancellation message for the same order releases nothing more.
    let another = cancelled(order_id);
    inject::<OrderCancelledV1>(&sys, &another).await;
    drain(&sys, &[&another]).await;
    assert_eq!(sys.stock_in_db(pid).await, 10);
    assert_conserved(&sys, pid, 10).await;
    sys.stop().await;
}

async fn a_cancel_before_its_order_created_reserves_nothing(sys: TestSystem) {
    let product = sys.create_product("Toaster", "25.00", 5).await;
    let pid = product["id"].as_str().unwrap();
    let order_id = OrderId::new();

    // The cancellation is handled first (messages in flight together may be handled in any
    // order), then the late order.created arrives.
    let (cancel, late) = (cancelled(order_id), created(order_id, pid, 3));
    inject::<OrderCancelledV1>(&sys, &cancel).await;
    drain(&sys, &[&cancel]).await;
    inject::<OrderCreatedV1>(&sys, &late).await;
    drain(&sys, &[&late]).await;

    assert_eq!(
        sys.stock_in_db(pid).await,
        5,
        "the late order.created took nothing"
    );
    assert_eq!(
        reservations_with_status(&sys, order_id, "active").await
            + reservations_with_status(&sys, order_id, "released").await,
        0,
        "no reservation at all"
    );
    let db = sys.product_db().await;
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT COUNT(*) FROM order_tombstones WHERE order_id = ?",
            vec![order_id.as_uuid().into()],
        )
        .await,
        1
    );
    let order = order_id.to_string();
    assert_eq!(
        outbox_rows(&sys, "order.qty_confirmed", &order).await
            + outbox_rows(&sys, "order.qty_failed", &order).await,
        0,
        "a cancelled order gets no inventory answer"
    );
    assert_conserved(&sys, pid, 5).await;
    sys.stop().await;
}

async fn a_shipped_order_keeps_its_units_when_cancelled_later(sys: TestSystem) {
    let product = sys.create_product("Blender", "80.00", 5).await;
    let pid = product["id"].as_str().unwrap();
    let order_id = OrderId::new();
    inject::<OrderCreatedV1>(&sys, &created(order_id, pid, 2)).await;
    wait_stock(&sys, pid, 3).await;

    let ship = shipped(order_id);
    inject::<OrderShippedV1>(&sys, &ship).await;
    inject::<OrderShippedV1>(&sys, &ship).await;
    drain(&sys, &[&ship]).await;
    assert_eq!(
        reservations_with_status(&sys, order_id, "consumed").await,
        1
    );
    assert_eq!(
        sys.stock_in_db(pid).await,
        3,
        "shipping leaves the stock as it is"
    );

    let cancel = cancelled(order_id);
    inject::<OrderCancelledV1>(&sys, &cancel).await;
    drain(&sys, &[&cancel]).await;
    assert_eq!(
        reservations_with_status(&sys, order_id, "consumed").await,
        1,
        "a consumed reservation is never released"
    );
    assert_eq!(sys.stock_in_db(pid).await, 3);
    assert_eq!(sys.get_product(pid).await.body["stock"], 3);
    assert_conserved(&sys, pid, 5).await;
    sys.stop().await;
}

both!(patch_renames_and_reprices_under_if_match);
both!(stock_adjustments_are_recorded_and_listed_newest_first);
both!(concurrent_adjustments_never_drive_the_stock_negative);
both!(a_cancel_delivered_three_times_restores_the_stock_once);
both!(a_cancel_before_its_order_created_reserves_nothing);
both!(a_shipped_order_keeps_its_units_when_cancelled_later);

mod broken_adapters {
    use std::sync::Arc;

    use adapters::sql::SqlProductStore;
    use ports::OutboxSignal;
    use ports::inventory::ProductStore;
    use testkit::contracts::broken::ShipmentReleases;
    use testkit::contracts::inventory_store_contract;
    use testkit::contracts::sql::MySqlDatabase;
    use testkit::{Infra, Isolation};

    #[tokio::test]
    async fn the_inventory_suite_rejects_a_shipment_that_releases_the_stock() {
        let db = MySqlDatabase::products(&Infra::from_env(), &Isolation::new()).await;
        let inner = Arc::new(SqlProductStore::new(
            db.connection().clone(),
            OutboxSignal::new(),
        ));
        let store: Arc<dyn ProductStore> = Arc::new(ShipmentReleases(inner));
        let outcome = tokio::spawn(async move { inventory_store_contract(&store).await }).await;
        db.drop_database().await;
        let panic = outcome.expect_err("the suite must reject the broken adapter");
        assert!(panic.is_panic());
        let panic = panic.into_panic();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        assert!(
            message.contains("consuming must leave the stock as it is"),
            "the suite must reject the broken adapter for its shipment rule, it failed with: \
             {message}"
        );
    }
}
