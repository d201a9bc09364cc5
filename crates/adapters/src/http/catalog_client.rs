//! The product catalogue over HTTP: `GET /products?ids=a,b,c` on the product service, one
//! call per order for every product the cache did not have.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use serde::Deserialize;
use tracing::Instrument;

use crate::telemetry::propagation;

use domain::{Currency, Money, ProductId};
use ports::ordering::{CatalogError, CatalogProduct, ProductCatalog};

/// Reads products from the product service.
#[derive(Debug, Clone)]
pub struct HttpProductCatalog {
    client: reqwest::Client,
    base_url: String,
}

#[derive(Deserialize)]
struct ProductBody {
    id: ProductId,
    name: String,
    price: String,
    currency: String,
}

#[derive(Deserialize)]
struct ListBody {
    items: Vec<ProductBody>,
}

impl HttpProductCatalog {
    /// A client for the product service at `base_url` (`http://product-service:3000`), with a
    /// connect timeout and a total timeout per call.
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .context("failed to build the HTTP client")?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Checks that the product service reports itself alive (for `/health`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        let response = self
            .client
            .get(format!("{}/health", self.base_url))
            .send()
            .await
            .context("product service unreachable")?;
        // A degraded product service (503 = unhealthy) still counts as down for pricing.
        anyhow::ensure!(
            response.status().is_success(),
            "product service answered {}",
            response.status()
        );
        Ok(())
    }

    async fn fetch(&self, ids: &[ProductId]) -> anyhow::Result<Vec<CatalogProduct>> {
        let joined = ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let url = format!("{}/products", self.base_url);
        let span = client_span(&url);
        let mut request = self
            .client
            .get(&url)
            .query(&[("ids", joined.as_str()), ("limit", "100")]);
        for (name, value) in propagation::headers_of(&span) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .instrument(span.clone())
            .await
            .context("product service unreachable")?;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        anyhow::ensure!(status.is_success(), "product service answered {status}");
        let body: ListBody = response.json().await.context("unreadable product list")?;
        body.items
            .into_iter()
            .map(|p| {
                let currency = Currency::parse(&p.currency)?;
                Ok(CatalogProduct {
                    id: p.id,
                    name: p.name,
                    price: Money::parse_price(&p.price, currency)?,
                })
            })
            .collect::<Result<Vec<_>, domain::MoneyError>>()
            .context("product service sent an invalid price")
    }
}

#[async_trait]
impl ProductCatalog for HttpProductCatalog {
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.fetch(ids).await.map_err(CatalogError::Unavailable)
    }
}

/// The client span of a catalogue call (HTTP semantic conventions); its context goes out in
/// the request's `traceparent`, so that the product service's span is its child.
fn client_span(url: &str) -> tracing::Span {
    if !propagation::enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        "GET",
        otel.name = "GET",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = "GET",
        url.full = %url,
        http.response.status_code = tracing::field::Empty,
    )
}
