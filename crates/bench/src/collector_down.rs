//! Tracing on with the collector down: both services started again with an OTLP endpoint
//! where nothing listens and every trace sampled, under the same `POST /orders` closed loop as
//! the tracing-off row it is compared with. Spans are made, batched and their exports fail:
//! the whole cost of tracing except the collector's own work.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context;

use crate::db::PendingProbe;
use crate::distributed::Pair;
use crate::orders::closed_orders;
use crate::plan::{Env, Plan};
use crate::process::{Service, free_port};
use crate::report::{Report, Row};
use crate::steps::{self, HOT_PRODUCT, WRITE_CLIENTS, check_load, post_orders_measure};

const C: &str = "distributed";

/// What the services log once at start-up when their spans are exported; without it the row
/// would silently measure tracing off.
const TRACES_EXPORTED: &str = "\"traces_exported\":true";

/// Starts the services traced, with nothing at the collector's address, and measures the
/// hot-product order load against the tracing-off figure of this run.
pub async fn run(
    env: &Env,
    plan: &Plan,
    report: &mut Report,
    http: &reqwest::Client,
) -> anyhow::Result<()> {
    // The hot product on fresh databases: its tracing-off load was the first on the first
    // start's fresh databases, after the same fixtures, so both figures start from the same
    // state. The first start's databases instead hold every order of the run (a million seeded
    // ones in a full run), which would make the traced inserts slower for reasons of their own.
    let off_measure = post_orders_measure(HOT_PRODUCT);
    let off = report
        .value_of(C, &off_measure)
        .with_context(|| format!("no tracing-off figure of {off_measure} to compare with"))?;
    // Released at once and never bound again by the harness, so every export is refused;
    // `measure` checks that nothing else took it meanwhile.
    let collector = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let extra = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_TRACES_SAMPLER", "always_on".to_owned()),
        // The start-up line that says whether spans are exported; the rest stays at `warn`
        // as in the tracing-off start.
        ("RUST_LOG", "warn,adapters::telemetry=info".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let pair = Pair::start(env, http, "traced", &extra).await?;
    let result = measure(env, plan, report, http, &pair, collector, off).await;
    pair.stop().await;
    result
}

fn check_traced(report: &mut Report, service: &Service) {
    let log = std::fs::read_to_string(&service.log).unwrap_or_default();
    if !log.contains(TRACES_EXPORTED) {
        report.fail(format!(
            "{C} tracing on: {} did not log {TRACES_EXPORTED} at start-up; see {}",
            service.name,
            service.log.display()
        ));
    }
}

async fn measure(
    env: &Env,
    plan: &Plan,
    report: &mut Report,
    http: &reqwest::Client,
    pair: &Pair,
    collector: SocketAddr,
    off: f64,
) -> anyhow::Result<()> {
    check_traced(report, &pair.order);
    check_traced(report, &pair.product);
    if TcpStream::connect_timeout(&collector, Duration::from_secs(1)).is_ok() {
        report.fail(format!(
            "{C} tracing on: something listens on {collector}, the collector that should be down"
        ));
    }
    let apis = &pair.apis;
    // The first start's fixtures, so that the product table and both caches hold as much.
    let (hot, _many) = steps::fixtures(apis, http, plan).await?;
    let probe = PendingProbe::connect(&format!("{}/{}", env.mysql_url, pair.order_db)).await?;
    let run = closed_orders(
        apis,
        http,
        &hot,
        WRITE_CLIENTS,
        plan.write_secs,
        &probe,
        plan.settle_cap,
    )
    .await?;
    let measure = format!(
        "{}, tracing on, collector down",
        post_orders_measure(HOT_PRODUCT)
    );
    check_load(report, &format!("{C} {measure}"), &run.stats);
    // Settling is shown, not checked: the row is about the intake, and a pipeline slowed by
    // tracing shows here without failing a smoke run on timing.
    let settled = match run.settle {
        Some(s) => format!("settled {:.2} s after the load", s.as_secs_f64()),
        None => format!(
            "did not settle within {:.0} s",
            plan.settle_cap.as_secs_f64()
        ),
    };
    report.push(
        Row::load(C, &measure, &run.stats)
            .against("tracing off", off)
            .note(&format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT=http://{collector} (nothing listens), \
                 OTEL_TRACES_SAMPLER=always_on; {settled}"
            )),
    );
    Ok(())
}
