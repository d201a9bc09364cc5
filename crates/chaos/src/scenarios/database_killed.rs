//! Scenario 8: MariaDB SIGKILLed under load and restarted 10 s later: requests are refused with
//! 503 (never a 500 or a hang) while it is down, and nothing acknowledged is lost.

use std::time::{Duration, Instant};

use crate::check::Verdict;
use crate::cluster::Env;
use crate::load::{self, LoadShape};

use super::probes::health;
use super::random_orders;
use super::stage::Stage;

/// 8. The database server is SIGKILLed (a crash, not a shutdown) while orders come in, and
///    started again 10 s later: requests are refused with `503` meanwhile, nothing the services
///    acknowledged is lost, and everything settles once it is back.
pub(super) async fn database_killed(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 8).await?;
    let (product, order, products) = stage.stocked_pair("", 10, 120).await?;
    let targets = [order.url()];
    let specs = random_orders(&products, 600, &stage.tag);
    let shape = LoadShape {
        concurrency: 8,
        pace: Some(Duration::from_millis(30)),
        give_up_after: Duration::from_secs(90),
    };
    let load = load::place_orders(&stage.http, stage.tokens(), &targets, specs, &shape);
    let (env2, http) = (env.clone(), stage.http.clone());
    let (order_url, product_url) = (order.url(), product.url());
    let probe_product = products[0].clone();
    let outage = async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        env2.signal_server("mysql", "KILL").await?;
        let down_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let order_health = health(&http, &order_url).await;
        let product_health = health(&http, &product_url).await;
        let probe = load::try_order(&http, &env2.tokens, &order_url, &probe_product).await;
        tokio::time::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed())).await;
        let restart = Instant::now();
        env2.infra(&["up"]).await?;
        let (down_for, restart_took) = (down_at.elapsed(), restart.elapsed());
        // How long the services take to use the database again once it answers.
        let back_at = Instant::now();
        let mut healthy_after = None;
        while back_at.elapsed() < Duration::from_secs(30) {
            if health(&http, &order_url).await.0 == 200
                && health(&http, &product_url).await.0 == 200
            {
                healthy_after = Some(back_at.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::Ok((
            down_for,
            restart_took,
            order_health,
            product_health,
            probe,
            healthy_after,
        ))
    };
    let (report, outage) = tokio::join!(load, outage);
    let (down_for, restart_took, order_health, product_health, probe, healthy_after) = outage?;
    let mut verdict = Verdict::default();
    verdict.figure(
        "database down for",
        format!(
            "{:.1} s (restart with crash recovery took {:.1} s)",
            down_for.as_secs_f64(),
            restart_took.as_secs_f64()
        ),
    );
    for (service, seen) in [("order", &order_health), ("product", &product_health)] {
        verdict.figure(
            &format!("{service} /health while down"),
            format!("{} {}", seen.0, seen.1),
        );
        verdict.require(*seen == (503, "unhealthy".to_owned()), || {
            format!(
                "{service} /health while the database was down: {seen:?}, expected 503 unhealthy"
            )
        });
    }
    verdict.figure(
        "POST /orders while down",
        format!(
            "{} {} in {} ms (Retry-After {})",
            probe.status,
            probe.content_type,
            probe.took.as_millis(),
            probe.retry_after.as_deref().unwrap_or("none")
        ),
    );
    verdict.require(
        probe.status == 503
            && probe.retry_after.is_some()
            && probe.content_type.starts_with("application/problem+json"),
        || {
            format!(
                "POST /orders while the database was down answered {} {} (Retry-After {:?}): {}",
                probe.status, probe.content_type, probe.retry_after, probe.body
            )
        },
    );
    // Never a hang: refused within the pool's acquire timeout (2 s) and a margin.
    verdict.require(probe.took < Duration::from_secs(3), || {
        format!(
            "POST /orders took {} ms to fail while the database was down",
            probe.took.as_millis()
        )
    });
    // A client sees 201, or 503 (409 while a cut-off attempt's key is leased) and retries;
    // never a 500.
    let unexpected: Vec<String> = report
        .statuses
        .iter()
        .filter(|(s, _)| !matches!(**s, 0 | 201 | 409 | 503))
        .map(|(s, n)| format!("{s}={n}"))
        .collect();
    verdict.require(unexpected.is_empty(), || {
        format!(
            "answers other than 201/409/503 during the outage: {}",
            unexpected.join(" ")
        )
    });
    match healthy_after {
        Some(t) => verdict.figure(
            "both services healthy again after the restart",
            format!("{:.1} s", t.as_secs_f64()),
        ),
        None => verdict
            .violations
            .push("a service still unhealthy 30 s after the database came back".to_owned()),
    }
    stage
        .settle_and_verify(&order, &product, &report, &[], &mut verdict)
        .await?;
    Ok(verdict)
}
