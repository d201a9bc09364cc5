//! The standalone composition: the `standalone` binary (both services in one process, SQLite,
//! in-process bus) on a fresh data directory, trusting the run's key (given one, it makes no
//! key of its own). Its ceiling is its own `GET /health/ready`.

use crate::api::{self, Apis};
use crate::db::PendingProbe;
use crate::plan::{Env, Plan};
use crate::process::{Service, free_port};
use crate::reads::{Get, get_loop};
use crate::report::{Report, Row};
use crate::steps::{self, READ_CLIENTS, Target, check_load};

const C: &str = "standalone";

/// Starts the standalone system, runs every step against it and stops it.
pub async fn run(env: &Env, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let http = api::client()?;
    let data_dir = env.out_dir.join(format!("standalone-{}", env.run_id));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let data = data_dir.to_str().map(str::to_owned).unwrap_or_default();
    let (order_port, product_port) = (free_port()?, free_port()?);
    let (op, pp) = (order_port.to_string(), product_port.to_string());
    let mut settings = vec![
        ("RUST_LOG".to_owned(), "warn".to_owned()),
        ("APP__HTTP__READINESS_DRAIN_MS".to_owned(), "0".to_owned()),
        // The listings at depth go out as one admin: a per-caller limit would measure the
        // limiter.
        ("APP__RATE_LIMIT__ENABLED".to_owned(), "false".to_owned()),
    ];
    settings.extend(env.tokens.service_env());
    let mut service = Service::start(
        "standalone",
        &env.bin("standalone"),
        &[
            "--data-dir",
            &data,
            "--order-port",
            &op,
            "--product-port",
            &pp,
        ],
        &settings,
        env.log("standalone"),
    )?;
    let apis = Apis {
        order: format!("http://127.0.0.1:{order_port}"),
        product: format!("http://127.0.0.1:{product_port}"),
        tokens: env.tokens.clone(),
    };
    let result = async {
        service
            .wait_ready(&http, &format!("{}/health/ready", apis.order))
            .await?;
        let probe = PendingProbe::connect(&format!("sqlite://{data}/orders.db?mode=ro")).await?;
        steps_of(
            plan,
            report,
            &http,
            Target {
                composition: C,
                apis,
                probe,
            },
            &service,
        )
        .await
    }
    .await;
    service.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

async fn steps_of(
    plan: &Plan,
    report: &mut Report,
    http: &reqwest::Client,
    target: Target,
    service: &Service,
) -> anyhow::Result<()> {
    let apis = &target.apis;
    let (hot, many) = steps::fixtures(apis, http, plan).await?;
    let idle = steps::idle_memory(&[service]);

    let ready = vec![Get::public(format!("{}/health/ready", apis.order))];
    let stats = get_loop(http, ready, READ_CLIENTS, plan.read_secs).await;
    let measure = format!("GET /health/ready (its ceiling), c={READ_CLIENTS}");
    check_load(report, &format!("{C} {measure}"), &stats);
    let ceiling = stats.rate();
    report.push(Row::load(C, &measure, &stats));

    let ids = steps::order_loads(report, plan, http, &target, &hot[0], &many, None).await?;
    steps::order_reads(
        report,
        plan,
        http,
        &target,
        &ids,
        Some(("its /health/ready", ceiling)),
    )
    .await;
    steps::fixed_rate(report, plan, http, &target, &many).await?;
    steps::memory_rows(report, C, &idle, &[service]);
    Ok(())
}
