//! Cache-aside in front of the product catalogue: one cache round trip for all products of an
//! order, then one catalogue call for the misses.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use domain::{Currency, Money, ProductId};

use super::ports::{CatalogError, CatalogProduct, ProductCatalog};
use crate::cache::{Cache, jittered};

/// How a catalogue entry is stored in the cache (JSON).
#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum CatalogEntry {
    Found {
        name: String,
        price_minor: i64,
        currency: Currency,
    },
    Missing,
}

/// Cache-aside in front of a [`ProductCatalog`]: one `get_many` for all products of an order,
/// then one catalogue call for the misses. Unknown products are cached briefly too, so a burst
/// of orders for a bad id does not hammer the product service.
#[derive(Debug, Clone)]
pub struct CachedCatalog<C, P> {
    cache: C,
    inner: P,
    ttl: Duration,
    negative_ttl: Duration,
}

impl<C: Cache, P: ProductCatalog> CachedCatalog<C, P> {
    /// Caches found products for about `ttl` and unknown ids for `negative_ttl`.
    pub fn new(cache: C, inner: P, ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            cache,
            inner,
            ttl,
            negative_ttl,
        }
    }

    /// The cache key of a product.
    pub fn key(id: ProductId) -> String {
        format!("product:{id}")
    }
}

#[async_trait]
impl<C: Cache, P: ProductCatalog> ProductCatalog for CachedCatalog<C, P> {
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
        let keys: Vec<String> = ids.iter().map(|id| Self::key(*id)).collect();
        let cached = self.cache.get_many(&keys).await;
        let mut found = Vec::with_capacity(ids.len());
        let mut misses = Vec::new();
        for (id, value) in ids.iter().zip(cached) {
            let entry = value.and_then(|v| serde_json::from_str::<CatalogEntry>(&v).ok());
            match entry {
                Some(CatalogEntry::Found {
                    name,
                    price_minor,
                    currency,
                }) => match Money::from_minor(price_minor, currency) {
                    Ok(price) => found.push(CatalogProduct {
                        id: *id,
                        name,
                        price,
                    }),
                    Err(_) => misses.push(*id),
                },
                Some(CatalogEntry::Missing) => {}
                None => misses.push(*id),
            }
        }
        crate::metrics::cache_lookups("catalog", "hit", ids.len() - misses.len());
        crate::metrics::cache_lookups("catalog", "miss", misses.len());
        if misses.is_empty() {
            return Ok(found);
        }
        let fetched = self.inner.find_many(&misses).await?;
        self.store(&misses, &fetched).await;
        found.extend(fetched);
        Ok(found)
    }

    async fn evict(&self, ids: &[ProductId]) {
        let keys: Vec<String> = ids.iter().map(|id| Self::key(*id)).collect();
        self.cache.delete(&keys).await;
    }

    async fn warm(&self, ids: &[ProductId]) -> Result<Vec<ProductId>, CatalogError> {
        let fetched = self.inner.find_many(ids).await?;
        self.store(ids, &fetched).await;
        Ok(fetched.into_iter().map(|p| p.id).collect())
    }
}

impl<C: Cache, P: ProductCatalog> CachedCatalog<C, P> {
    /// Caches what was fetched for `asked`: the products found, and "missing" for the rest.
    async fn store(&self, asked: &[ProductId], fetched: &[CatalogProduct]) {
        let misses = asked;
        let fetched_ids: HashSet<ProductId> = fetched.iter().map(|p| p.id).collect();
        let seed = misses.first().map_or(0, |id| id.as_uuid().as_u128() as u64);
        let positive: Vec<(String, String)> = fetched
            .iter()
            .map(|p| {
                let entry = CatalogEntry::Found {
                    name: p.name.clone(),
                    price_minor: p.price.minor(),
                    currency: p.price.currency(),
                };
                (
                    Self::key(p.id),
                    serde_json::to_string(&entry).unwrap_or_default(),
                )
            })
            .collect();
        let negative: Vec<(String, String)> = misses
            .iter()
            .filter(|id| !fetched_ids.contains(id))
            .map(|id| {
                (
                    Self::key(*id),
                    serde_json::to_string(&CatalogEntry::Missing).unwrap_or_default(),
                )
            })
            .collect();
        if !positive.is_empty() {
            self.cache
                .set_many(&positive, jittered(self.ttl, seed))
                .await;
        }
        if !negative.is_empty() {
            self.cache.set_many(&negative, self.negative_ttl).await;
        }
    }
}
