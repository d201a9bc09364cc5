//! `bench`: the benchmark harness behind `make bench`.
//!
//! In one run it measures this machine's ceilings (Redis `GET` with redis-benchmark, a MariaDB
//! point select with sysbench, an order-shaped transaction of four inserts with sysbench and
//! `deploy/bench/order_tx.lua`), then every endpoint in both compositions (the two service
//! binaries on the real servers, and the standalone binary on SQLite): closed loops for
//! throughput, a fixed-rate open loop for create→confirmed latency (HDR histograms, latency
//! from the scheduled send time: no coordinated omission), the time until placed orders
//! settle, listings at depth after a bulk seed, and each process's memory. Every request
//! carries a bearer token signed with the run's own key, which every service start trusts
//! (see `tokens`): an admin's for the fixtures, customers' for their orders. It prints one
//! table of figures and ratios to the ceilings and writes it to `$BENCH_OUT_DIR/report.md`
//! and `report.json`.
//!
//! Usage (through `make bench`, which starts the servers and sets the environment):
//! - `bench [run]`: the whole run; `BENCH_MODE=smoke` runs each step for a second or two and
//!   only checks that every step produced figures (exit status 1 otherwise).
//! - `bench seed ORDER_DATABASE_URL COUNT`: the bulk loader alone, into a migrated order
//!   database (`mysql://user:password@host:port/db`).
//!
//! Layout:
//! - `plan`: smoke or full, durations, paths. `report`: the table.
//! - `load`: closed and open loops; `stats`: counts and histograms.
//! - `process`: service processes, memory; `api`: the HTTP calls; `db`: pending counts.
//! - `tokens`: the run's key pair and the tokens signed with it.
//! - `ceilings`, `distributed`, `collector_down`, `standalone`, `steps`, `orders`, `reads`:
//!   what is measured.
//! - `seed`: the bulk loader.

mod api;
mod ceilings;
mod collector_down;
mod db;
mod distributed;
mod load;
mod orders;
mod plan;
mod process;
mod reads;
mod report;
mod seed;
mod standalone;
mod stats;
mod steps;
mod tokens;

use std::process::ExitCode;

use anyhow::Context;

use plan::{Env, Mode, Plan};
use report::Report;

const USAGE: &str = "usage: bench [run] | bench seed ORDER_DATABASE_URL COUNT";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("run") => run().await,
        Some("seed") => seed(&args[1..]).await.map(|()| true),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(true)
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The whole run; `Ok(false)` when a step failed or produced no figures.
async fn run() -> anyhow::Result<bool> {
    let env = Env::from_env()?;
    let mode = match std::env::var("BENCH_MODE").as_deref() {
        Ok("smoke") => Mode::Smoke,
        Ok("full") | Ok("") | Err(_) => Mode::Full,
        Ok(other) => anyhow::bail!("BENCH_MODE={other}: expected smoke or full"),
    };
    let plan = Plan::for_mode(mode)?;
    let mode_name = if mode == Mode::Smoke { "smoke" } else { "full" };
    eprintln!(
        "bench: {mode_name} run {} ({} build)",
        env.run_id, env.profile
    );
    let mut report = Report::new(mode_name, &env.profile);

    let ceilings = ceilings::measure(&env, &plan).await?;
    report.push(report::Row::new(
        "machine",
        "Redis GET (redis-benchmark, c=64)",
        Some(ceilings.redis_get),
        "req/s",
    ));
    report.push(report::Row::new(
        "machine",
        "MariaDB point select (sysbench, 32 threads)",
        Some(ceilings.point_select),
        "queries/s",
    ));
    report.push(
        report::Row::new(
            "machine",
            "order-shaped tx: 4 inserts (sysbench, 32 threads)",
            Some(ceilings.order_tx),
            "tx/s",
        )
        .note("deploy/bench/order_tx.lua on the order service's schema"),
    );

    // BENCH_ONLY=distributed or standalone measures one composition (the ceilings always).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if !matches!(only.as_str(), "" | "distributed" | "standalone") {
        anyhow::bail!("BENCH_ONLY={only}: expected distributed or standalone");
    }
    if only != "standalone"
        && let Err(e) = distributed::run(&env, &plan, &mut report, &ceilings).await
    {
        report.fail(format!("distributed: {e:#}"));
    }
    if only != "distributed"
        && let Err(e) = standalone::run(&env, &plan, &mut report).await
    {
        report.fail(format!("standalone: {e:#}"));
    }

    report.write(&env.out_dir)?;
    println!("{}", report.markdown());
    eprintln!(
        "bench: written to {} and report.json",
        env.out_dir.join("report.md").display()
    );
    Ok(report.failures.is_empty())
}

/// `bench seed URL COUNT`.
async fn seed(args: &[String]) -> anyhow::Result<()> {
    let [url, count] = args else {
        anyhow::bail!(USAGE);
    };
    let count: u64 = count.parse().context("COUNT must be a number")?;
    let probe = db::PendingProbe::connect(url).await?;
    let product = seed::SeedProduct {
        id: uuid::Uuid::now_v7(),
        name: "Seeded product".to_owned(),
        price_minor: 999,
    };
    let seeded = seed::seed_orders(probe.connection(), count, &product, chrono::Utc::now()).await?;
    println!(
        "seeded {} orders in {:.1} s (newest {})",
        seeded.orders,
        seeded.elapsed.as_secs_f64(),
        seeded.id_at(seeded.orders.saturating_sub(1))
    );
    Ok(())
}
