//! A randomized run of mixed operations, then the invariants: stock conserved for every
//! product, every order's history replaying to its status, reservations matching orders.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::{TestSystem, scalar_i64};

const PRODUCTS: usize = 10;
const OPERATIONS: usize = 500;

#[derive(Debug, Clone)]
enum Op {
    Order(Vec<(usize, i64)>),
    Cancel(usize),
    Ship(usize),
    Deliver(usize),
    Adjust(usize, i64),
}

async fn rows(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
}

async fn five_hundred_mixed_operations_keep_every_invariant(sys: TestSystem) {
    let seed: u64 = std::env::var("RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("random seed {seed} (set RANDOM_SEED to replay)");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut products = Vec::new();
    let mut initial = HashMap::new();
    for i in 0..PRODUCTS {
        let stock = rng.random_range(5..30);
        let p = sys
            .create_product(&format!("Random {i}"), "1.25", stock)
            .await;
        let id = p["id"].as_str().unwrap().to_owned();
        initial.insert(id.clone(), stock);
        products.push(id);
    }
    // An operation on an order picks one of the orders placed so far (by a random number
    // modulo their count).
    let ops: Vec<Op> = (0..OPERATIONS)
        .map(|_| match rng.random_range(0..100) {
            0..40 => {
                let n = rng.random_range(1..=3);
                let mut lines: Vec<(usize, i64)> = Vec::new();
                while lines.len() < n {
                    let p = rng.random_range(0..PRODUCTS);
                    if !lines.iter().any(|(q, _)| *q == p) {
                        lines.push((p, rng.random_range(1..=3)));
                    }
                }
                Op::Order(lines)
            }
            40..52 => Op::Cancel(rng.random_range(0..usize::MAX)),
            52..67 => Op::Ship(rng.random_range(0..usize::MAX)),
            67..80 => Op::Deliver(rng.random_range(0..usize::MAX)),
            _ => Op::Adjust(rng.random_range(0..PRODUCTS), rng.random_range(-5..=10)),
        })
        .collect();

    let orders = tokio::sync::Mutex::new(Vec::<String>::new());
    let counts = tokio::sync::Mutex::new(HashMap::<String, usize>::new());
    // Five rounds with a pause between them, so that orders of earlier rounds are confirmed
    // by the time later rounds ship, deliver or cancel them.
    for round in ops.chunks(OPERATIONS / 5) {
        stream::iter(round.iter().cloned())
            .for_each_concurrent(8, |op| {
                let (sys, products, orders, counts) = (&sys, &products, &orders, &counts);
                async move {
                    let order_at = |r: usize| async move {
                        let orders = orders.lock().await;
                        (!orders.is_empty()).then(|| orders[r % orders.len()].clone())
                    };
                    let (name, status) = match op {
                        Op::Order(lines) => {
                            let lines: Vec<(&str, i64)> = lines
                                .iter()
                                .map(|(p, q)| (products[*p].as_str(), *q))
                                .collect();
                            let reply = sys.place_order(&lines).await;
                            assert_eq!(reply.status, 201, "{}", reply.text);
                            orders
                                .lock()
                                .await
                                .push(reply.body["id"].as_str().unwrap().to_owned());
                            ("order", reply.status)
                        }
                        Op::Cancel(i) | Op::Ship(i) | Op::Deliver(i) => {
                            let Some(id) = order_at(i).await else { return };
                            let (action, body) = match op {
                                Op::Cancel(_) => ("cancel", None),
                                Op::Ship(_) => (
                                    "ship",
                                    Some(json!({"carrier": "UPS", "tracking_number": "1Z999"})),
                                ),
                                _ => ("deliver", None),
                            };
                            let reply = sys
                                .request(
                                    Method::POST,
                                    &sys.order.base_url,
                                    &format!("/orders/{id}/{action}"),
                                    &[],
                                    body.as_ref(),
                                )
                                .await;
                            assert!(
                                [200, 409].contains(&reply.status),
                                "{action}: {}",
                                reply.text
                            );
                            (action, reply.status)
                        }
                        Op::Adjust(p, delta) => {
                            if delta == 0 {
                                return;
                            }
                            let reply = sys
                                .post_json(
                                    &sys.product.base_url,
                                    &format!("/products/{}/stock-adjustments", products[p]),
                                    &json!({"delta": delta, "reason": "random run"}),
                                )
                                .await;
                            assert!([201, 409].contains(&reply.status), "adjust: {}", reply.text);
                            ("adjust", reply.status)
                        }
                    };
                    *counts
                        .lock()
                        .await
                        .entry(format!("{name} {status}"))
                        .or_default() += 1;
                }
            })
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut counts: Vec<(String, usize)> = counts.into_inner().into_iter().collect();
    counts.sort();
    println!("operations: {counts:?}");

    // Let every event settle: no pending order, nothing left in either outbox.
    let (order_db, product_db) = (sys.order_db().await, sys.product_db().await);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let pending = scalar_i64(
            &order_db,
            "SELECT COUNT(*) FROM orders WHERE status = 'pending'",
            vec![],
        )
        .await
            + scalar_i64(
                &order_db,
                "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
                vec![],
            )
            .await
            + scalar_i64(
                &product_db,
                "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
                vec![],
            )
            .await;
        if pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the system did not settle"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The last published messages may still be in a consumer's hands.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Conservation, per product.
    for (pid, stock0) in &initial {
        let id = uuid::Uuid::parse_str(pid).unwrap();
        let adjusted = scalar_i64(
            &product_db,
            "SELECT CAST(COALESCE(SUM(delta), 0) AS SIGNED) FROM stock_adjustments WHERE product_id = ?",
            vec![id.into()],
        )
        .await;
        let stock = scalar_i64(
            &product_db,
            "SELECT stock FROM products WHERE id = ?",
            vec![id.into()],
        )
        .await;
        let held = scalar_i64(
            &product_db,
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM stock_reservations WHERE product_id = ? AND status IN ('active', 'consumed')",
            vec![id.into()],
        )
        .await;
        assert!(stock >= 0);
        assert_eq!(stock0 + adjusted, stock + held, "conservation for {pid}");
    }

    // Reservations match each order's status; each history replays to it.
    let mut reservation_state: HashMap<uuid::Uuid, Vec<String>> = HashMap::new();
    for row in rows(
        &product_db,
        "SELECT order_id, status FROM stock_reservations",
    )
    .await
    {
        let order: uuid::Uuid = row.try_get_by_index(0).unwrap();
        let status: String = row.try_get_by_index(1).unwrap();
        reservation_state.entry(order).or_default().push(status);
    }
    let all_orders = orders.into_inner();
    for id in &all_orders {
        let order = sys.get_order(id).await.body;
        let status = order["status"].as_str().unwrap().to_owned();
        let held: Vec<String> = reservation_state
            .get(&uuid::Uuid::parse_str(id).unwrap())
            .cloned()
            .unwrap_or_default();
        let expected = match status.as_str() {
            "confirmed" => Some("active"),
            "shipped" | "delivered" => Some("consumed"),
            "rejected" => None,
            "cancelled" => Some("released"),
            other => panic!("order {id} ended {other}"),
        };
        match expected {
            Some(state) if status != "cancelled" || !held.is_empty() => {
                assert!(
                    !held.is_empty() && held.iter().all(|s| s == state),
                    "order {id} is {status} but its reservations are {held:?}"
                );
            }
            _ => assert!(
                held.is_empty() || status == "cancelled",
                "order {id} is {status} but holds {held:?}"
            ),
        }
        let history = sys
            .get(&sys.order.base_url, &format!("/orders/{id}/history"))
            .await
            .body;
        let mut current: Option<String> = None;
        for (i, row) in history["items"].as_array().unwrap().iter().enumerate() {
            assert_eq!(row["seq"], i as u64 + 1, "order {id}: gap-free history");
            assert_eq!(
                row["from"].as_str().map(str::to_owned),
                current,
                "order {id}: history chains"
            );
            current = row["to"].as_str().map(str::to_owned);
        }
        assert_eq!(
            current.as_deref(),
            Some(status.as_str()),
            "order {id}: history replays to its status"
        );
    }
    println!(
        "{} orders, {} products: every invariant holds",
        all_orders.len(),
        PRODUCTS
    );
    sys.stop().await;
}

both!(five_hundred_mixed_operations_keep_every_invariant);
