//! Scenario 2: the product service crashing between its reservation's commit and the message's
//! acknowledgement, and killed now and then: a redelivered reservation must not be applied twice.

use std::time::Duration;

use crate::check::Verdict;
use crate::cluster::{Env, Supervised};
use crate::load::{self, LoadShape};

use super::random_orders;
use super::stage::Stage;

/// 2. The product service crashes after its reservation commits and before it acknowledges the
///    message, and is SIGKILLed now and then, while 500 orders come in.
pub(super) async fn product_service_killed(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 2).await?;
    let (product, order, products) = stage
        .stocked_pair("consumer.before_ack=crash:0.02", 10, 100)
        .await?;
    let supervised = Supervised::new(
        product,
        stage.http.clone(),
        Some(Duration::from_secs(4)..Duration::from_secs(8)),
    );
    let report = load::place_orders(
        &stage.http,
        stage.tokens(),
        &[order.url()],
        random_orders(&products, 500, &stage.tag),
        &LoadShape {
            concurrency: 8,
            pace: Some(Duration::from_millis(20)),
            give_up_after: Duration::from_secs(60),
        },
    )
    .await;
    // Keep crashing while the backlog is consumed, then stop.
    let dbs = stage.databases().await?;
    dbs.wait_settled(Duration::from_secs(60)).await?;
    let (product, restarts) = supervised.finish().await?;
    let mut verdict = Verdict::default();
    verdict.figure("product service SIGKILLs", restarts.kills);
    verdict.figure("product crashes between commit and ack", restarts.crashes);
    verdict.require(restarts.crashes >= 1, || {
        "the product service never crashed between commit and ack".to_owned()
    });
    stage
        .settle_and_verify(&order, &product, &report, &[], &mut verdict)
        .await?;
    Ok(verdict)
}
