//! Cache-aside for product reads: entries in the product's JSON shape, rebuilt through the
//! domain constructors (a corrupt entry is a miss), "not found" cached briefly too.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::cache::{Cache, jittered};
use domain::{Currency, Money, Product, ProductId, ProductName, Stock};

/// Whether a read was answered by the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from the cache.
    Hit,
    /// Read from the database (and cached).
    Miss,
}

/// Cache settings of the product reads.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// Lifetime of a cached product (±10 % jitter).
    pub ttl: Duration,
    /// Lifetime of a cached "not found".
    pub negative_ttl: Duration,
}

/// The product cache: a [`Cache`] holding products under `product:{id}`.
#[derive(Debug, Clone)]
pub struct ProductCache<K> {
    cache: K,
    policy: CachePolicy,
}

impl<K: Cache> ProductCache<K> {
    /// Products in `cache`, kept as `policy` says.
    pub fn new(cache: K, policy: CachePolicy) -> Self {
        Self { cache, policy }
    }

    /// The cache key of a product.
    pub fn key(id: ProductId) -> String {
        format!("product:{id}")
    }

    /// `Some(Some(product))` for a cached product, `Some(None)` for a cached "not found",
    /// `None` for a miss (an unreadable entry is a miss).
    pub async fn get(&self, id: ProductId) -> Option<Option<Product>> {
        let cached = self.cache.get_many(&[Self::key(id)]).await;
        let Some(value) = cached.into_iter().next().flatten() else {
            crate::metrics::cache_lookups("product", "miss", 1);
            return None;
        };
        crate::metrics::cache_lookups("product", "hit", 1);
        let hit = serde_json::from_str::<CachedProduct>(&value)
            .ok()
            .and_then(|c| c.restore(id));
        if hit.is_none() {
            warn!(%id, "ignoring an unreadable cache entry");
        }
        hit
    }

    /// Caches what the database said about `id`.
    pub async fn fill(&self, id: ProductId, product: Option<&Product>) {
        let (entry, ttl) = match product {
            Some(p) => (
                CachedProduct::of(p),
                jittered(self.policy.ttl, id.as_uuid().as_u128() as u64),
            ),
            None => (CachedProduct::Missing, self.policy.negative_ttl),
        };
        if let Ok(value) = serde_json::to_string(&entry) {
            self.cache.set_many(&[(Self::key(id), value)], ttl).await;
        }
    }

    /// Forgets the cached copies of products (after a commit changed them).
    pub async fn evict(&self, ids: &[ProductId]) {
        if !ids.is_empty() {
            let keys: Vec<String> = ids.iter().copied().map(Self::key).collect();
            self.cache.delete(&keys).await;
        }
    }
}

/// How a product is stored in the cache (JSON).
#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum CachedProduct {
    Found {
        name: String,
        price_minor: i64,
        currency: Currency,
        stock: i64,
        version: u32,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    },
    Missing,
}

impl CachedProduct {
    pub(crate) fn of(product: &Product) -> Self {
        CachedProduct::Found {
            name: product.name().as_str().to_owned(),
            price_minor: product.price().minor(),
            currency: product.price().currency(),
            stock: i64::from(product.stock().get()),
            version: product.version(),
            created_at: product.created_at(),
            updated_at: product.updated_at(),
        }
    }

    /// Rebuilds through the domain constructors; a corrupt entry is `None` (a miss).
    fn restore(self, id: ProductId) -> Option<Option<Product>> {
        match self {
            CachedProduct::Missing => Some(None),
            CachedProduct::Found {
                name,
                price_minor,
                currency,
                stock,
                version,
                created_at,
                updated_at,
            } => {
                let product = Product::restore(
                    id,
                    ProductName::parse(&name).ok()?,
                    Money::from_minor(price_minor, currency).ok()?,
                    Stock::new(stock).ok()?,
                    version,
                    created_at,
                    updated_at,
                )
                .ok()?;
                Some(Some(product))
            }
        }
    }
}
