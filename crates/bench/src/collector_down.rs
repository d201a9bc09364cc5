//! Tracing on with the collector down: both services started with an OTLP endpoint where
//! nothing listens and every trace sampled, under the same `POST /orders` closed loop on the
//! hot product as services started without tracing. Spans are made, batched and their exports
//! fail: the whole cost of tracing except the collector's own work.
//!
//! On a shared two-core machine one load differs from the next by more than tracing costs, and
//! a load run later in the bench meets a busier database (purges and page flushes left by the
//! earlier steps). So the two are measured in pairs, in the order off, on, on, off, each on
//! fresh databases: a drift over the four legs weighs on both sides alike, and the ratio is
//! that of the two sums.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::db::PendingProbe;
use crate::distributed::Pair;
use crate::orders::{Settled, closed_orders};
use crate::plan::{Env, Plan};
use crate::process::{Service, free_port};
use crate::report::{Report, Row};
use crate::stats::Stats;
use crate::steps::{HOT_PRODUCT, HOT_STOCK, WRITE_CLIENTS, check_load, post_orders_measure};

const C: &str = "distributed";

/// What the services log once at start-up when their spans are exported; without it the row
/// would silently measure tracing off.
const TRACES_EXPORTED: &str = "\"traces_exported\":true";

/// The legs, in order: `true` is traced.
const LEGS: [bool; 4] = [false, true, true, false];

/// Measures the hot-product order load with tracing off and on, alternately, and reports both
/// with their ratio.
pub async fn run(
    env: &Env,
    plan: &Plan,
    report: &mut Report,
    http: &reqwest::Client,
) -> anyhow::Result<()> {
    // Released at once and never bound again by the harness, so every export is refused;
    // each traced leg checks that nothing else took it meanwhile.
    let collector = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    // Each leg is half the write duration, so that each side has loaded for the full duration.
    let leg_secs = (plan.write_secs / 2).max(Duration::from_secs(1));
    let (mut off, mut on) = (Totals::default(), Totals::default());
    for (i, traced) in LEGS.into_iter().enumerate() {
        let tag = format!("{}{i}", if traced { "traced" } else { "untraced" });
        let extra = if traced {
            traced_environment(collector)
        } else {
            Vec::new()
        };
        let pair = Pair::start(env, http, &tag, &extra).await?;
        if traced {
            check_traced(report, &pair.order);
            check_traced(report, &pair.product);
            if TcpStream::connect_timeout(&collector, Duration::from_secs(1)).is_ok() {
                report.fail(format!(
                    "{C} tracing on: something listens on {collector}, \
                     the collector that should be down"
                ));
            }
        }
        let leg = load(env, http, &pair, leg_secs, plan.settle_cap).await;
        pair.stop().await;
        let leg = leg?;
        if traced { &mut on } else { &mut off }.add(&leg);
    }
    let off_measure = format!("{}, tracing off", post_orders_measure(HOT_PRODUCT));
    let on_measure = format!(
        "{}, tracing on, collector down",
        post_orders_measure(HOT_PRODUCT)
    );
    check_load(report, &format!("{C} {off_measure}"), &off.stats);
    check_load(report, &format!("{C} {on_measure}"), &on.stats);
    let legs = format!(
        "two legs of {} s each, in the order off, on, on, off",
        leg_secs.as_secs()
    );
    report.push(Row::load(C, &off_measure, &off.stats).note(&format!("{legs}; {}", off.settled())));
    let off_rate = off.stats.rate();
    report.push(
        Row::load(C, &on_measure, &on.stats)
            .against("tracing off", off_rate)
            .note(&format!(
                "{legs}; OTEL_EXPORTER_OTLP_ENDPOINT=http://{collector} (nothing listens), \
                 OTEL_TRACES_SAMPLER=always_on; {}",
                on.settled()
            )),
    );
    Ok(())
}

/// The variables that turn tracing on, towards `collector`.
fn traced_environment(collector: SocketAddr) -> Vec<(String, String)> {
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_TRACES_SAMPLER", "always_on".to_owned()),
        // The start-up line that says whether spans are exported; the rest stays at `warn`
        // as in the tracing-off starts.
        ("RUST_LOG", "warn,adapters::telemetry=info".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec()
}

/// One leg: the hot product on this start's fresh databases, warmed through both caches, then
/// the closed loop.
async fn load(
    env: &Env,
    http: &reqwest::Client,
    pair: &Pair,
    secs: Duration,
    settle_cap: Duration,
) -> anyhow::Result<Settled> {
    let hot = pair.apis.create_products(http, 1, HOT_STOCK).await?;
    pair.apis.warm_caches(http, &hot).await?;
    let probe = PendingProbe::connect(&format!("{}/{}", env.mysql_url, pair.order_db)).await?;
    closed_orders(
        &pair.apis,
        http,
        &hot,
        WRITE_CLIENTS,
        secs,
        &probe,
        settle_cap,
    )
    .await
}

/// One side's legs together: their requests, their time, and how each settled.
#[derive(Default)]
struct Totals {
    stats: Stats,
    settles: Vec<Option<Duration>>,
}

impl Totals {
    fn add(&mut self, leg: &Settled) {
        self.stats.merge(&leg.stats);
        self.stats.elapsed += leg.stats.elapsed;
        self.settles.push(leg.settle);
    }

    /// Settling is shown, not checked: the row is about the intake.
    fn settled(&self) -> String {
        let each: Vec<String> = self
            .settles
            .iter()
            .map(|s| match s {
                Some(s) => format!("{:.2} s", s.as_secs_f64()),
                None => "not within the cap".to_owned(),
            })
            .collect();
        format!("settled {} after the loads", each.join(" and "))
    }
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
