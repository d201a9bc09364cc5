//! Scenario 1: the order service killed, from outside and at its own fault points, while 1,000
//! orders come in; a poison message must end up dead-lettered, and nothing acknowledged may be
//! lost or doubled.

use std::time::Duration;

use crate::check::Verdict;
use crate::cluster::{Env, Supervised};
use crate::load::{self, LoadShape};

use super::probes::publish_poison;
use super::random_orders;
use super::stage::Stage;

/// 1. The order service is SIGKILLed every few seconds, and crashes by itself right after
///    commits (before the relay publishes or the client hears back) and between the broker's
///    confirm and the outbox update, while 1,000 orders come in.
pub(super) async fn order_service_killed(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 1).await?;
    let (product, order) = stage
        .pair(
            "",
            "tx.after_commit=crash:0.004,relay.after_confirm=crash:0.03",
        )
        .await?;
    let products = stage.products(&product.url(), 20, 80).await?;
    let poison = publish_poison(env, &stage.amqp_prefix).await?;
    let order_url = order.url();
    let supervised = Supervised::new(
        order,
        stage.http.clone(),
        Some(Duration::from_secs(2)..Duration::from_secs(5)),
    );
    let report = load::place_orders(
        &stage.http,
        stage.tokens(),
        std::slice::from_ref(&order_url),
        random_orders(&products, 1000, &stage.tag),
        &LoadShape {
            concurrency: 16,
            pace: None,
            give_up_after: Duration::from_secs(90),
        },
    )
    .await;
    // Keep killing and restarting while the backlog left by the load is worked off: a
    // service that dies then must come back, as it would under a real supervisor.
    let dbs = stage.databases().await?;
    dbs.wait_settled(Duration::from_secs(60)).await?;
    let (order, restarts) = supervised.finish().await?;
    let mut verdict = Verdict::default();
    verdict.figure("order service SIGKILLs", restarts.kills);
    verdict.figure("order service crashes at fault points", restarts.crashes);
    verdict.require(restarts.kills + restarts.crashes >= 3, || {
        "fewer than 3 order-service deaths: the scenario proved little".to_owned()
    });
    stage
        .settle_and_verify(&order, &product, &report, &[poison], &mut verdict)
        .await?;
    Ok(verdict)
}
