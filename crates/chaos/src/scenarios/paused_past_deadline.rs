//! Scenario 6: the product service paused past the order deadline: the sweeper rejects the
//! orders with `timeout`, and the late reservations are released once it resumes.

use std::time::{Duration, Instant};

use crate::check::Verdict;
use crate::cluster::Env;
use crate::load::{self, LoadShape};

use super::probes::consumers;
use super::random_orders;
use super::stage::Stage;

/// 6. The product service is paused (SIGSTOP) while orders come in, past the order deadline:
///    the sweeper re-emits, then rejects them with `timeout`; once resumed, the product service
///    reserves late and releases on `order.cancelled`.
pub(super) async fn paused_past_deadline(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 6).await?;
    let mut product = stage.product_service("product-1")?;
    product.start(&stage.http).await?;
    let mut order = stage.order_service("order-1", &product.url())?;
    order.set_env("APP__SWEEPER__PENDING_DEADLINE_SECS", "3");
    order.set_env("APP__SWEEPER__MAX_REEMITS", "1");
    order.start(&stage.http).await?;
    let products = stage.products(&product.url(), 5, 50).await?;
    load::warm_prices(&stage.http, &order.url(), &products).await?;
    product.signal("STOP").await?;
    let paused_at = Instant::now();
    let report = load::place_orders(
        &stage.http,
        stage.tokens(),
        &[order.url()],
        random_orders(&products, 40, &stage.tag),
        &LoadShape {
            concurrency: 4,
            pace: None,
            give_up_after: Duration::from_secs(20),
        },
    )
    .await;
    let dbs = stage.databases().await?;
    let timed_out = dbs.wait_settled(Duration::from_secs(60)).await;
    let paused_for = paused_at.elapsed();
    product.signal("CONT").await?;
    let timed_out = timed_out?;
    let mut verdict = Verdict::default();
    verdict.figure(
        "product service paused for",
        format!("{:.1} s", paused_for.as_secs_f64()),
    );
    let statuses = dbs.statuses().await?;
    let timeouts = statuses.get("rejected:timeout").copied().unwrap_or(0);
    verdict.figure("rejected with timeout", timeouts);
    verdict.require(
        timed_out.is_some() && timeouts == report.acked.len() as i64,
        || format!("expected every acknowledged order rejected with timeout, got {statuses:?}"),
    );
    // Once resumed, the late reservations are made and released.
    let started = Instant::now();
    loop {
        let active = dbs
            .scalar("SELECT COUNT(*) FROM {p}.stock_reservations WHERE status = 'active'")
            .await?;
        let handled = consumers(env, &stage.amqp_prefix, "product-service").await? >= 1
            && dbs
                .scalar(
                    "SELECT COUNT(DISTINCT order_id) FROM {p}.stock_reservations \
                     WHERE status = 'released'",
                )
                .await?
                + dbs
                    .scalar("SELECT COUNT(*) FROM {p}.order_tombstones")
                    .await?
                >= report.acked.len() as i64;
        if active == 0 && handled {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            verdict.violations.push(format!(
                "{active} reservations still held 60 s after the product service resumed"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let released = dbs
        .scalar(
            "SELECT COUNT(DISTINCT order_id) FROM {p}.stock_reservations WHERE status = 'released'",
        )
        .await?;
    let tombstones = dbs
        .scalar("SELECT COUNT(*) FROM {p}.order_tombstones")
        .await?;
    verdict.figure("late reservations released (orders)", released);
    verdict.figure("cancellations seen before the order", tombstones);
    verdict.require(released > 0, || {
        "no late reservation was made and released".to_owned()
    });
    stage
        .settle_and_verify(&order, &product, &report, &[], &mut verdict)
        .await?;
    Ok(verdict)
}
