//! The steps both compositions run, each adding its rows to the report and checking that it
//! produced figures (successful requests, no `5xx`, no lost connection, orders settled).

use std::time::{Duration, Instant};

use crate::api::{Apis, Product};
use crate::db::PendingProbe;
use crate::orders::{Settled, closed_orders, fixed_rate_orders};
use crate::plan::{Mode, Plan};
use crate::process::Service;
use crate::reads::{Get, get_loop};
use crate::report::{Report, Row};
use crate::stats::{Stats, max_ms, quantile_ms};

/// Stock of the hot product: enough for any run (the domain's maximum is 10⁹).
pub const HOT_STOCK: u64 = 1_000_000_000;
/// Stock of each of the many products.
pub const MANY_STOCK: u64 = 1_000_000;

/// Every composition's fixtures: the hot product and `plan.products` others, created through
/// the API and read once through each cache, so that the loads start on warm caches.
pub async fn fixtures(
    apis: &Apis,
    http: &reqwest::Client,
    plan: &Plan,
) -> anyhow::Result<(Vec<Product>, Vec<Product>)> {
    let hot = apis.create_products(http, 1, HOT_STOCK).await?;
    let many = apis
        .create_products(http, plan.products, MANY_STOCK)
        .await?;
    apis.warm_caches(http, &hot).await?;
    apis.warm_caches(http, &many).await?;
    Ok((hot, many))
}

/// Clients of the `POST /orders` closed loops.
pub const WRITE_CLIENTS: usize = 32;
/// Clients of the point-read closed loops.
pub const READ_CLIENTS: usize = 64;
/// Clients of the listing closed loops.
pub const LIST_CLIENTS: usize = 16;
/// The label of the `POST /orders` closed loop on one product.
pub const HOT_PRODUCT: &str = "1 hot product";

/// The measure of a `POST /orders` closed loop on the products `label` names.
pub fn post_orders_measure(label: &str) -> String {
    format!("POST /orders, c={WRITE_CLIENTS}, {label}")
}

/// One composition under test.
#[derive(Debug)]
pub struct Target {
    /// `distributed` or `standalone`.
    pub composition: &'static str,
    /// Its APIs.
    pub apis: Apis,
    /// Counts its pending orders.
    pub probe: PendingProbe,
}

/// Checks that a load produced figures: some `2xx`, no `5xx`, no request without an answer.
pub fn check_load(report: &mut Report, what: &str, stats: &Stats) {
    if stats.ok == 0 {
        report.fail(format!("{what}: no successful request"));
    }
    if stats.server_errors > 0 || stats.transport_errors > 0 {
        report.fail(format!(
            "{what}: {} 5xx answers, {} requests without an answer",
            stats.server_errors, stats.transport_errors
        ));
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn settle_rows(report: &mut Report, plan: &Plan, target: &Target, label: &str, run: &Settled) {
    let c = target.composition;
    let settle = Row::new(
        c,
        &format!("settling after {label}"),
        run.settle.map(secs),
        "s",
    )
    .note(&format!(
        "{} orders accepted in {:.1} s, {} pending at the end",
        run.stats.ok,
        secs(run.stats.elapsed),
        run.backlog_at_end
    ));
    let settle = match run.settle {
        Some(_) => settle,
        None => settle.note(&format!(
            "did not settle within {:.0} s",
            secs(plan.settle_cap)
        )),
    };
    report.push(settle);
    let confirmed = Row::new(
        c,
        &format!("confirmations/s of {label}"),
        run.confirmed_rate(),
        "orders/s",
    )
    .against("acceptances", run.accepted_rate())
    .note("settled orders ÷ (load time + settling)");
    report.push(confirmed);
    if run.settle.is_none() && plan.mode == Mode::Smoke {
        report.fail(format!("{c} {label}: orders still pending after the cap"));
    }
}

/// `POST /orders` closed loops, on one hot product and then spread over many, each followed
/// by its settling. Returns the orders placed (see [`crate::orders::Settled::ids`]).
pub async fn order_loads(
    report: &mut Report,
    plan: &Plan,
    http: &reqwest::Client,
    target: &Target,
    hot: &Product,
    many: &[Product],
    ceiling: Option<f64>,
) -> anyhow::Result<Vec<(u64, String)>> {
    let mut ids = Vec::new();
    let many_label = format!("{} products", many.len());
    for (label, products) in [
        (HOT_PRODUCT, std::slice::from_ref(hot)),
        (many_label.as_str(), many),
    ] {
        let measure = post_orders_measure(label);
        let run = closed_orders(
            &target.apis,
            http,
            products,
            WRITE_CLIENTS,
            plan.write_secs,
            &target.probe,
            plan.settle_cap,
        )
        .await?;
        check_load(
            report,
            &format!("{} {measure}", target.composition),
            &run.stats,
        );
        let row = Row::load(target.composition, &measure, &run.stats);
        report.push(match ceiling {
            Some(tx) => row.against("4-insert tx", tx),
            None => row,
        });
        settle_rows(
            report,
            plan,
            target,
            &format!("POST /orders ({label})"),
            &run,
        );
        if run.settle.is_none() {
            drain(report, plan, target).await?;
        }
        ids.extend(run.ids);
    }
    Ok(ids)
}

/// After a load that did not settle within the cap: waits (unmeasured, once more at most the
/// cap) for its backlog, so that it does not weigh on the next step's figures.
async fn drain(report: &mut Report, plan: &Plan, target: &Target) -> anyhow::Result<()> {
    let left = target.probe.pending().await?;
    eprintln!("bench: waiting for {left} pending orders before the next step");
    let drained = target
        .probe
        .wait_settled(Instant::now(), plan.settle_cap)
        .await?;
    if drained.is_none() {
        let still = target.probe.pending().await?;
        report.fail(format!(
            "{}: {still} orders still pending after twice the settling cap",
            target.composition
        ));
    }
    Ok(())
}

/// `GET /orders/{id}` over `ids`, each by the customer who placed it, compared with
/// `ceiling` when given.
pub async fn order_reads(
    report: &mut Report,
    plan: &Plan,
    http: &reqwest::Client,
    target: &Target,
    ids: &[(u64, String)],
    ceiling: Option<(&str, f64)>,
) {
    let gets = ids
        .iter()
        .map(|(i, id)| {
            Get::with(
                format!("{}/orders/{id}", target.apis.order),
                target.apis.tokens.customer(*i),
            )
        })
        .collect();
    let stats = get_loop(http, gets, READ_CLIENTS, plan.read_secs).await;
    let measure = format!("GET /orders/{{id}}, c={READ_CLIENTS}");
    check_load(report, &format!("{} {measure}", target.composition), &stats);
    if stats.client_errors > 0 {
        report.fail(format!("{} {measure}: 4xx answers", target.composition));
    }
    let row = Row::load(target.composition, &measure, &stats);
    report.push(match ceiling {
        Some((name, value)) => row.against(name, value),
        None => row,
    });
}

/// Orders at a fixed rate over `products`: create→confirmed latency and the backlog.
pub async fn fixed_rate(
    report: &mut Report,
    plan: &Plan,
    http: &reqwest::Client,
    target: &Target,
    products: &[Product],
) -> anyhow::Result<()> {
    let c = target.composition;
    let run = fixed_rate_orders(
        &target.apis,
        http,
        products,
        plan.open_rate,
        plan.open_secs,
        &target.probe,
        plan.settle_cap,
    )
    .await?;
    let label = format!("{:.0} orders/s for {:.0} s", run.rate, secs(plan.open_secs));
    check_load(report, &format!("{c} POST /orders at {label}"), &run.stats);
    if run.stats.skipped > 0 {
        report.fail(format!(
            "{c} POST /orders at {label}: {} sends skipped (too many in flight)",
            run.stats.skipped
        ));
    }
    report.push(
        Row::load(
            c,
            &format!("POST /orders at {label} (open loop)"),
            &run.stats,
        )
        .note("latency from the scheduled send time"),
    );
    let mut latency = Row::new(
        c,
        &format!("create→confirmed at {label}"),
        quantile_ms(&run.confirm_latency, 0.5),
        "ms (p50)",
    )
    .note(&format!(
        "{} settled, {} unsettled; pending at the end {}, 2 s later {}",
        run.confirm_latency.len(),
        run.unsettled,
        run.backlog_at_end,
        run.backlog_after_2s
    ));
    latency.p50_ms = quantile_ms(&run.confirm_latency, 0.5);
    latency.p99_ms = quantile_ms(&run.confirm_latency, 0.99);
    latency.max_ms = max_ms(&run.confirm_latency);
    if run.settle.is_none() {
        latency = latency.note(&format!(
            "did not settle within {:.0} s",
            secs(plan.settle_cap)
        ));
    }
    report.push(latency);
    if run.confirm_latency.is_empty() {
        report.fail(format!("{c} fixed rate: no order settled"));
    }
    if run.settle.is_none() && plan.mode == Mode::Smoke {
        report.fail(format!(
            "{c} fixed rate: orders still pending after the cap"
        ));
    }
    if run.settle.is_none() {
        drain(report, plan, target).await?;
    }
    Ok(())
}

/// The idle resident size of `services`, read now.
pub fn idle_memory(services: &[&Service]) -> Vec<(String, u64)> {
    services
        .iter()
        .map(|s| (s.name.clone(), s.memory().map_or(0, |m| m.rss_kb)))
        .collect()
}

/// Rows of each service's idle size and its peak (`VmHWM`, reached under load).
pub fn memory_rows(
    report: &mut Report,
    composition: &str,
    idle: &[(String, u64)],
    services: &[&Service],
) {
    for ((name, idle_kb), service) in idle.iter().zip(services) {
        let peak = service.memory().map_or(0, |m| m.hwm_kb);
        report.push(
            Row::new(
                composition,
                &format!("RSS of {name}, idle"),
                Some(*idle_kb as f64 / 1024.0),
                "MB",
            )
            .note("VmRSS after start-up and fixtures, before any load"),
        );
        report.push(
            Row::new(
                composition,
                &format!("RSS of {name}, peak under load"),
                Some(peak as f64 / 1024.0),
                "MB",
            )
            .note("VmHWM at the end of the run"),
        );
    }
}
