//! Order loads: `POST /orders` in a closed loop followed by the wait until nothing is pending
//! (settling), and at a fixed rate with each order's create→confirmed latency. Request `i` is
//! sent by customer `i % CUSTOMERS` (see `tokens`) with its own token.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::{StreamExt, stream};
use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::api::{Apis, Product, location_id};
use crate::db::PendingProbe;
use crate::load::{closed_loop, open_loop};
use crate::stats::{Stats, histogram, per_second, record};

/// Unanswered orders the fixed-rate load allows before it skips sends.
const OPEN_MAX_IN_FLIGHT: usize = 4_096;
/// Concurrent history reads when collecting confirmation times.
const HISTORY_READERS: usize = 16;

/// A closed-loop order load and how its orders settled.
#[derive(Debug)]
pub struct Settled {
    /// The `POST /orders` figures.
    pub stats: Stats,
    /// The accepted orders: the number of the request that placed each (which says whose it
    /// is) and its id.
    pub ids: Vec<(u64, String)>,
    /// Orders pending when the load stopped.
    pub backlog_at_end: u64,
    /// From the end of the load until no order was pending; `None`: not within the cap.
    pub settle: Option<Duration>,
}

impl Settled {
    /// Accepted orders per second of load.
    pub fn accepted_rate(&self) -> f64 {
        self.stats.rate()
    }

    /// Orders settled per second from the start of the load until the last one settled
    /// (`None` when they did not settle).
    pub fn confirmed_rate(&self) -> Option<f64> {
        self.settle
            .map(|s| per_second(self.stats.ok, self.stats.elapsed + s))
    }
}

/// Request `i`, placing an order with `body` as the customer `auth` names, recording its id on
/// `201`.
async fn place(
    http: reqwest::Client,
    url: Arc<str>,
    body: String,
    auth: HeaderValue,
    ids: Arc<Mutex<Vec<(u64, String)>>>,
    i: u64,
) -> Option<u16> {
    let reply = http
        .post(&*url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, auth)
        .body(body)
        .send()
        .await
        .ok()?;
    let status = reply.status().as_u16();
    let id = (status == 201).then(|| location_id(&reply)).flatten();
    reply.bytes().await.ok()?;
    if let (Some(id), Ok(mut ids)) = (id, ids.lock()) {
        ids.push((i, id));
    }
    Some(status)
}

fn bodies(products: &[Product]) -> Arc<Vec<String>> {
    Arc::new(products.iter().map(Apis::order_body).collect())
}

/// `POST /orders` from `concurrency` clients for `duration`, each order one unit of the next
/// product in turn, then waits (at most `cap`) until none is pending.
pub async fn closed_orders(
    apis: &Apis,
    http: &reqwest::Client,
    products: &[Product],
    concurrency: usize,
    duration: Duration,
    probe: &PendingProbe,
    cap: Duration,
) -> anyhow::Result<Settled> {
    let url: Arc<str> = format!("{}/orders", apis.order).into();
    let bodies = bodies(products);
    let ids = Arc::new(Mutex::new(Vec::new()));
    let (client, sink, tokens) = (http.clone(), Arc::clone(&ids), apis.tokens.clone());
    let stats = closed_loop(concurrency, duration, move |i| {
        let body = bodies[(i as usize) % bodies.len()].clone();
        let auth = tokens.customer(i);
        place(
            client.clone(),
            Arc::clone(&url),
            body,
            auth,
            Arc::clone(&sink),
            i,
        )
    })
    .await;
    let ended = Instant::now();
    let backlog_at_end = probe.pending().await?;
    let settle = probe.wait_settled(ended, cap).await?;
    let ids = ids.lock().map(|v| v.clone()).unwrap_or_default();
    Ok(Settled {
        stats,
        ids,
        backlog_at_end,
        settle,
    })
}

/// A fixed-rate order load.
#[derive(Debug)]
pub struct FixedRate {
    /// The `POST /orders` figures, latencies from each order's scheduled send time.
    pub stats: Stats,
    /// Orders per second asked for.
    pub rate: f64,
    /// Create→confirmed (or rejected) latency, from the scheduled send time to the moment the
    /// order service recorded the outcome, in microseconds.
    pub confirm_latency: Histogram<u64>,
    /// Accepted orders that had not settled when the latencies were collected.
    pub unsettled: u64,
    /// Orders pending when the load stopped.
    pub backlog_at_end: u64,
    /// Orders pending 2 s after the load stopped.
    pub backlog_after_2s: u64,
    /// From the end of the load until no order was pending; `None`: not within the cap.
    pub settle: Option<Duration>,
}

/// `POST /orders` at `rate` per second for `duration` (open loop), spread over `products`;
/// then the backlog at the end and 2 s later, the wait until nothing is pending (at most
/// `cap`), and each order's confirmation time read back from its history.
pub async fn fixed_rate_orders(
    apis: &Apis,
    http: &reqwest::Client,
    products: &[Product],
    rate: f64,
    duration: Duration,
    probe: &PendingProbe,
    cap: Duration,
) -> anyhow::Result<FixedRate> {
    let url: Arc<str> = format!("{}/orders", apis.order).into();
    let bodies = bodies(products);
    let ids = Arc::new(Mutex::new(Vec::new()));
    let (client, sink, tokens) = (http.clone(), Arc::clone(&ids), apis.tokens.clone());
    let run = open_loop(rate, duration, OPEN_MAX_IN_FLIGHT, move |i| {
        let body = bodies[(i as usize) % bodies.len()].clone();
        let auth = tokens.customer(i);
        place(
            client.clone(),
            Arc::clone(&url),
            body,
            auth,
            Arc::clone(&sink),
            i,
        )
    })
    .await;
    let ended = Instant::now();
    let backlog_at_end = probe.pending().await?;
    tokio::time::sleep_until((ended + Duration::from_secs(2)).into()).await;
    let backlog_after_2s = probe.pending().await?;
    let settle = probe.wait_settled(ended, cap).await?;
    let placed: Vec<(u64, SystemTime, String)> = ids
        .lock()
        .map(|v| {
            v.iter()
                .map(|(i, id)| (*i, run.scheduled_at(*i), id.clone()))
                .collect()
        })
        .unwrap_or_default();
    let settled_at: Vec<_> = stream::iter(placed)
        .map(|(i, due, id)| async move { (due, apis.settled_at(http, i, &id).await) })
        .buffer_unordered(HISTORY_READERS)
        .collect()
        .await;
    let mut confirm_latency = histogram();
    let mut unsettled = 0;
    for (due, at) in settled_at {
        match at? {
            Some(at) => {
                let at = SystemTime::from(at);
                record(
                    &mut confirm_latency,
                    at.duration_since(due).unwrap_or_default(),
                );
            }
            None => unsettled += 1,
        }
    }
    Ok(FixedRate {
        stats: run.stats,
        rate,
        confirm_latency,
        unsettled,
        backlog_at_end,
        backlog_after_2s,
        settle,
    })
}
