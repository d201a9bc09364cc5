//! The eight scenarios. Each builds its own system (databases, queues and cache keys named
//! after it), drives load, injects its faults, waits for the system to settle and checks the
//! invariants (see [`crate::check`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::check::{self, Databases, Expect, Verdict};
use crate::cluster::{Env, Role, Service, Supervised, free_port};
use crate::load::{self, LoadReport, LoadShape, OrderSpec};

/// How long acknowledged orders get to settle once the faults are over.
const SETTLE_BOUND: Duration = Duration::from_secs(120);
/// How long an outbox row may stay unpublished once the system settled.
const OUTBOX_BOUND: Duration = Duration::from_secs(30);
/// The order service's pending deadline in every scenario but the sweeper's.
const ORDER_DEADLINE_SECS: u64 = 60;
/// The order service's product client timeout (a breaker answer comes well before it).
const PRODUCT_TIMEOUT_MS: u64 = 2000;

/// A scenario: its number, name and body.
pub type Scenario = (
    u32,
    &'static str,
    fn(&Env) -> futures_util::future::LocalBoxFuture<'_, anyhow::Result<Verdict>>,
);

/// Every scenario, in order.
pub fn all() -> Vec<Scenario> {
    vec![
        (1, "SIGKILL the order service during 1,000 orders", |e| {
            Box::pin(order_service_killed(e))
        }),
        (
            2,
            "SIGKILL the product service between commit and ack",
            |e| Box::pin(product_service_killed(e)),
        ),
        (3, "RabbitMQ stopped for 20 s under load", |e| {
            Box::pin(broker_stopped(e))
        }),
        (4, "Redis hung, then stopped, under reads and writes", |e| {
            Box::pin(redis_stopped(e))
        }),
        (5, "product service down, failing, slow: the breaker", |e| {
            Box::pin(breaker(e))
        }),
        (6, "product service paused past the order deadline", |e| {
            Box::pin(paused_past_deadline(e))
        }),
        (
            7,
            "two replicas each, 1,000 concurrent orders for 100 units",
            |e| Box::pin(replicas_race(e)),
        ),
        (8, "MariaDB SIGKILLed under load, back 10 s later", |e| {
            Box::pin(database_killed(e))
        }),
    ]
}

/// One scenario's names, settings and bookkeeping.
struct Stage {
    env: Env,
    tag: String,
    http: reqwest::Client,
    orders_db: String,
    products_db: String,
    amqp_prefix: String,
    initial_stock: BTreeMap<String, i64>,
}

impl Stage {
    async fn new(env: &Env, n: u32) -> anyhow::Result<Self> {
        // A scenario that failed may have left a server stopped or paused.
        env.signal_server("redis", "CONT").await.ok();
        env.infra(&["up"]).await?;
        let tag = format!("chaos{}s{n}", env.run_id);
        Ok(Self {
            env: env.clone(),
            http: load::http_client()?,
            orders_db: format!("{tag}_orders"),
            products_db: format!("{tag}_products"),
            amqp_prefix: format!("{tag}."),
            tag,
            initial_stock: BTreeMap::new(),
        })
    }

    fn settings(&self, role: Role, port: u16) -> Vec<(String, String)> {
        let (db, short) = match role {
            Role::Order => (&self.orders_db, "order"),
            Role::Product => (&self.products_db, "product"),
        };
        let mut s: Vec<(String, String)> = [
            ("RUST_LOG", "info".to_owned()),
            ("APP__HTTP__HOST", "127.0.0.1".to_owned()),
            ("APP__HTTP__PORT", port.to_string()),
            ("APP__HTTP__WORKERS", "2".to_owned()),
            ("APP__HTTP__READINESS_DRAIN_MS", "0".to_owned()),
            ("APP__HTTP__SHUTDOWN_TIMEOUT_SECS", "5".to_owned()),
            ("APP__DATABASE__URL", format!("{}/{db}", self.env.mysql_url)),
            ("APP__DATABASE__MAX_CONNECTIONS", "20".to_owned()),
            ("APP__REDIS__URL", self.env.redis_url.clone()),
            ("APP__REDIS__KEY_PREFIX", format!("{}:{short}:", self.tag)),
            ("APP__AMQP__URL", self.env.amqp_url.clone()),
            ("APP__AMQP__PREFIX", self.amqp_prefix.clone()),
            ("APP__AMQP__RETRY_DELAY_MS", "200".to_owned()),
            ("APP__OUTBOX__POLL_INTERVAL_MS", "250".to_owned()),
            ("APP__IDEMPOTENCY__LEASE_SECS", "3".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if role == Role::Order {
            s.extend(
                [
                    ("APP__SWEEPER__INTERVAL_SECS", "1".to_owned()),
                    (
                        "APP__SWEEPER__PENDING_DEADLINE_SECS",
                        ORDER_DEADLINE_SECS.to_string(),
                    ),
                    ("APP__SWEEPER__MAX_REEMITS", "2".to_owned()),
                    (
                        "APP__PRODUCT_SERVICE__TIMEOUT_MS",
                        PRODUCT_TIMEOUT_MS.to_string(),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v)),
            );
        }
        s
    }

    fn product_service(&self, name: &str) -> anyhow::Result<Service> {
        let port = free_port()?;
        Ok(Service::new(
            &self.env,
            &format!("{}-{name}", self.tag),
            Role::Product,
            port,
            self.settings(Role::Product, port),
        ))
    }

    fn order_service(&self, name: &str, product_url: &str) -> anyhow::Result<Service> {
        let port = free_port()?;
        let mut settings = self.settings(Role::Order, port);
        settings.push((
            "APP__PRODUCT_SERVICE__URL".to_owned(),
            product_url.to_owned(),
        ));
        Ok(Service::new(
            &self.env,
            &format!("{}-{name}", self.tag),
            Role::Order,
            port,
            settings,
        ))
    }

    /// Starts a product service and an order service reading prices from it.
    async fn pair(
        &self,
        product_faults: &str,
        order_faults: &str,
    ) -> anyhow::Result<(Service, Service)> {
        let mut product = self.product_service("product-1")?;
        if !product_faults.is_empty() {
            product.set_env("CHAOS_FAULTS", product_faults);
        }
        product.start(&self.http).await?;
        let mut order = self.order_service("order-1", &product.url())?;
        if !order_faults.is_empty() {
            order.set_env("CHAOS_FAULTS", order_faults);
        }
        order.start(&self.http).await?;
        Ok((product, order))
    }

    /// A product and an order service (the product service with `product_faults`), `count`
    /// products of `stock` units each, their prices already cached by the order service.
    async fn stocked_pair(
        &mut self,
        product_faults: &str,
        count: usize,
        stock: u32,
    ) -> anyhow::Result<(Service, Service, Vec<String>)> {
        let (product, order) = self.pair(product_faults, "").await?;
        let products = self.products(&product.url(), count, stock).await?;
        load::warm_prices(&self.http, &order.url(), &products).await?;
        Ok((product, order, products))
    }

    /// Creates `count` products with `stock` each.
    async fn products(
        &mut self,
        product_url: &str,
        count: usize,
        stock: u32,
    ) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let id = load::create_product(
                &self.http,
                product_url,
                &format!("Chaos item {i}"),
                &format!("{}.99", 5 + i),
                stock,
            )
            .await?;
            self.initial_stock.insert(id.clone(), i64::from(stock));
            ids.push(id);
        }
        Ok(ids)
    }

    async fn databases(&self) -> anyhow::Result<Databases> {
        Databases::connect(&self.env.mysql_url, &self.orders_db, &self.products_db).await
    }

    /// Waits for the system to settle, records the outcome figures and checks the invariants.
    async fn settle_and_verify(
        &self,
        order: &Service,
        product: &Service,
        report: &LoadReport,
        order_dead_letters: &[String],
        verdict: &mut Verdict,
    ) -> anyhow::Result<()> {
        let dbs = self.databases().await?;
        let settled = dbs.wait_settled(SETTLE_BOUND).await?;
        load_figures(report, verdict);
        match settled {
            Some(t) => verdict.figure(
                "time to settle after the load",
                format!("{:.1} s", t.as_secs_f64()),
            ),
            None => verdict.violations.push(format!(
                "orders still pending {SETTLE_BOUND:?} after the faults"
            )),
        }
        let statuses = dbs.statuses().await?;
        let count = |prefix: &str| -> i64 {
            statuses
                .iter()
                .filter(|(s, _)| s.starts_with(prefix))
                .map(|(_, n)| n)
                .sum()
        };
        verdict.figure("confirmed", count("confirmed"));
        verdict.figure("rejected", count("rejected"));
        verdict.figure("orders by status", format_statuses(&statuses));
        let (failed, pending) = read_back(&self.http, &order.url(), &report.acked).await;
        verdict.figure("failed reads (GET each acked order)", failed);
        verdict.require(failed == 0, || {
            format!("{failed} acknowledged orders could not be read back")
        });
        verdict.require(settled.is_none() || pending == 0, || {
            format!("{pending} orders read back as pending although the database settled")
        });
        check::verify(
            &dbs,
            &self.http,
            &order.url(),
            &product.url(),
            &Expect {
                acked: &report.acked,
                initial_stock: &self.initial_stock,
                order_deadline: Duration::from_secs(ORDER_DEADLINE_SECS * 4),
                outbox_bound: OUTBOX_BOUND,
                order_dead_letters,
                product_dead_letters: &[],
            },
            verdict,
        )
        .await
    }
}

/// Reads every acknowledged order back through the API: `(failed reads, still pending)`.
async fn read_back(
    http: &reqwest::Client,
    order_url: &str,
    acked: &[(String, String)],
) -> (usize, usize) {
    use futures_util::StreamExt;
    let urls: Vec<String> = acked
        .iter()
        .map(|(_, id)| format!("{order_url}/orders/{id}"))
        .collect();
    let answers: Vec<(u16, String)> = futures_util::stream::iter(urls)
        .map(|url| {
            let http = http.clone();
            async move {
                let (status, _, body) = load::timed_get(&http, &url).await;
                (status, body)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let failed = answers.iter().filter(|(s, _)| *s != 200).count();
    let pending = answers
        .iter()
        .filter(|(_, body)| {
            serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v["status"] == "pending")
        })
        .count();
    (failed, pending)
}

fn format_statuses(statuses: &BTreeMap<String, i64>) -> String {
    statuses
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The client-side figures of a load, and the rule that a retrying client always gets its
/// order acknowledged.
fn load_figures(report: &LoadReport, verdict: &mut Verdict) {
    verdict.figure("orders sent", report.sent);
    verdict.figure("acknowledged (201)", report.acked.len());
    verdict.figure("refused (4xx)", report.refused.len());
    verdict.figure("given up by the client", report.gave_up.len());
    verdict.figure("client retries", report.retries);
    verdict.figure(
        "answers by status",
        report
            .statuses
            .iter()
            .map(|(s, n)| {
                format!(
                    "{}={n}",
                    if *s == 0 {
                        "conn-error".to_owned()
                    } else {
                        s.to_string()
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
    );
    verdict.figure(
        "load time",
        format!("{:.1} s", report.elapsed.as_secs_f64()),
    );
    verdict.require(report.refused.is_empty(), || {
        format!(
            "{} orders refused, e.g. {:?}",
            report.refused.len(),
            report.refused.first()
        )
    });
    verdict.require(report.gave_up.is_empty(), || {
        format!(
            "{} orders never acknowledged, e.g. {:?}",
            report.gave_up.len(),
            report.gave_up.first()
        )
    });
}

/// `count` orders of one to two distinct products, one to three units each.
fn random_orders(products: &[String], count: usize, tag: &str) -> Vec<OrderSpec> {
    let mut rng = rand::rng();
    (0..count)
        .map(|n| {
            let mut picked = products.to_vec();
            picked.shuffle(&mut rng);
            let lines = rng.random_range(1..=2usize.min(products.len()));
            OrderSpec {
                customer: format!("{tag}-{n}"),
                items: picked
                    .into_iter()
                    .take(lines)
                    .map(|p| (p, rng.random_range(1..=3)))
                    .collect(),
            }
        })
        .collect()
}

/// Publishes a malformed `order.qty_confirmed`; the order service must dead-letter it.
async fn publish_poison(env: &Env, prefix: &str) -> anyhow::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let conn = adapters::amqp::connect(&env.amqp_url, "chaos").await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await?;
    adapters::amqp::publish_raw(
        &channel,
        &adapters::amqp::Topology::exchange_name(prefix),
        "order.qty_confirmed",
        b"{ this is not an event",
        Some(&id),
    )
    .await?;
    conn.close(200, "done".into()).await.ok();
    Ok(id)
}

/// Consumers attached to a service's queue.
async fn consumers(env: &Env, prefix: &str, service: &str) -> anyhow::Result<u32> {
    let conn = adapters::amqp::connect(&env.amqp_url, "chaos").await?;
    let channel = conn.create_channel().await?;
    let queue = adapters::amqp::Topology::for_service(prefix, service, vec![], 1).queue;
    let consumers = adapters::amqp::queue_consumers(&channel, &queue).await?;
    conn.close(200, "done".into()).await.ok();
    Ok(consumers)
}

/// `/health` of a service: `(status code, "status" field)`.
async fn health(http: &reqwest::Client, base: &str) -> (u16, String) {
    let (code, _, body) = load::timed_get(http, &format!("{base}/health")).await;
    let status = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_owned))
        .unwrap_or(body);
    (code, status)
}

// ---------------------------------------------------------------------------------------------

/// 1. The order service is SIGKILLed every few seconds, and crashes by itself right after
///    commits (before the relay publishes or the client hears back) and between the broker's
///    confirm and the outbox update, while 1,000 orders come in.
async fn order_service_killed(env: &Env) -> anyhow::Result<Verdict> {
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
        std::slice::from_ref(&order_url),
        random_orders(&products, 1000, &stage.tag),
        &LoadShape {
            concurrency: 16,
            pace: None,
            give_up_after: Duration::from_secs(90),
        },
    )
    .await;
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

/// 2. The product service crashes after its reservation commits and before it acknowledges the
///    message, and is SIGKILLed now and then, while 500 orders come in.
async fn product_service_killed(env: &Env) -> anyhow::Result<Verdict> {
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

/// 3. RabbitMQ is stopped for 20 s while orders keep coming, then started again.
async fn broker_stopped(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 3).await?;
    let (product, order, products) = stage.stocked_pair("", 10, 120).await?;
    let targets = [order.url()];
    let specs = random_orders(&products, 900, &stage.tag);
    let shape = LoadShape {
        concurrency: 8,
        pace: Some(Duration::from_millis(40)),
        give_up_after: Duration::from_secs(60),
    };
    let load = load::place_orders(&stage.http, &targets, specs, &shape);
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

/// 4. Redis hangs (SIGSTOP) for 8 s, then is stopped for 8 s and started again, while clients
///    read products and place orders.
async fn redis_stopped(env: &Env) -> anyhow::Result<Verdict> {
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

/// 5. The product service is down, then answers 500, then answers too slowly; each time the
///    order service's breaker opens, `POST /orders` answers 503 at once, and orders go through
///    again once the product service is healthy.
async fn breaker(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 5).await?;
    let (mut product, order) = stage.pair("", "").await?;
    // Products the order service has never priced: every order needs the product service.
    let mut fresh = stage.products(&product.url(), 60, 10).await?.into_iter();
    let first = load::try_order(
        &stage.http,
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
            answers.push(load::try_order(&stage.http, &order.url(), &id).await);
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
            let answer = load::try_order(&stage.http, &order.url(), &probe).await;
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

/// 6. The product service is paused (SIGSTOP) while orders come in, past the order deadline:
///    the sweeper re-emits, then rejects them with `timeout`; once resumed, the product service
///    reserves late and releases on `order.cancelled`.
async fn paused_past_deadline(env: &Env) -> anyhow::Result<Verdict> {
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

/// 7. Two replicas of each service share the databases and queues; 1,000 orders of one unit
///    race for 100 units.
async fn replicas_race(env: &Env) -> anyhow::Result<Verdict> {
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

/// 8. The database server is SIGKILLed (a crash, not a shutdown) while orders come in, and
///    started again 10 s later: requests are refused with `503` meanwhile, nothing the services
///    acknowledged is lost, and everything settles once it is back.
async fn database_killed(env: &Env) -> anyhow::Result<Verdict> {
    let mut stage = Stage::new(env, 8).await?;
    let (product, order, products) = stage.stocked_pair("", 10, 120).await?;
    let targets = [order.url()];
    let specs = random_orders(&products, 600, &stage.tag);
    let shape = LoadShape {
        concurrency: 8,
        pace: Some(Duration::from_millis(30)),
        give_up_after: Duration::from_secs(90),
    };
    let load = load::place_orders(&stage.http, &targets, specs, &shape);
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
        let probe = load::try_order(&http, &order_url, &probe_product).await;
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
