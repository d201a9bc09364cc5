//! Scenario 5: the product service down, failing and slow in turn: the order service's circuit
//! breaker answers 503 at once, reads of orders keep working, and orders go through again once
//! the product service recovers.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::check::Verdict;
use crate::cluster::Env;
use crate::load::{self, LoadReport};

use super::PRODUCT_TIMEOUT_MS;
use super::stage::Stage;

/// 5. The product service is down, then answers 500, then answers too slowly; each time the
///    order service's breaker opens, `POST /orders` answers 503 at once, and orders go through
///    again once the product service is healthy.
pub(super) async fn breaker(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 5).await?;
    let (mut product, order) = stage.pair("", "").await?;
    // Products the order service has never priced: every order needs the product service.
    let mut fresh = stage.products(&product.url(), 60, 10).await?.into_iter();
    let first = load::try_order(
        &stage.http,
        stage.tokens(),
        &order.url(),
        &fresh.next().context("a product")?,
    )
    .await;
    let known = match first.order_id() {
        Some(id) if first.status == 201 => id,
        _ => bail!("the first order answered {}: {}", first.status, first.body),
    };
    let mut acked = vec![("first".to_owned(), known.clone())];
    let mut verdict = Verdict::default();
    for (phase, faults) in [
        ("down", None),
        ("answering 500", Some("http.products=error")),
        ("answering after 3 s", Some("http.products=delay:3000")),
    ] {
        product.kill().await;
        if let Some(faults) = faults {
            product.set_env("CHAOS_FAULTS", faults);
            product.start(&stage.http).await?;
        }
        let mut answers = Vec::new();
        let mut reads = Vec::new();
        for _ in 0..12 {
            let id = fresh.next().context("out of fresh products")?;
            answers.push(load::try_order(&stage.http, stage.tokens(), &order.url(), &id).await);
            reads.push(
                load::timed_get(&stage.http, &format!("{}/orders/{known}", order.url())).await,
            );
        }
        let last: Vec<_> = answers[answers.len() - 8..].to_vec();
        let fast: Vec<Duration> = last.iter().map(|a| a.took).collect();
        verdict.figure(
            &format!("{phase}: first/last answer"),
            format!(
                "{} in {} ms / {} in {} ms",
                answers[0].status,
                answers[0].took.as_millis(),
                last[last.len() - 1].status,
                last[last.len() - 1].took.as_millis()
            ),
        );
        verdict.figure(
            &format!("{phase}: 503 p50/max (last 8)"),
            format!(
                "{} ms / {} ms",
                load::percentile(&fast, 50).as_millis(),
                load::percentile(&fast, 100).as_millis()
            ),
        );
        for a in &answers {
            verdict.require(
                a.status == 503
                    && a.retry_after.is_some()
                    && a.content_type.starts_with("application/problem+json"),
                || {
                    format!(
                        "{phase}: POST /orders answered {} {} (Retry-After {:?}): {}",
                        a.status, a.content_type, a.retry_after, a.body
                    )
                },
            );
        }
        // Once open, the breaker answers without calling the product service at all.
        verdict.require(
            load::percentile(&fast, 100) < Duration::from_millis(PRODUCT_TIMEOUT_MS),
            || format!("{phase}: the breaker did not answer before the product client's timeout"),
        );
        let read_max = reads.iter().map(|r| r.1).max().unwrap_or_default();
        verdict.figure(
            &format!("{phase}: GET /orders/{{id}} max"),
            format!("{} ms", read_max.as_millis()),
        );
        verdict.require(reads.iter().all(|r| r.0 == 200), || {
            format!("{phase}: reading an order failed while the product service was {phase}")
        });
        // Recovery.
        product.kill().await;
        product.remove_env("CHAOS_FAULTS");
        product.start(&stage.http).await?;
        let started = Instant::now();
        let probe = fresh.next().context("out of fresh products")?;
        loop {
            let answer = load::try_order(&stage.http, stage.tokens(), &order.url(), &probe).await;
            if answer.status == 201 {
                let id = answer
                    .order_id()
                    .with_context(|| format!("a 201 without an order id: {}", answer.body))?;
                acked.push((format!("{phase}-recovered"), id));
                break;
            }
            if started.elapsed() > Duration::from_secs(45) {
                verdict.violations.push(format!(
                    "{phase}: orders still refused 45 s after the product service recovered"
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        verdict.figure(
            &format!("{phase}: orders accepted again after"),
            format!("{:.1} s", started.elapsed().as_secs_f64()),
        );
    }
    let report = LoadReport {
        sent: acked.len(),
        acked,
        ..LoadReport::default()
    };
    stage
        .settle_and_verify(&order, &product, &report, &[], &mut verdict)
        .await?;
    Ok(verdict)
}
