//! `chaos`: the chaos harness behind `make chaos`.
//!
//! It runs the real order and product services as separate processes (built with the
//! `fault-points` feature) against real MariaDB, Redis and RabbitMQ servers started by
//! `deploy/local-infra/infra.sh`, drives load at them over loopback, injects faults by signalling
//! the processes (SIGKILL, SIGSTOP/SIGCONT), by stopping and restarting the servers, and through
//! fault points, then checks the invariants the system promises (see `check.rs`). Every request
//! carries a bearer token signed with the run's own key, which every service start trusts
//! (see `tokens.rs`).
//!
//! Usage: `chaos [N...]` runs the scenarios numbered N (all of them by default) and exits
//! non-zero when any invariant failed. The figures are printed and written to
//! `$CHAOS_LOG_DIR/report.txt`; each service instance logs to `$CHAOS_LOG_DIR/<name>.log`.

mod check;
mod cluster;
mod load;
mod scenarios;
mod tokens;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

#[tokio::main]
async fn main() -> ExitCode {
    let env = match cluster::Env::from_env() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            return ExitCode::from(2);
        }
    };
    let wanted: Vec<u32> = match std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>())
        .collect::<Result<_, _>>()
    {
        Ok(w) => w,
        Err(_) => {
            eprintln!("usage: chaos [SCENARIO-NUMBER...]");
            return ExitCode::from(2);
        }
    };
    let mut report = String::new();
    let mut summary = format!(
        "{:<3} {:<6} {:>6} {:>6} {:>9} {:>8} {:>5} {:>8} {:>7}\n",
        "#", "result", "sent", "acked", "confirmed", "rejected", "dups", "settle", "failed reads"
    );
    let mut failed = Vec::new();
    let started = Instant::now();
    for (n, name, run) in scenarios::all() {
        if !wanted.is_empty() && !wanted.contains(&n) {
            continue;
        }
        println!("\n=== scenario {n}: {name}");
        let began = Instant::now();
        let verdict = run(&env).await;
        let took = began.elapsed().as_secs_f64();
        let mut text = format!("scenario {n}: {name} ({took:.0} s)\n");
        match verdict {
            Ok(verdict) => {
                text.push_str(&verdict.render());
                let result = if verdict.violations.is_empty() {
                    "PASS"
                } else {
                    failed.push(n);
                    "FAIL"
                };
                let _ = writeln!(text, "  {result}");
                let reads = match verdict.get("failed product reads") {
                    "-" => verdict.get("failed reads (GET each acked order)"),
                    product_reads => product_reads,
                };
                let _ = writeln!(
                    summary,
                    "{n:<3} {result:<6} {:>6} {:>6} {:>9} {:>8} {:>5} {:>8} {:>7}",
                    verdict.get("orders sent"),
                    verdict.get("acknowledged (201)"),
                    verdict.get("confirmed"),
                    verdict.get("rejected"),
                    verdict.get("duplicate orders"),
                    verdict.get("time to settle after the load"),
                    reads,
                );
            }
            Err(e) => {
                let _ = writeln!(text, "    ERROR: {e:#}\n  FAIL");
                let _ = writeln!(summary, "{n:<3} ERROR");
                failed.push(n);
            }
        }
        print!("{text}");
        report.push_str(&text);
        report.push('\n');
    }
    println!("\n{summary}");
    report.push_str(&summary);
    let _ = writeln!(
        report,
        "total {:.0} s; service logs in {}",
        started.elapsed().as_secs_f64(),
        env.log_dir.display()
    );
    std::fs::write(env.log_dir.join("report.txt"), &report).ok();
    if failed.is_empty() {
        println!(
            "\nchaos: every scenario held its invariants ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "\nchaos: scenarios {failed:?} FAILED; service logs in {}",
            env.log_dir.display()
        );
        ExitCode::FAILURE
    }
}
