//! Load as a well-behaved client drives it: every order carries its own `Idempotency-Key` and is
//! retried with that key on connection errors, timeouts, `409` (a retry while the first run is
//! in flight) and `5xx`, until it is acknowledged (`201`), refused (another `4xx`) or the client
//! gives up. Each logical order is placed by its customer, with that customer's token; every
//! other call carries the admin's token the client sends by default.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::tokens::Tokens;

/// One order a customer wants placed.
#[derive(Debug, Clone)]
pub struct OrderSpec {
    /// Unique per logical order: a stored order with a repeated customer is a duplicate.
    pub customer: String,
    /// `(product id, quantity)`.
    pub items: Vec<(String, u32)>,
}

/// How one logical order ended for the client.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `201`, with the order id.
    Acked {
        /// The order id.
        id: String,
    },
    /// Another `4xx`.
    Refused {
        /// Status.
        status: u16,
        /// Problem body.
        body: String,
    },
    /// Still failing when the client gave up.
    GaveUp {
        /// The last error.
        last: String,
    },
}

/// What a batch of orders gave.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Logical orders sent.
    pub sent: usize,
    /// Acknowledged: `(customer, order id)`.
    pub acked: Vec<(String, String)>,
    /// Refused with a 4xx.
    pub refused: Vec<(u16, String)>,
    /// Given up.
    pub gave_up: Vec<String>,
    /// Requests sent beyond the first of each order.
    pub retries: usize,
    /// Answers by status (0 for a transport error).
    pub statuses: BTreeMap<u16, usize>,
    /// Wall time of the batch.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Adds a later batch's outcomes to this one's.
    pub fn absorb(&mut self, later: LoadReport) {
        self.sent += later.sent;
        self.acked.extend(later.acked);
        self.refused.extend(later.refused);
        self.gave_up.extend(later.gave_up);
        self.retries += later.retries;
        for (status, n) in later.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.elapsed += later.elapsed;
    }
}

/// How the load is sent.
#[derive(Debug, Clone)]
pub struct LoadShape {
    /// Orders in flight at once.
    pub concurrency: usize,
    /// Pause between starting two orders (`None`: as fast as the concurrency allows).
    pub pace: Option<Duration>,
    /// A client gives an order up after retrying this long.
    pub give_up_after: Duration,
}

/// The HTTP client every scenario uses: an admin's token on every request that sets none.
pub fn http_client(tokens: &Tokens) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, tokens.admin()?);
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(64)
        .build()
        .context("HTTP client")
}

/// Places every order of `specs`, each as its customer, spreading them over `targets` (order
/// service base URLs).
pub async fn place_orders(
    http: &reqwest::Client,
    tokens: &Tokens,
    targets: &[String],
    specs: Vec<OrderSpec>,
    shape: &LoadShape,
) -> LoadReport {
    let started = Instant::now();
    let targets = Arc::new(targets.to_vec());
    let sent = specs.len();
    let pace = shape.pace;
    let ticks = futures_util::stream::iter(specs.into_iter().enumerate()).then(|item| async move {
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
        item
    });
    let results: Vec<(Outcome, usize, Vec<u16>, String)> = ticks
        .map(|(n, spec)| {
            let http = http.clone();
            let targets = targets.clone();
            let give_up_after = shape.give_up_after;
            async move {
                let customer = spec.customer.clone();
                let (outcome, attempts, statuses) = match tokens.customer(&spec.customer) {
                    Ok(auth) => place_one(&http, &auth, &targets, n, &spec, give_up_after).await,
                    Err(e) => (
                        Outcome::GaveUp {
                            last: format!("{e:#}"),
                        },
                        0,
                        Vec::new(),
                    ),
                };
                (outcome, attempts, statuses, customer)
            }
        })
        .buffer_unordered(shape.concurrency)
        .collect()
        .await;
    let mut report = LoadReport {
        sent,
        ..LoadReport::default()
    };
    for (outcome, attempts, statuses, customer) in results {
        report.retries += attempts.saturating_sub(1);
        for status in statuses {
            *report.statuses.entry(status).or_default() += 1;
        }
        match outcome {
            Outcome::Acked { id } => report.acked.push((customer, id)),
            Outcome::Refused { status, body } => report.refused.push((status, body)),
            Outcome::GaveUp { last } => report.gave_up.push(last),
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// One logical order, retried under one key; the replica is chosen per attempt.
async fn place_one(
    http: &reqwest::Client,
    auth: &HeaderValue,
    targets: &[String],
    n: usize,
    spec: &OrderSpec,
    give_up_after: Duration,
) -> (Outcome, usize, Vec<u16>) {
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "customer_id": spec.customer,
        "items": spec.items.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
    });
    let deadline = Instant::now() + give_up_after;
    let mut statuses = Vec::new();
    let mut attempts = 0;
    loop {
        let target = &targets[(n + attempts) % targets.len()];
        attempts += 1;
        let reply = http
            .post(format!("{target}/orders"))
            .header(AUTHORIZATION, auth)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        let (last, pause) = match reply {
            Ok(reply) => {
                let status = reply.status().as_u16();
                statuses.push(status);
                let retry_after = reply
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let text = reply.text().await.unwrap_or_default();
                match status {
                    201 => {
                        return match order_id(&text) {
                            Some(id) => (Outcome::Acked { id }, attempts, statuses),
                            None => (
                                Outcome::Refused {
                                    status,
                                    body: format!("201 without an id: {text}"),
                                },
                                attempts,
                                statuses,
                            ),
                        };
                    }
                    409 | 429 | 500..=599 => (
                        format!("{status}: {text}"),
                        retry_after.map(|s| Duration::from_secs(s).min(Duration::from_secs(1))),
                    ),
                    _ => {
                        return (Outcome::Refused { status, body: text }, attempts, statuses);
                    }
                }
            }
            Err(e) => {
                statuses.push(0);
                (format!("{e}"), None)
            }
        };
        if Instant::now() >= deadline {
            return (Outcome::GaveUp { last }, attempts, statuses);
        }
        let pause =
            pause.unwrap_or_else(|| Duration::from_millis(rand::rng().random_range(100..300)));
        tokio::time::sleep(pause).await;
    }
}

/// Creates a product and returns its id.
pub async fn create_product(
    http: &reqwest::Client,
    product_url: &str,
    name: &str,
    price: &str,
    stock: u32,
) -> anyhow::Result<String> {
    let reply = http
        .post(format!("{product_url}/products"))
        .json(&json!({"name": name, "price": price, "stock": stock}))
        .send()
        .await
        .context("POST /products")?;
    let status = reply.status();
    let body: Value = reply.json().await.context("product body")?;
    if status.as_u16() != 201 {
        bail!("POST /products answered {status}: {body}");
    }
    body["id"]
        .as_str()
        .map(str::to_owned)
        .context("a product id")
}

/// `POST /admin/cache/warmup` on an order service: its price cache then holds `ids`.
pub async fn warm_prices(
    http: &reqwest::Client,
    order_url: &str,
    ids: &[String],
) -> anyhow::Result<()> {
    let reply = http
        .post(format!("{order_url}/admin/cache/warmup"))
        .json(&json!({"product_ids": ids}))
        .send()
        .await
        .context("POST /admin/cache/warmup")?;
    if !reply.status().is_success() {
        bail!(
            "warm-up answered {}: {}",
            reply.status(),
            reply.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// One `GET` with its status and latency (status 0: transport error).
pub async fn timed_get(http: &reqwest::Client, url: &str) -> (u16, Duration, String) {
    let started = Instant::now();
    match http.get(url).send().await {
        Ok(reply) => {
            let status = reply.status().as_u16();
            let body = reply.text().await.unwrap_or_default();
            (status, started.elapsed(), body)
        }
        Err(e) => (0, started.elapsed(), e.to_string()),
    }
}

/// One answer to `POST /orders`.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status (0: transport error).
    pub status: u16,
    /// Latency.
    pub took: Duration,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The body (or the transport error).
    pub body: String,
}

impl Answer {
    /// The order id of a `201`.
    pub fn order_id(&self) -> Option<String> {
        order_id(&self.body)
    }
}

/// The `id` of an order document.
pub fn order_id(body: &str) -> Option<String> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
}

/// One order of one unit of `product_id`, without retries, by a customer of its own (so that
/// probes never look like duplicates of each other).
pub async fn try_order(
    http: &reqwest::Client,
    tokens: &Tokens,
    order_url: &str,
    product_id: &str,
) -> Answer {
    let customer = format!("probe-{}", uuid::Uuid::new_v4().simple());
    let auth = match tokens.customer(&customer) {
        Ok(auth) => auth,
        Err(e) => {
            return Answer {
                status: 0,
                took: Duration::ZERO,
                retry_after: None,
                content_type: String::new(),
                body: format!("{e:#}"),
            };
        }
    };
    // Signing is the client's work, not the service's answer time.
    let started = Instant::now();
    let reply = http
        .post(format!("{order_url}/orders"))
        .header(AUTHORIZATION, auth)
        .json(&json!({"items": [{"product_id": product_id, "quantity": 1}]}))
        .send()
        .await;
    let header = |reply: &reqwest::Response, name: &str| {
        reply
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match reply {
        Ok(reply) => Answer {
            status: reply.status().as_u16(),
            retry_after: header(&reply, "retry-after"),
            content_type: header(&reply, "content-type").unwrap_or_default(),
            body: reply.text().await.unwrap_or_default(),
            took: started.elapsed(),
        },
        Err(e) => Answer {
            status: 0,
            took: started.elapsed(),
            retry_after: None,
            content_type: String::new(),
            body: e.to_string(),
        },
    }
}

/// Latency percentile of `samples` (p in 0..=100).
pub fn percentile(samples: &[Duration], p: usize) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) * p) / 100]
}
