//! The standalone binary as users run it: killed with SIGKILL while orders are in flight, then
//! restarted on the same data directory.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Running {
    child: Child,
    order: String,
    product: String,
}

/// Starts the binary on free ports and reads the addresses from its banner.
async fn start(data_dir: &Path) -> Running {
    start_with(data_dir, &[]).await
}

async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_standalone"))
        .args(["--order-port", "0", "--product-port", "0", "--data-dir"])
        .arg(data_dir)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the standalone binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut order, mut product) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while order.is_none() || product.is_none() {
        assert!(Instant::now() < deadline, "no banner within 30 s");
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("banner in time")
            .expect("stdout readable")
            .expect("the process printed its banner before exiting");
        let url = || {
            line.split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_owned)
        };
        if line.contains("order API") {
            order = url();
        } else if line.contains("product API") {
            product = url();
        }
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running {
        child,
        order: order.unwrap(),
        product: product.unwrap(),
    }
}

/// A token from `standalone token`, signed with the key in `data_dir` (made there if missing).
async fn token(data_dir: &Path, subject: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_standalone"))
        .args(["token", "--sub", subject, "--role", role, "--data-dir"])
        .arg(data_dir)
        .output()
        .await
        .expect("the token subcommand runs");
    assert!(out.status.success(), "standalone token failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A client sending `token` on every request.
fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn scalar(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    db.query_one_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

#[tokio::test]
async fn a_killed_standalone_settles_every_acknowledged_order_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Made before the first start: the key the token command makes is the one the system
    // then verifies with.
    let http = client_with(&token(dir.path(), "admin", "admin").await);
    let first = start(dir.path()).await;
    let anonymous = reqwest::Client::new()
        .post(format!("{}/orders", first.order))
        .json(&json!({"items": [{"product_id": "00000000-0000-7000-8000-000000000000", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "an order needs a token");

    let initial: HashMap<String, i64> =
        HashMap::from([("Scarce".into(), 40), ("Plenty".into(), 1000)]);
    let mut products = HashMap::new();
    for (name, stock) in &initial {
        let body: Value = http
            .post(format!("{}/products", first.product))
            .json(&json!({"name": name, "price": "2.50", "stock": stock}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        products.insert(name.clone(), body["id"].as_str().unwrap().to_owned());
    }
    let (scarce, plenty) = (products["Scarce"].clone(), products["Plenty"].clone());

    // Up to 300 orders, 64 in flight at a time; the process dies under them.
    let mut in_flight = FuturesUnordered::new();
    let mut acknowledged = Vec::new();
    let mut child = first.child;
    let mut killed_at = None;
    for i in 0..300 {
        let items = if i % 3 == 0 {
            json!([{"product_id": scarce, "quantity": 1}, {"product_id": plenty, "quantity": 2}])
        } else {
            json!([{"product_id": scarce, "quantity": 1}])
        };
        let request = http
            .post(format!("{}/orders", first.order))
            .json(&json!({"items": items}))
            .send();
        in_flight.push(request);
        while in_flight.len() >= 64 {
            if let Some(Ok(r)) = in_flight.next().await
                && r.status().as_u16() == 201
            {
                let body: Value = r.json().await.unwrap();
                acknowledged.push(body["id"].as_str().unwrap().to_owned());
            }
        }
        if acknowledged.len() >= 60 && killed_at.is_none() {
            child.start_kill().unwrap();
            killed_at = Some(acknowledged.len());
        }
        if killed_at.is_some() {
            break;
        }
    }
    while let Some(r) = in_flight.next().await {
        if let Ok(r) = r
            && r.status().as_u16() == 201
            && let Ok(body) = r.json::<Value>().await
        {
            acknowledged.push(body["id"].as_str().unwrap().to_owned());
        }
    }
    child.wait().await.unwrap();
    assert!(killed_at.is_some(), "the process was killed mid-run");
    assert!(acknowledged.len() >= 60);

    // What the crash left behind (for the report; how much depends on timing).
    let at_crash = {
        let orders = Database::connect(format!(
            "sqlite://{}",
            dir.path().join("orders.db").display()
        ))
        .await
        .unwrap();
        let products = Database::connect(format!(
            "sqlite://{}",
            dir.path().join("products.db").display()
        ))
        .await
        .unwrap();
        let counts = (
            scalar(
                &orders,
                "SELECT COUNT(*) FROM orders WHERE status = 'pending'",
                vec![],
            )
            .await,
            scalar(
                &orders,
                "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
                vec![],
            )
            .await,
            scalar(
                &products,
                "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
                vec![],
            )
            .await,
        );
        orders.close().await.ok();
        products.close().await.ok();
        counts
    };

    let second = start(dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut statuses: HashMap<String, String> = HashMap::new();
    for id in &acknowledged {
        loop {
            let order: Value = http
                .get(format!("{}/orders/{id}", second.order))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let status = order["status"]
                .as_str()
                .expect("every acknowledged order exists")
                .to_owned();
            if status != "pending" {
                statuses.insert(id.clone(), status);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "order {id} never settled after the restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Every order in the database settled too, acknowledged or not (a commit whose answer was lost).
    let orders_db = Database::connect(format!(
        "sqlite://{}",
        dir.path().join("orders.db").display()
    ))
    .await
    .unwrap();
    let products_db = Database::connect(format!(
        "sqlite://{}",
        dir.path().join("products.db").display()
    ))
    .await
    .unwrap();
    let settle_deadline = Instant::now() + Duration::from_secs(30);
    while scalar(
        &orders_db,
        "SELECT COUNT(*) FROM orders WHERE status = 'pending'",
        vec![],
    )
    .await
        > 0
    {
        assert!(
            Instant::now() < settle_deadline,
            "orders stayed pending after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // No reservation twice, and stock conserved: initial = stock + reserved, per product;
    // reservations exist exactly for the confirmed orders.
    let confirmed: HashSet<String> = {
        let rows = orders_db
            .query_all_raw(Statement::from_string(
                orders_db.get_database_backend(),
                "SELECT id FROM orders WHERE status = 'confirmed'",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get_by_index::<uuid::Uuid>(0).unwrap().to_string())
            .collect()
    };
    for (name, initial_stock) in &initial {
        let id = uuid::Uuid::parse_str(&products[name]).unwrap();
        let stock = scalar(
            &products_db,
            "SELECT stock FROM products WHERE id = ?",
            vec![id.into()],
        )
        .await;
        let reserved = scalar(
            &products_db,
            "SELECT COALESCE(SUM(quantity), 0) FROM stock_reservations WHERE product_id = ?",
            vec![id.into()],
        )
        .await;
        assert!(stock >= 0);
        assert_eq!(stock + reserved, *initial_stock, "{name}: stock conserved");
    }
    let reserving_orders: HashSet<String> = products_db
        .query_all_raw(Statement::from_string(
            products_db.get_database_backend(),
            "SELECT DISTINCT order_id FROM stock_reservations",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<uuid::Uuid>(0).unwrap().to_string())
        .collect();
    assert_eq!(
        reserving_orders, confirmed,
        "reservations exist exactly for confirmed orders"
    );
    let scarce_units = scalar(
        &products_db,
        "SELECT COUNT(*) FROM stock_reservations WHERE product_id = ?",
        vec![uuid::Uuid::parse_str(&scarce).unwrap().into()],
    )
    .await;
    assert_eq!(
        scarce_units,
        40.min(confirmed.len() as i64),
        "each confirmed order took one scarce unit, once"
    );
    let acknowledged_confirmed = statuses.values().filter(|s| *s == "confirmed").count();
    println!(
        "at the crash: {} orders pending, {} + {} outbox rows unpublished (order + product)",
        at_crash.0, at_crash.1, at_crash.2
    );
    println!(
        "acknowledged {} (killed after {}), confirmed {} ({} of them acknowledged), rejected {}",
        acknowledged.len(),
        killed_at.unwrap(),
        confirmed.len(),
        acknowledged_confirmed,
        statuses.values().filter(|s| *s == "rejected").count(),
    );
    drop(second);
}

#[tokio::test]
async fn on_sigterm_readiness_turns_false_before_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with(dir.path(), &[("APP__HTTP__READINESS_DRAIN_MS", "1500")]).await;
    let http = reqwest::Client::new();
    let ready = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
    };
    let url = format!("{}/health/ready", running.order);
    assert_eq!(ready(url.clone()).await.unwrap(), 200);

    let pid = running.child.id().unwrap();
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut not_ready = false;
    while Instant::now() < deadline {
        if ready(url.clone()).await.ok() == Some(503) {
            not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        not_ready,
        "/health/ready answers 503 while the server drains"
    );
    let mut child = running.child;
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the process exits after draining")
        .unwrap();
    assert!(status.success(), "a clean exit: {status}");
    assert!(ready(url).await.is_err(), "the server is gone");
}
