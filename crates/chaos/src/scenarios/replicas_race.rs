//! Scenario 7: two replicas of each service racing 1,000 orders for 100 units: exactly 100 are
//! confirmed.

use std::time::Duration;

use crate::check::Verdict;
use crate::cluster::Env;
use crate::load::{self, LoadShape, OrderSpec};

use super::stage::Stage;

/// 7. Two replicas of each service share the databases and queues; 1,000 orders of one unit
///    race for 100 units.
pub(super) async fn replicas_race(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 7).await?;
    let mut product_1 = stage.product_service("product-1")?;
    let mut product_2 = stage.product_service("product-2")?;
    product_1.start(&stage.http).await?;
    product_2.start(&stage.http).await?;
    let mut order_1 = stage.order_service("order-1", &product_1.url())?;
    let mut order_2 = stage.order_service("order-2", &product_2.url())?;
    order_1.start(&stage.http).await?;
    order_2.start(&stage.http).await?;
    let products = stage.products(&product_1.url(), 1, 100).await?;
    for o in [&order_1, &order_2] {
        load::warm_prices(&stage.http, &o.url(), &products).await?;
    }
    let specs = (0..1000)
        .map(|n| OrderSpec {
            customer: format!("{}-{n}", stage.tag),
            items: vec![(products[0].clone(), 1)],
        })
        .collect();
    let report = load::place_orders(
        &stage.http,
        stage.tokens(),
        &[order_1.url(), order_2.url()],
        specs,
        &LoadShape {
            concurrency: 200,
            pace: None,
            give_up_after: Duration::from_secs(90),
        },
    )
    .await;
    let mut verdict = Verdict::default();
    stage
        .settle_and_verify(&order_1, &product_2, &report, &[], &mut verdict)
        .await?;
    let statuses = stage.databases().await?.statuses().await?;
    let confirmed = statuses.get("confirmed").copied().unwrap_or(0);
    let short = statuses
        .get("rejected:insufficient_stock")
        .copied()
        .unwrap_or(0);
    verdict.require(confirmed == 100, || {
        format!("{confirmed} orders confirmed, expected exactly 100")
    });
    verdict.require(short == 900, || {
        format!("{short} rejected for insufficient stock, expected 900")
    });
    Ok(verdict)
}
