//! The eight scenarios of `make chaos`: their list, in order, and what they share (the bounds
//! every scenario checks against, and the random order mix most of them place). Each scenario
//! builds its own system (databases, queues and cache keys named after it, see [`stage`]),
//! drives load, injects its faults, waits for the system to settle and checks the invariants
//! (see [`crate::check`]).

mod breaker;
mod broker_stopped;
mod database_killed;
mod order_service_killed;
mod paused_past_deadline;
mod probes;
mod product_service_killed;
mod redis_stopped;
mod replicas_race;
mod settle;
mod stage;

use std::time::Duration;

use rand::Rng;
use rand::seq::SliceRandom;

use crate::check::Verdict;
use crate::cluster::Env;
use crate::load::OrderSpec;

use breaker::breaker;
use broker_stopped::broker_stopped;
use database_killed::database_killed;
use order_service_killed::order_service_killed;
use paused_past_deadline::paused_past_deadline;
use product_service_killed::product_service_killed;
use redis_stopped::redis_stopped;
use replicas_race::replicas_race;

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
