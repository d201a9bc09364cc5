//! Scenario 3: RabbitMQ stopped for 20 s under load: orders are still accepted (the outbox holds
//! the events), `/health` says degraded, and consumers re-attach once the broker is back.

use std::time::{Duration, Instant};

use crate::check::Verdict;
use crate::cluster::Env;
use crate::load::{self, LoadShape};

use super::SETTLE_BOUND;
use super::probes::{consumers, health};
use super::random_orders;
use super::stage::Stage;

/// 3. RabbitMQ is stopped for 20 s while orders keep coming, then started again.
pub(super) async fn broker_stopped(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 3).await?;
    let (product, order, products) = stage.stocked_pair("", 10, 120).await?;
    let targets = [order.url()];
    let specs = random_orders(&products, 900, &stage.tag);
    let shape = LoadShape {
        concurrency: 8,
        pace: Some(Duration::from_millis(40)),
        give_up_after: Duration::from_secs(60),
    };
    let load = load::place_orders(&stage.http, stage.tokens(), &targets, specs, &shape);
    let env2 = env.clone();
    let http = stage.http.clone();
    let order_url = order.url();
    let outage = async move {
        tokio::time::sleep(Duration::from_secs(6)).await;
        env2.infra(&["down", "rabbitmq"]).await?;
        let down_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let during = health(&http, &order_url).await;
        tokio::time::sleep(Duration::from_secs(15)).await;
        let restart = Instant::now();
        env2.infra(&["up"]).await?;
        anyhow::Ok((down_at.elapsed(), restart.elapsed(), during, Instant::now()))
    };
    let (report, outage) = tokio::join!(load, outage);
    let (down_for, restart_took, during, back_at) = outage?;
    let mut verdict = Verdict::default();
    verdict.figure(
        "broker down for",
        format!(
            "{:.1} s (restart took {:.1} s)",
            down_for.as_secs_f64(),
            restart_took.as_secs_f64()
        ),
    );
    verdict.figure(
        "order /health while down",
        format!("{} {}", during.0, during.1),
    );
    verdict.require(during == (200, "degraded".to_owned()), || {
        format!("/health while the broker was down: {during:?}, expected 200 degraded")
    });
    let non_201: usize = report
        .statuses
        .iter()
        .filter(|(s, _)| **s != 201)
        .map(|(_, n)| n)
        .sum();
    verdict.require(non_201 == 0, || {
        format!("{non_201} order requests were not accepted at once while the broker was down")
    });
    let dbs = stage.databases().await?;
    if dbs.wait_settled(SETTLE_BOUND).await?.is_some() {
        verdict.figure(
            "settled after the broker came back",
            format!("{:.1} s", back_at.elapsed().as_secs_f64()),
        );
    }
    for service in ["order-service", "product-service"] {
        let n = consumers(env, &stage.amqp_prefix, service).await?;
        verdict.figure(&format!("{service} consumers after recovery"), n);
        verdict.require(n >= 1, || {
            format!("{service} did not re-attach its consumer")
        });
    }
    // Orders placed after the recovery settle too.
    let after = load::place_orders(
        &stage.http,
        stage.tokens(),
        &targets,
        random_orders(&products, 20, &format!("{}-after", stage.tag)),
        &LoadShape {
            concurrency: 4,
            pace: None,
            give_up_after: Duration::from_secs(30),
        },
    )
    .await;
    let mut all = report;
    all.absorb(after);
    stage
        .settle_and_verify(&order, &product, &all, &[], &mut verdict)
        .await?;
    Ok(verdict)
}
