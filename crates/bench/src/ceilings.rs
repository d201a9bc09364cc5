//! The machine's ceilings, measured in the same run as the services: Redis `GET`
//! (redis-benchmark), a MariaDB point select (sysbench `oltp_point_select`) and an
//! order-shaped transaction of four inserts (sysbench with `deploy/bench/order_tx.lua`, on the
//! order service's own schema).

use anyhow::{Context, bail};

use crate::plan::{Env, Plan};
use crate::process::run_tool;

/// Threads of both sysbench runs, like the reference figures.
const SYSBENCH_THREADS: u32 = 32;
/// redis-benchmark clients, like the `GET /products/{id}` load.
const REDIS_CLIENTS: u32 = 64;

/// The three ceilings, per second.
#[derive(Debug, Clone, Copy)]
pub struct Ceilings {
    /// Redis `GET`s per second.
    pub redis_get: f64,
    /// Point selects per second.
    pub point_select: f64,
    /// Order-shaped transactions per second.
    pub order_tx: f64,
}

/// Measures every ceiling.
pub async fn measure(env: &Env, plan: &Plan) -> anyhow::Result<Ceilings> {
    let redis_get = redis_get(env, plan).await?;
    eprintln!("bench: ceiling redis GET {redis_get:.0}/s");
    let point_select = point_select(env, plan).await?;
    eprintln!("bench: ceiling point select {point_select:.0}/s");
    let order_tx = order_tx(env, plan).await?;
    eprintln!("bench: ceiling order-shaped tx {order_tx:.0}/s");
    Ok(Ceilings {
        redis_get,
        point_select,
        order_tx,
    })
}

async fn redis_get(env: &Env, plan: &Plan) -> anyhow::Result<f64> {
    let addr = env
        .redis_url
        .trim_start_matches("redis://")
        .trim_end_matches('/');
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "6379"));
    // SET first, so that every GET reads a 200-byte value (about a cached product's size).
    let args: Vec<String> = [
        "-h",
        host,
        "-p",
        port,
        "-c",
        &REDIS_CLIENTS.to_string(),
        "-n",
        &plan.redis_requests.to_string(),
        "-t",
        "set,get",
        "-d",
        "200",
        "--csv",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = run_tool("redis-benchmark", &args, &[]).await?;
    parse_redis_csv(&out).with_context(|| format!("unexpected redis-benchmark output:\n{out}"))
}

fn parse_redis_csv(out: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.starts_with("\"GET\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
}

fn sysbench_args(env: &Env, database: &str, script: &str) -> anyhow::Result<Vec<String>> {
    let mysql = env.mysql_parts()?;
    Ok(vec![
        script.to_owned(),
        "--db-driver=mysql".to_owned(),
        format!("--mysql-host={}", mysql.host),
        format!("--mysql-port={}", mysql.port),
        format!("--mysql-user={}", mysql.user),
        format!("--mysql-password={}", mysql.password),
        format!("--mysql-db={database}"),
    ])
}

async fn point_select(env: &Env, plan: &Plan) -> anyhow::Result<f64> {
    let database = env.database("sbtest");
    crate::db::create_database(&env.mysql_url, &database).await?;
    let mut prepare = sysbench_args(env, &database, "oltp_point_select")?;
    prepare.extend([
        "--tables=1".to_owned(),
        format!("--table-size={}", plan.sysbench_rows),
        "prepare".to_owned(),
    ]);
    run_tool("sysbench", &prepare, &[]).await?;
    let mut run = sysbench_args(env, &database, "oltp_point_select")?;
    run.extend([
        "--tables=1".to_owned(),
        format!("--table-size={}", plan.sysbench_rows),
        format!("--threads={SYSBENCH_THREADS}"),
        format!("--time={}", plan.sysbench_secs),
        "run".to_owned(),
    ]);
    let out = run_tool("sysbench", &run, &[]).await?;
    crate::db::drop_database(&env.mysql_url, &database).await?;
    parse_sysbench(&out, "queries:").with_context(|| format!("unexpected sysbench output:\n{out}"))
}

async fn order_tx(env: &Env, plan: &Plan) -> anyhow::Result<f64> {
    let database = env.database("txceiling");
    // The order service's own migrations, so the inserts hit the very tables and indexes a
    // POST /orders writes.
    let url = format!("{}/{database}", env.mysql_url);
    let bin = env.bin("order-service");
    let bin = bin.to_str().context("binary path is not UTF-8")?;
    run_tool(
        bin,
        &["migrate".to_owned()],
        &[("APP__DATABASE__URL", &url), ("RUST_LOG", "warn")],
    )
    .await?;
    let script = env
        .order_tx_lua
        .to_str()
        .context("script path is not UTF-8")?;
    let mut run = sysbench_args(env, &database, script)?;
    run.extend([
        format!("--threads={SYSBENCH_THREADS}"),
        format!("--time={}", plan.sysbench_secs),
        "run".to_owned(),
    ]);
    let out = run_tool("sysbench", &run, &[]).await?;
    crate::db::drop_database(&env.mysql_url, &database).await?;
    let tx = parse_sysbench(&out, "transactions:")
        .with_context(|| format!("unexpected sysbench output:\n{out}"))?;
    if tx <= 0.0 {
        bail!("the order-shaped transaction never committed:\n{out}");
    }
    Ok(tx)
}

/// The "(N per sec.)" figure of sysbench's line starting with `label`.
fn parse_sysbench(out: &str, label: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.trim_start().starts_with(label))?;
    let inside = line.split('(').nth(1)?;
    inside.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_csv_is_read() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\"\n\"GET\",\"69686.41\",\"0.5\"\n";
        assert_eq!(parse_redis_csv(out), Some(69686.41));
    }

    #[test]
    fn sysbench_rates_are_read() {
        let out = "SQL statistics:\n    queries performed:\n        read: 100\n    \
                   transactions:                        3950   (3949.12 per sec.)\n    \
                   queries:                             560000 (55994.32 per sec.)\n";
        assert_eq!(parse_sysbench(out, "queries:"), Some(55994.32));
        assert_eq!(parse_sysbench(out, "transactions:"), Some(3949.12));
    }
}
