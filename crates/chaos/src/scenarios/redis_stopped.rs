//! Scenario 4: Redis hung, then stopped, under product reads and orders: reads keep answering
//! (the cache is optional), and the cache is used again once Redis is back.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;

use crate::check::Verdict;
use crate::cluster::Env;
use crate::load::{self, LoadShape};

use super::probes::health;
use super::random_orders;
use super::stage::Stage;

/// 4. Redis hangs (SIGSTOP) for 8 s, then is stopped for 8 s and started again, while clients
///    read products and place orders.
pub(super) async fn redis_stopped(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 4).await?;
    let (product, order) = stage.pair("", "").await?;
    let products = stage.products(&product.url(), 10, 200).await?;
    let stop_reads = tokio_util::sync::CancellationToken::new();
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (http, url, ids, stop) = (
            stage.http.clone(),
            product.url(),
            products.clone(),
            stop_reads.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut samples: Vec<(Instant, u16, Duration)> = Vec::new();
            while !stop.is_cancelled() {
                let id = ids[rand::rng().random_range(0..ids.len())].clone();
                let (status, took, _) =
                    load::timed_get(&http, &format!("{url}/products/{id}")).await;
                samples.push((Instant::now(), status, took));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples
        }));
    }
    let targets = [order.url()];
    let shape = LoadShape {
        concurrency: 4,
        pace: Some(Duration::from_millis(80)),
        give_up_after: Duration::from_secs(60),
    };
    let writes = load::place_orders(
        &stage.http,
        stage.tokens(),
        &targets,
        random_orders(&products, 400, &stage.tag),
        &shape,
    );
    let env2 = env.clone();
    let (http, order_url, product_url) = (stage.http.clone(), order.url(), product.url());
    let probe = products[0].clone();
    let probe_key = format!("{}:product:product:{probe}", stage.tag);
    let faults = async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let hung_at = Instant::now();
        env2.signal_server("redis", "STOP").await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let while_hung = health(&http, &order_url).await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        env2.signal_server("redis", "CONT").await?;
        let resumed_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        env2.infra(&["down", "redis"]).await?;
        let stopped_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(8)).await;
        env2.infra(&["up"]).await?;
        let back_at = Instant::now();
        // The cache is used again: reads put the product back into Redis.
        let pool = deadpool_redis::Config::from_url(&env2.redis_url)
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .context("Redis pool")?;
        let mut cached_after = None;
        while back_at.elapsed() < Duration::from_secs(60) {
            load::timed_get(&http, &format!("{product_url}/products/{probe}")).await;
            let mut conn = pool.get().await.context("Redis connection")?;
            let exists: bool = deadpool_redis::redis::cmd("EXISTS")
                .arg(&probe_key)
                .query_async(&mut conn)
                .await
                .context("EXISTS")?;
            if exists {
                cached_after = Some(back_at.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::Ok((
            hung_at,
            resumed_at,
            stopped_at,
            back_at,
            while_hung,
            cached_after,
        ))
    };
    let (report, faults) = tokio::join!(writes, faults);
    stop_reads.cancel();
    let (hung_at, resumed_at, stopped_at, back_at, while_hung, cached_after) = faults?;
    let mut samples = Vec::new();
    for r in readers {
        samples.extend(r.await.context("a reader panicked")?);
    }
    let mut verdict = Verdict::default();
    let failed: Vec<_> = samples.iter().filter(|(_, s, _)| *s != 200).collect();
    verdict.figure("product reads", samples.len());
    verdict.figure("failed product reads", failed.len());
    verdict.require(failed.is_empty(), || {
        format!(
            "{} reads failed, e.g. status {:?}",
            failed.len(),
            failed.first().map(|f| f.1)
        )
    });
    let phase = |from: Instant, to: Instant| -> Vec<Duration> {
        samples
            .iter()
            .filter(|(at, _, _)| *at >= from && *at < to)
            .map(|(_, _, took)| *took)
            .collect()
    };
    for (name, from, to) in [
        ("before", hung_at - Duration::from_secs(4), hung_at),
        ("Redis hung", hung_at, resumed_at),
        ("Redis stopped", stopped_at, back_at),
        ("after restart", back_at, Instant::now()),
    ] {
        let lat = phase(from, to);
        verdict.figure(
            &format!("read p50/p99, {name}"),
            format!(
                "{} ms / {} ms ({} reads)",
                load::percentile(&lat, 50).as_millis(),
                load::percentile(&lat, 99).as_millis(),
                lat.len()
            ),
        );
    }
    verdict.figure(
        "order /health, Redis hung",
        format!("{} {}", while_hung.0, while_hung.1),
    );
    verdict.require(while_hung == (200, "degraded".to_owned()), || {
        format!("/health with Redis hung: {while_hung:?}, expected 200 degraded")
    });
    match cached_after {
        Some(t) => verdict.figure(
            "cache in use again after restart",
            format!("{:.1} s", t.as_secs_f64()),
        ),
        None => verdict.violations.push(
            "the product cache was not used again within 60 s of Redis coming back".to_owned(),
        ),
    }
    stage
        .settle_and_verify(&order, &product, &report, &[], &mut verdict)
        .await?;
    Ok(verdict)
}
