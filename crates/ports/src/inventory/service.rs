//! The inventory use cases driven by the API: create, change and read products, adjust stock.

use std::sync::Arc;

use tracing::{info, warn};
use uuid::Uuid;

use super::cache::{CachePolicy, CacheStatus, ProductCache};
use super::events::{product_created, product_updated};
use super::ports::{ProductStore, StockAdjustment};
use super::requests::{
    AdjustStock, AdjustStockError, NewProduct, ProductChange, UpdateProductError,
};
use crate::cache::Cache;
use crate::clock::Clock;
use crate::store::{Page, PageRequest, StoreError, retry_on_contention};
use domain::{Product, ProductId};

/// The product service's use cases.
#[derive(Debug)]
pub struct ProductService<S, K> {
    pub(super) store: S,
    pub(super) cache: ProductCache<K>,
    pub(super) clock: Arc<dyn Clock>,
}

impl<S: ProductStore, K: Cache> ProductService<S, K> {
    /// Wires the use cases to their ports.
    pub fn new(store: S, cache: K, policy: CachePolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            cache: ProductCache::new(cache, policy),
            clock,
        }
    }

    /// The product store (for health checks).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Creates a product.
    #[tracing::instrument(skip_all)]
    pub async fn create_product(&self, new: NewProduct) -> Result<Product, StoreError> {
        if let Some(id) = new.id
            && let Some(existing) = self.store.find(id).await?
        {
            // A retry of a request whose product was created before a crash.
            return Ok(existing);
        }
        let product = Product::create(
            new.id.unwrap_or_else(ProductId::new),
            new.name,
            new.price,
            new.stock,
            self.clock.now(),
        )
        .map_err(|e| StoreError::Unknown(anyhow::anyhow!(e)))?;
        let mut tx = self.store.begin().await?;
        tx.insert_product(&product).await?;
        tx.enqueue(&product_created(&product)).await?;
        tx.commit().await?;
        info!(product_id = %product.id(), stock = %product.stock(), "product created");
        Ok(product)
    }

    /// Renames and/or reprices a product: one transaction that locks the product, checks the
    /// version the client read, writes the change as a conditional update on the version and
    /// `product.updated` to the outbox; the cache entry is evicted after the commit. Without an
    /// expected version the change applies to the current one, and a lost race is retried. A
    /// change to the values the product already has writes nothing.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    pub async fn update_product(
        &self,
        id: ProductId,
        change: ProductChange,
    ) -> Result<Product, UpdateProductError> {
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            let mut tx = self.store.begin().await?;
            let mut product = tx
                .lock_product(id)
                .await?
                .ok_or(UpdateProductError::NotFound(id))?;
            let current = product.version();
            if change.expected_version.is_some_and(|v| v != current) {
                return Err(UpdateProductError::VersionMismatch { current });
            }
            let now = self.clock.now();
            if !product.revise(change.name.clone(), change.price, now)? {
                return Ok(product);
            }
            if !tx.update_product(&product, current).await? {
                // Changed between the read and the write (an adapter without row locks).
                warn!("product changed during the update; retrying");
                continue;
            }
            tx.enqueue(&product_updated(&product)).await?;
            tx.commit().await?;
            self.cache.evict(&[id]).await;
            info!(version = product.version(), "product updated");
            return Ok(product);
        }
        Err(UpdateProductError::Store(StoreError::Unavailable(
            anyhow::anyhow!("product {id} kept changing during {ATTEMPTS} update attempts"),
        )))
    }

    /// Adjusts a product's stock by hand: one transaction that locks the product, checks the
    /// version the client read, refuses a stock below zero (or above the maximum) with nothing
    /// written, applies the delta as a conditional update and records the adjustment; the
    /// cache entry is evicted after the commit. Returns the product as changed and the
    /// adjustment.
    #[tracing::instrument(skip_all, fields(product_id = %id, delta = request.delta.get()))]
    pub async fn adjust_stock(
        &self,
        id: ProductId,
        request: AdjustStock,
    ) -> Result<(Product, StockAdjustment), AdjustStockError> {
        // A transaction that lost a lock conflict (to a reservation batch) was rolled back
        // whole: it runs again, a couple of times, before the client is told to retry.
        let conflict: fn(&AdjustStockError) -> Option<&StoreError> = |e| match e {
            AdjustStockError::Store(e) => Some(e),
            _ => None,
        };
        retry_on_contention("stock adjustment", conflict, || {
            self.try_adjust(id, request.clone())
        })
        .await
    }

    async fn try_adjust(
        &self,
        id: ProductId,
        request: AdjustStock,
    ) -> Result<(Product, StockAdjustment), AdjustStockError> {
        if let Some(adjustment_id) = request.adjustment_id
            && let Some(done) = self.store.adjustment(id, adjustment_id).await?
        {
            // A retry of a request applied before a crash: the same answer.
            let product = self
                .store
                .find(id)
                .await?
                .ok_or(AdjustStockError::NotFound(id))?;
            return Ok((product, done));
        }
        let mut tx = self.store.begin().await?;
        let mut product = tx
            .lock_product(id)
            .await?
            .ok_or(AdjustStockError::NotFound(id))?;
        let current = product.version();
        if request.expected_version.is_some_and(|v| v != current) {
            return Err(AdjustStockError::VersionMismatch { current });
        }
        let now = self.clock.now();
        let after = product
            .adjust_stock(request.delta, now)
            .map_err(AdjustStockError::Refused)?;
        let stored = tx.adjust_stock(id, request.delta, now).await?;
        if stored != Some(after) {
            // The row is locked, so this means the adapter broke its contract.
            return Err(AdjustStockError::Store(StoreError::Unknown(
                anyhow::anyhow!(
                    "stock of {id} changed under a lock: expected {after}, stored {stored:?}"
                ),
            )));
        }
        let adjustment = StockAdjustment {
            id: request.adjustment_id.unwrap_or_else(Uuid::now_v7),
            product_id: id,
            delta: request.delta,
            reason: request.reason,
            stock_after: after,
            cause: match request.request_id {
                Some(rid) => format!("request:{rid}"),
                None => "request".to_owned(),
            },
            created_at: now,
        };
        tx.insert_adjustment(&adjustment).await?;
        tx.commit().await?;
        self.cache.evict(&[id]).await;
        info!(stock = %after, "stock adjusted");
        Ok((product, adjustment))
    }

    /// A product's stock adjustments, newest first; `None` for an unknown product.
    pub async fn list_adjustments(
        &self,
        id: ProductId,
        page: PageRequest,
    ) -> Result<Option<Page<StockAdjustment>>, StoreError> {
        if self.store.find(id).await?.is_none() {
            return Ok(None);
        }
        self.store.adjustments(id, page).await.map(Some)
    }

    /// One stock adjustment of a product.
    pub async fn get_adjustment(
        &self,
        product_id: ProductId,
        id: Uuid,
    ) -> Result<Option<StockAdjustment>, StoreError> {
        self.store.adjustment(product_id, id).await
    }

    /// Reads one product, cache-aside.
    pub async fn get_product(
        &self,
        id: ProductId,
    ) -> Result<(Option<Product>, CacheStatus), StoreError> {
        if let Some(hit) = self.cache.get(id).await {
            return Ok((hit, CacheStatus::Hit));
        }
        let product = self.store.find(id).await?;
        self.cache.fill(id, product.as_ref()).await;
        Ok((product, CacheStatus::Miss))
    }

    /// Reads several products straight from the database (used to price orders).
    pub async fn find_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        self.store.find_many(ids).await
    }

    /// Lists products newest first.
    pub async fn list_products(&self, page: PageRequest) -> Result<Page<Product>, StoreError> {
        self.store.list(page).await
    }
}
