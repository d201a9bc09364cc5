#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

//! Traces and metrics of real runs, in a test process of their own: the process's tracing
//! subscriber exports to an OTLP/HTTP receiver started here, and its metrics recorder is read
//! through `/metrics`. One test drives everything in sequence, so that no other test's orders
//! move the counters it checks.
//!
//! - One order's spans share one trace from `POST /orders` to its confirmation, across the
//!   services (the catalogue call, the outbox, RabbitMQ) and on the standalone bus.
//! - `/metrics` counters move by exactly what a known sequence of orders did.
//! - With the collector gone, orders are still accepted and confirmed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use adapters::runtime::telemetry::{self, Export};
use testkit::otlp::{OtlpReceiver, ReceivedSpan, SpanKind};
use testkit::{TestSystem, spawn_standalone, spawn_system};

const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traces_and_metrics_follow_the_orders() {
    let receiver = OtlpReceiver::start().await.unwrap();
    let telemetry = telemetry::init_with(
        "observability-tests",
        "warn",
        &Export::To(format!("{}/v1/traces", receiver.endpoint())),
    );
    assert!(telemetry.is_exporting(), "this process's first subscriber");

    let system = spawn_system().await;
    one_trace_per_order(&receiver, &system, true).await;
    counters_move_by_what_happened(&system).await;
    let standalone = spawn_standalone().await;
    one_trace_per_order(&receiver, &standalone, false).await;

    // The collector goes away: nothing a client sees changes.
    drop(receiver);
    orders_go_through_without_a_collector(&system).await;
    orders_go_through_without_a_collector(&standalone).await;
    telemetry.shutdown();
}

/// Places one order for a product no cache has seen and follows its trace.
async fn one_trace_per_order(receiver: &OtlpReceiver, sys: &TestSystem, distributed: bool) {
    let before: HashSet<String> = receiver
        .spans()
        .into_iter()
        .filter(|s| s.name == "POST /orders")
        .map(|s| s.trace_id)
        .collect();
    let system = if distributed {
        "rabbitmq"
    } else {
        "in-process"
    };
    let product = sys.create_product("Traced lamp", "19.99", 10).await;
    let pid = product["id"].as_str().unwrap();
    let placed = sys.place_order(&[(pid, 1)]).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order_id = placed.body["id"].as_str().unwrap().to_owned();
    let settled = sys.wait_settled(&order_id, PATIENCE).await;
    assert_eq!(settled["status"], "confirmed");

    // The request's server span names the route; its trace is the order's.
    let spans = receiver
        .wait_for(PATIENCE, |spans| {
            request_span(spans, &before, system).is_some_and(|request| {
                let trace: Vec<&ReceivedSpan> = spans
                    .iter()
                    .filter(|s| s.trace_id == request.trace_id)
                    .collect();
                consumer_of(&trace, "order.qty_confirmed").is_some()
            })
        })
        .await
        .unwrap();
    let request = request_span(&spans, &before, system).unwrap();
    assert_eq!(request.attributes["http.request.method"], "POST");
    assert_eq!(request.attributes["http.response.status_code"], "201");
    let trace: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == request.trace_id)
        .collect();

    if distributed {
        // The catalogue call: a client span under the request, and the product service's
        // server span its child (the `traceparent` went out with the call).
        let call = trace
            .iter()
            .find(|s| s.kind == SpanKind::Client && s.attributes["url.full"].contains("/products"))
            .expect("the catalogue call is in the order's trace");
        assert!(descends_from(&trace, call, &request.span_id));
        let served = trace
            .iter()
            .find(|s| s.kind == SpanKind::Server && s.name == "GET /products")
            .expect("the product service's span is in the order's trace");
        assert_eq!(
            served.parent_span_id.as_deref(),
            Some(call.span_id.as_str())
        );
    }

    // order.created: published from the outbox under the request, consumed as its child.
    let created = producer_of(&trace, "order.created").expect("order.created published");
    assert!(descends_from(&trace, created, &request.span_id));
    let reserving = consumer_of(&trace, "order.created").expect("order.created consumed");
    assert_eq!(
        reserving.parent_span_id.as_deref(),
        Some(created.span_id.as_str())
    );
    for span in [created, reserving] {
        assert_eq!(span.attributes["messaging.system"], system);
        assert!(span.attributes.contains_key("messaging.destination.name"));
        assert!(span.attributes.contains_key("messaging.message.id"));
    }
    assert_eq!(reserving.attributes["messaging.operation.type"], "process");

    // The answer continues from the reservation, and its handling confirms the order.
    let answer = producer_of(&trace, "order.qty_confirmed").expect("the answer published");
    assert_eq!(
        answer.parent_span_id.as_deref(),
        Some(reserving.span_id.as_str())
    );
    let confirming = consumer_of(&trace, "order.qty_confirmed").expect("the answer consumed");
    assert_eq!(
        confirming.parent_span_id.as_deref(),
        Some(answer.span_id.as_str())
    );
    assert_eq!(confirming.attributes["messaging.outcome"], "ack");

    // For the README's picture (deploy/observability/trace-view renders it).
    write_trace(
        &trace,
        if distributed {
            "distributed"
        } else {
            "standalone"
        },
    );
}

/// The `POST /orders` server span of a trace not seen before this order whose messages went
/// through `system`: the test places one order at a time in each composition before the
/// counters' orders, and waits for each one's whole trace.
fn request_span<'a>(
    spans: &'a [ReceivedSpan],
    before: &HashSet<String>,
    system: &str,
) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|s| {
        s.kind == SpanKind::Server
            && s.name == "POST /orders"
            && !before.contains(&s.trace_id)
            && spans.iter().any(|other| {
                other.trace_id == s.trace_id
                    && other.kind == SpanKind::Producer
                    && other.attributes.get("messaging.system").map(String::as_str) == Some(system)
            })
    })
}

fn producer_of<'a>(trace: &[&'a ReceivedSpan], key: &str) -> Option<&'a ReceivedSpan> {
    trace.iter().copied().find(|s| {
        s.kind == SpanKind::Producer
            && s.attributes.get("routing_key").map(String::as_str) == Some(key)
    })
}

fn consumer_of<'a>(trace: &[&'a ReceivedSpan], key: &str) -> Option<&'a ReceivedSpan> {
    trace.iter().copied().find(|s| {
        s.kind == SpanKind::Consumer
            && s.attributes.get("routing_key").map(String::as_str) == Some(key)
    })
}

/// Whether `span` is `ancestor` or below it in `trace`.
fn descends_from(trace: &[&ReceivedSpan], span: &ReceivedSpan, ancestor: &str) -> bool {
    let parents: HashMap<&str, Option<&str>> = trace
        .iter()
        .map(|s| (s.span_id.as_str(), s.parent_span_id.as_deref()))
        .collect();
    let mut current = Some(span.span_id.as_str());
    while let Some(id) = current {
        if id == ancestor {
            return true;
        }
        current = parents.get(id).copied().flatten();
    }
    false
}

/// The value of one sample of `/metrics` (`name` with exactly these labels), 0 when absent.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let found: Vec<(&str, &str)> = rest
                .trim_end_matches('}')
                .split(',')
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            metric == name
                && found.len() == labels.len()
                && labels.iter().all(|label| found.contains(label))
        })
        .map_or(0.0, |(_, value)| value.parse().unwrap())
}

async fn scrape(sys: &TestSystem) -> String {
    let reply = sys.get(&sys.order.base_url, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    reply.text
}

/// Three orders confirmed, two refused for stock, one of the confirmed cancelled: the
/// counters move by exactly that.
async fn counters_move_by_what_happened(sys: &TestSystem) {
    let product = sys.create_product("Counted chair", "5.00", 3).await;
    let pid = product["id"].as_str().unwrap();
    let before = scrape(sys).await;

    let mut confirmed = Vec::new();
    for _ in 0..3 {
        let placed = sys.place_order(&[(pid, 1)]).await;
        assert_eq!(placed.status, 201, "{}", placed.text);
        let id = placed.body["id"].as_str().unwrap().to_owned();
        assert_eq!(sys.wait_settled(&id, PATIENCE).await["status"], "confirmed");
        confirmed.push(id);
    }
    for _ in 0..2 {
        let placed = sys.place_order(&[(pid, 1)]).await;
        assert_eq!(placed.status, 201, "{}", placed.text);
        let id = placed.body["id"].as_str().unwrap();
        assert_eq!(sys.wait_settled(id, PATIENCE).await["status"], "rejected");
    }
    let cancelled = sys
        .request(
            reqwest::Method::POST,
            &sys.order.base_url,
            &format!("/orders/{}/cancel", confirmed[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    // The release is the product service's, after the cancel answered: wait for it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let released = |text: &str| sample(text, "reservations_released_total", &[]);
    while released(&scrape(sys).await) == released(&before) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stock was not released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = scrape(sys).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(moved("orders_placed_total", &[]), 5.0);
    assert_eq!(moved("orders_confirmed_total", &[]), 3.0);
    assert_eq!(
        moved("orders_rejected_total", &[("reason", "insufficient_stock")]),
        2.0
    );
    assert_eq!(moved("orders_cancelled_total", &[]), 1.0);
    assert_eq!(moved("reservations_applied_total", &[]), 3.0);
    assert_eq!(
        moved(
            "reservations_refused_total",
            &[("reason", "insufficient_stock")]
        ),
        2.0
    );
    assert_eq!(moved("reservations_released_total", &[]), 1.0);
    assert_eq!(moved("order_confirmation_seconds_count", &[]), 3.0);
    let routed = [("method", "POST"), ("route", "/orders"), ("status", "201")];
    assert_eq!(
        moved("http_server_request_duration_seconds_count", &routed),
        5.0
    );
    // The gauges read at scrape: nothing waits, the pools are there.
    assert_eq!(sample(&after, "orders_pending_past_deadline", &[]), 0.0);
    assert!(sample(&after, "db_pool_max_connections", &[("pool", "order")]) >= 1.0);
    // Each service reads its own gauges when its `/metrics` is scraped.
    let product_side = sys.get(&sys.product.base_url, "/metrics").await.text;
    assert!(
        sample(
            &product_side,
            "db_pool_max_connections",
            &[("pool", "product")]
        ) >= 1.0
    );
    assert!(product_side.contains("outbox_backlog_messages{service=\"product-service\"}"));
    for (gauge, labelled) in [
        ("outbox_backlog_messages", "service=\"order-service\""),
        ("dead_letter_queue_messages", "queue=\""),
        ("queue_ready_messages", "queue=\""),
    ] {
        let series = format!("{gauge}{{{labelled}");
        assert!(after.contains(&series), "{series} is exposed:\n{after}");
    }
    for line in after
        .lines()
        .filter(|l| l.starts_with("dead_letter_queue_messages"))
    {
        assert!(line.ends_with(" 0"), "no dead letters: {line}");
    }
    for metric in [
        "orders_placed_total",
        "outbox_backlog_messages",
        "cache_requests_total",
    ] {
        assert!(
            after.contains(&format!("# HELP {metric} ")),
            "{metric} is described"
        );
    }
}

/// With nothing listening where spans go, orders are still accepted and confirmed.
async fn orders_go_through_without_a_collector(sys: &TestSystem) {
    let product = sys.create_product("Untraced stool", "3.00", 100).await;
    let pid = product["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let placed = sys.place_order(&[(pid, 1)]).await;
        assert_eq!(placed.status, 201, "{}", placed.text);
        ids.push(placed.body["id"].as_str().unwrap().to_owned());
    }
    for id in ids {
        assert_eq!(sys.wait_settled(&id, PATIENCE).await["status"], "confirmed");
    }
}

/// Writes `trace` as JSON to `target/observability/trace-{label}.json`.
fn write_trace(trace: &[&ReceivedSpan], label: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/observability");
    std::fs::create_dir_all(dir).unwrap();
    let spans: Vec<serde_json::Value> = trace
        .iter()
        .map(|s| {
            serde_json::json!({
                "service_name": s.service_name,
                "trace_id": s.trace_id,
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id,
                "name": s.name,
                "kind": format!("{:?}", s.kind),
                "attributes": s.attributes,
                "links": s.links,
                "status_error": s.status_error,
                "start_unix_nanos": s.start_unix_nanos,
                "end_unix_nanos": s.end_unix_nanos,
            })
        })
        .collect();
    let json = serde_json::to_string_pretty(&spans).unwrap();
    std::fs::write(format!("{dir}/trace-{label}.json"), json).unwrap();
}
