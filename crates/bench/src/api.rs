//! The services' HTTP APIs as the harness uses them: one client, products and their caches,
//! orders, histories and pages, each call with the token its caller would have (an admin's
//! for products, warm-up and listings; the owner's for an order's history; none for product
//! reads, which are public).

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::tokens::Tokens;

/// The harness's HTTP client: keep-alive connections, enough idle ones for every worker.
///
/// Idle connections are dropped after 2 s, before the services' keep-alive (actix's 5 s)
/// closes them: a connection the server closed while it sat in the pool would fail the next
/// request sent on it, a client-side race that is no answer of the service's.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")
}

/// One product the order loads buy.
#[derive(Debug, Clone)]
pub struct Product {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its price in minor units.
    pub price_minor: i64,
}

/// The base URLs of one composition's two APIs, and the tokens they trust.
#[derive(Debug, Clone)]
pub struct Apis {
    /// `http://127.0.0.1:<order port>`.
    pub order: String,
    /// `http://127.0.0.1:<product port>`.
    pub product: String,
    /// The run's tokens.
    pub tokens: Tokens,
}

async fn expect_json(reply: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = reply.status();
    let body = reply.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("{what}: not JSON: {body}"))
}

impl Apis {
    /// Creates `count` products with `stock` units each, 8 at a time.
    pub async fn create_products(
        &self,
        http: &reqwest::Client,
        count: usize,
        stock: u64,
    ) -> anyhow::Result<Vec<Product>> {
        stream::iter(0..count)
            .map(|i| async move {
                let name = format!("Bench product {i}");
                let price_minor = 100 + i64::try_from(i % 900).unwrap_or(0);
                let body = json!({
                    "name": name,
                    "price": format!("{}.{:02}", price_minor / 100, price_minor % 100),
                    "stock": stock,
                });
                let reply = http
                    .post(format!("{}/products", self.product))
                    .header(AUTHORIZATION, self.tokens.admin())
                    .json(&body)
                    .send()
                    .await
                    .context("POST /products")?;
                let created = expect_json(reply, "POST /products").await?;
                let id = created["id"]
                    .as_str()
                    .context("POST /products answered no id")?
                    .to_owned();
                Ok::<_, anyhow::Error>(Product {
                    id,
                    name,
                    price_minor,
                })
            })
            .buffered(8)
            .try_collect()
            .await
    }

    /// Fills both caches with `products`: the order service's price cache through its
    /// warm-up endpoint, the product service's by reading each product once.
    pub async fn warm_caches(
        &self,
        http: &reqwest::Client,
        products: &[Product],
    ) -> anyhow::Result<()> {
        let ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
        let reply = http
            .post(format!("{}/admin/cache/warmup", self.order))
            .header(AUTHORIZATION, self.tokens.admin())
            .json(&json!({ "product_ids": ids }))
            .send()
            .await
            .context("POST /admin/cache/warmup")?;
        let warmed = expect_json(reply, "POST /admin/cache/warmup").await?;
        let missing = warmed["missing"].as_array().map_or(0, Vec::len);
        if missing > 0 {
            bail!("the order service's warm-up missed {missing} products");
        }
        stream::iter(products)
            .map(|p| async move {
                let reply = http
                    .get(format!("{}/products/{}", self.product, p.id))
                    .send()
                    .await
                    .context("GET /products/{id}")?;
                expect_json(reply, "GET /products/{id}").await.map(drop)
            })
            .buffer_unordered(8)
            .try_collect::<()>()
            .await
    }

    /// The body of an order of one unit of `product`.
    pub fn order_body(product: &Product) -> String {
        json!({ "items": [{ "product_id": product.id, "quantity": 1 }] }).to_string()
    }

    /// When the order request `seq` of a load placed was confirmed or rejected, read from its
    /// history by its customer; `None` while pending.
    pub async fn settled_at(
        &self,
        http: &reqwest::Client,
        seq: u64,
        order_id: &str,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        #[derive(Deserialize)]
        struct Entry {
            to: String,
            at: DateTime<Utc>,
        }
        #[derive(Deserialize)]
        struct History {
            items: Vec<Entry>,
        }
        let reply = http
            .get(format!("{}/orders/{order_id}/history", self.order))
            .header(AUTHORIZATION, self.tokens.customer(seq))
            .send()
            .await
            .context("GET /orders/{id}/history")?;
        let history: History =
            serde_json::from_value(expect_json(reply, "GET /orders/{id}/history").await?)?;
        Ok(history
            .items
            .into_iter()
            .find(|e| e.to == "confirmed" || e.to == "rejected")
            .map(|e| e.at))
    }

    /// `GET path` on the order API as an admin, as JSON.
    pub async fn order_json(&self, http: &reqwest::Client, path: &str) -> anyhow::Result<Value> {
        let reply = http
            .get(format!("{}{path}", self.order))
            .header(AUTHORIZATION, self.tokens.admin())
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        expect_json(reply, &format!("GET {path}")).await
    }
}

/// Sends one prepared request and returns its status, reading (and dropping) the body so the
/// connection is reused; `None` when no answer came.
pub async fn status_of(request: reqwest::RequestBuilder) -> Option<u16> {
    let reply = request.send().await.ok()?;
    let status = reply.status().as_u16();
    reply.bytes().await.ok()?;
    Some(status)
}

/// The id at the end of a `Location: /orders/{id}` header.
pub fn location_id(reply: &reqwest::Response) -> Option<String> {
    let location = reply
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    location.rsplit('/').next().map(str::to_owned)
}
