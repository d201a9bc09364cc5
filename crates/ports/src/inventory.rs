//! The product service's ports and use cases: products, stock and reservations.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use uuid::Uuid;

use crate::cache::{Cache, jittered};
use crate::events::{
    self, DecodeError, Envelope, FailedItemV1, OrderCancelledV1, OrderCreatedV1, OrderDeliveredV1,
    OrderQtyConfirmedV1, OrderQtyFailedV1, OrderShippedV1, OutboxMessage, ProductCreatedV1,
    ProductSnapshotV1, ProductUpdatedV1, keys,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::store::{Page, PageRequest, StoreError};
use domain::product::{AdjustmentError, AdjustmentReason, StockDelta};
use domain::{
    Currency, MessageId, Money, OrderId, Product, ProductError, ProductId, ProductName, Quantity,
    RejectionReason, ReservationLine, Stock, plan_reservation,
};

/// Name under which the product service records handled messages in its inbox.
pub const CONSUMER: &str = "product-service";

/// One database transaction of the product service. Dropping it without
/// [`InventoryTx::commit`] rolls everything back.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait InventoryTx: Send {
    /// Records that `consumer` handled `message_id`. Returns `false` when it already had.
    async fn record_inbox(
        &mut self,
        consumer: &str,
        message_id: MessageId,
    ) -> Result<bool, StoreError>;
    /// Inserts a new product.
    async fn insert_product(&mut self, product: &Product) -> Result<(), StoreError>;
    /// Locks the products among `ids` that exist, in ascending id order (so concurrent
    /// reservations never wait on each other in a cycle), and returns their stock. Unknown ids
    /// are absent from the map.
    async fn lock_stock(
        &mut self,
        ids: &[ProductId],
    ) -> Result<HashMap<ProductId, Stock>, StoreError>;
    /// Takes `quantity` units, only if at least that many are on hand (a conditional update;
    /// the database also refuses a negative stock). Returns whether the units were taken.
    async fn decrement_stock(
        &mut self,
        id: ProductId,
        quantity: Quantity,
    ) -> Result<bool, StoreError>;
    /// Records units reserved for an order (unique per order and product).
    async fn insert_reservation(
        &mut self,
        order_id: OrderId,
        product_id: ProductId,
        quantity: Quantity,
    ) -> Result<(), StoreError>;
    /// Reads a product and locks its row until the transaction ends (`None` when unknown).
    async fn lock_product(&mut self, id: ProductId) -> Result<Option<Product>, StoreError>;
    /// Writes a product's name, price, version and `updated_at`, only if its stored version
    /// is still `expected_version` (a conditional update; the stock is left alone). Returns
    /// whether it was written: `false` for a stale version or an unknown product.
    async fn update_product(
        &mut self,
        product: &Product,
        expected_version: u32,
    ) -> Result<bool, StoreError>;
    /// Adds `delta` units to a product's stock (negative takes units), bumping its version and
    /// setting `updated_at` to `at`, only if the stock stays within `0..=MAX_STOCK` (a
    /// conditional update; the database also refuses a negative stock). Returns the new stock,
    /// or `None` when refused or the product is unknown; a refusal changes nothing.
    async fn adjust_stock(
        &mut self,
        id: ProductId,
        delta: StockDelta,
        at: DateTime<Utc>,
    ) -> Result<Option<Stock>, StoreError>;
    /// Records a stock adjustment (its product must exist).
    async fn insert_adjustment(&mut self, adjustment: &StockAdjustment) -> Result<(), StoreError>;
    /// The reservations of an order, whatever their status, in ascending product id order.
    /// Locks them until the transaction ends, and also locks their absence: a concurrent
    /// transaction inserting a reservation for this order waits (or one of the two fails as
    /// `Unavailable`, to be retried), so "no reservation, hence a tombstone" cannot race a
    /// reservation.
    async fn reservations_of(&mut self, order_id: OrderId) -> Result<Vec<Reservation>, StoreError>;
    /// Releases the order's `active` reservations: each becomes `released` and its units go
    /// back to the product's stock (version +1), products touched in ascending id order.
    /// Reservations already `released` or `consumed` are left alone, so releasing twice
    /// returns nothing the second time. Returns what was released.
    async fn release_reservations(
        &mut self,
        order_id: OrderId,
    ) -> Result<Vec<ReservationLine>, StoreError>;
    /// Marks the order's `active` reservations `consumed` (shipped: the units left for good,
    /// they are never released); the stock is unchanged. Returns how many were consumed (0
    /// when none was active).
    async fn consume_reservations(&mut self, order_id: OrderId) -> Result<u64, StoreError>;
    /// Records that an order was cancelled before any of its units were reserved. Idempotent:
    /// returns `false` when the tombstone exists already.
    async fn insert_tombstone(
        &mut self,
        order_id: OrderId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Whether an order has a tombstone. Locks the answer until the transaction ends: a
    /// concurrent [`InventoryTx::insert_tombstone`] for this order waits (or one of the two
    /// fails as `Unavailable`, to be retried).
    async fn is_tombstoned(&mut self, order_id: OrderId) -> Result<bool, StoreError>;
    /// Adds a message to the outbox.
    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError>;
    /// Commits, then wakes the outbox relay.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Product persistence.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ProductStore: Send + Sync + 'static {
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn InventoryTx>, StoreError>;
    /// Reads one product.
    async fn find(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    /// Reads the products among `ids` that exist, in ascending id order.
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;
    /// Lists products newest first, by keyset.
    async fn list(&self, page: PageRequest) -> Result<Page<Product>, StoreError>;
    /// Lists a product's stock adjustments newest first, by keyset on their ids (empty for
    /// an unknown product).
    async fn adjustments(
        &self,
        product_id: ProductId,
        page: PageRequest,
    ) -> Result<Page<StockAdjustment>, StoreError>;
    /// Reads one stock adjustment of a product (`None` when it is not one of its adjustments).
    async fn adjustment(
        &self,
        product_id: ProductId,
        id: Uuid,
    ) -> Result<Option<StockAdjustment>, StoreError>;
}

/// What became of units reserved for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// Held for the order, out of the stock.
    Active,
    /// Given back to the stock (the order was cancelled).
    Released,
    /// Gone with the shipment; never released.
    Consumed,
}

impl ReservationStatus {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReservationStatus::Active => "active",
            ReservationStatus::Released => "released",
            ReservationStatus::Consumed => "consumed",
        }
    }

    /// Parses a stored name.
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "active" => Some(ReservationStatus::Active),
            "released" => Some(ReservationStatus::Released),
            "consumed" => Some(ReservationStatus::Consumed),
            _ => None,
        }
    }
}

/// Units of one product reserved for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The product.
    pub product_id: ProductId,
    /// Units reserved.
    pub quantity: Quantity,
    /// What became of them.
    pub status: ReservationStatus,
}

/// A recorded manual change of a product's stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockAdjustment {
    /// UUIDv7.
    pub id: Uuid,
    /// The product.
    pub product_id: ProductId,
    /// Units added (negative: removed).
    pub delta: StockDelta,
    /// Why.
    pub reason: AdjustmentReason,
    /// The stock right after the change.
    pub stock_after: Stock,
    /// What asked for it: `request` or `request:<X-Request-Id>`.
    pub cause: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A change of a product's name and/or price, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductChange {
    /// The new name, if it changes.
    pub name: Option<ProductName>,
    /// The new unit price, if it changes.
    pub price: Option<Money>,
    /// The version the client read (`If-Match`); `None` applies the change to the current
    /// version.
    pub expected_version: Option<u32>,
}

/// A stock adjustment to make, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustStock {
    /// Units to add (negative: remove).
    pub delta: StockDelta,
    /// Why.
    pub reason: AdjustmentReason,
    /// The version the client read (`If-Match`); `None` adjusts the current version.
    pub expected_version: Option<u32>,
    /// The client's `Idempotency-Key` or `X-Request-Id`, kept as the adjustment's cause.
    pub request_id: Option<String>,
    /// The id to give the adjustment: set when an idempotency key reserved one, so that a
    /// retry after a crash finds the adjustment it already made instead of making a second.
    pub adjustment_id: Option<Uuid>,
}

/// Why a product could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateProductError {
    /// No such product.
    #[error("no product {0}")]
    NotFound(ProductId),
    /// The product changed since the client read it.
    #[error("the product is at version {current}")]
    VersionMismatch {
        /// Its current version.
        current: u32,
    },
    /// The change breaks a product rule.
    #[error(transparent)]
    Invalid(#[from] ProductError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a stock adjustment was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdjustStockError {
    /// No such product.
    #[error("no product {0}")]
    NotFound(ProductId),
    /// The product changed since the client read it.
    #[error("the product is at version {current}")]
    VersionMismatch {
        /// Its current version.
        current: u32,
    },
    /// The stock would leave its range (below zero or above the maximum); nothing changed.
    #[error(transparent)]
    Refused(AdjustmentError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A product to create, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// The id to give it: set when an idempotency key reserved one (see
    /// [`AdjustStock::adjustment_id`]).
    pub id: Option<ProductId>,
    /// Its name.
    pub name: ProductName,
    /// Its unit price (in the deployment currency).
    pub price: Money,
    /// Units on hand at creation.
    pub stock: Stock,
}

/// Whether a read was answered by the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from the cache.
    Hit,
    /// Read from the database (and cached).
    Miss,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum CachedProduct {
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
    fn of(product: &Product) -> Self {
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

/// Cache settings of the product reads.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// Lifetime of a cached product (±10 % jitter).
    pub ttl: Duration,
    /// Lifetime of a cached "not found".
    pub negative_ttl: Duration,
}

/// The product service's use cases.
#[derive(Debug)]
pub struct ProductService<S, K> {
    store: S,
    cache: K,
    policy: CachePolicy,
}

impl<S: ProductStore, K: Cache> ProductService<S, K> {
    /// Wires the use cases to their ports.
    pub fn new(store: S, cache: K, policy: CachePolicy) -> Self {
        Self {
            store,
            cache,
            policy,
        }
    }

    /// The product store (for health checks).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The cache key of a product.
    pub fn key(id: ProductId) -> String {
        format!("product:{id}")
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
            crate::now(),
        )
        .map_err(|e| StoreError::Unknown(anyhow::anyhow!(e)))?;
        let mut tx = self.store.begin().await?;
        tx.insert_product(&product).await?;
        tx.enqueue(&OutboxMessage::new(
            &ProductCreatedV1(snapshot(&product)),
            product.created_at(),
        ))
        .await?;
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
            let now = crate::now();
            if !product.revise(change.name.clone(), change.price, now)? {
                return Ok(product);
            }
            if !tx.update_product(&product, current).await? {
                // Changed between the read and the write (an adapter without row locks).
                warn!("product changed during the update; retrying");
                continue;
            }
            tx.enqueue(&OutboxMessage::new(
                &ProductUpdatedV1(snapshot(&product)),
                now,
            ))
            .await?;
            tx.commit().await?;
            self.evict(&[id]).await;
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
        let now = crate::now();
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
        self.evict(&[id]).await;
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

    /// Forgets the cached copies of products (after a commit changed them).
    async fn evict(&self, ids: &[ProductId]) {
        if !ids.is_empty() {
            let keys: Vec<String> = ids.iter().copied().map(Self::key).collect();
            self.cache.delete(&keys).await;
        }
    }

    /// Reads one product, cache-aside.
    pub async fn get_product(
        &self,
        id: ProductId,
    ) -> Result<(Option<Product>, CacheStatus), StoreError> {
        let key = Self::key(id);
        let cached = self.cache.get_many(std::slice::from_ref(&key)).await;
        if let Some(Some(value)) = cached.into_iter().next() {
            if let Some(hit) = serde_json::from_str::<CachedProduct>(&value)
                .ok()
                .and_then(|c| c.restore(id))
            {
                return Ok((hit, CacheStatus::Hit));
            }
            warn!(%id, "ignoring an unreadable cache entry");
        }
        let product = self.store.find(id).await?;
        let (entry, ttl) = match &product {
            Some(p) => (
                CachedProduct::of(p),
                jittered(self.policy.ttl, id.as_uuid().as_u128() as u64),
            ),
            None => (CachedProduct::Missing, self.policy.negative_ttl),
        };
        if let Ok(value) = serde_json::to_string(&entry) {
            self.cache.set_many(&[(key, value)], ttl).await;
        }
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

    /// Reserves every line of an order or none, exactly once per message, and answers with
    /// `order.qty_confirmed` or `order.qty_failed` through the outbox.
    #[tracing::instrument(skip_all, fields(message_id = %envelope.id, order_id = %envelope.data.order_id))]
    async fn reserve(&self, envelope: Envelope<OrderCreatedV1>) -> HandleOutcome {
        let order_id = envelope.data.order_id;
        let mut lines = Vec::with_capacity(envelope.data.items.len());
        for item in &envelope.data.items {
            match Quantity::new(i64::from(item.quantity)) {
                Ok(quantity) => lines.push(ReservationLine {
                    product_id: item.product_id,
                    quantity,
                }),
                Err(e) => return HandleOutcome::DeadLetter(format!("order {order_id}: {e}")),
            }
        }
        if lines.is_empty() {
            return HandleOutcome::DeadLetter(format!("order {order_id} has no items"));
        }
        // Ascending product id: every reservation takes its row locks in the same order.
        lines.sort_by_key(|l| l.product_id);
        let result = self.try_reserve(envelope.id, order_id, &lines).await;
        self.settle(result).await
    }

    /// Evicts what a committed handler changed, or asks for a redelivery.
    async fn settle(&self, result: Result<Vec<ProductId>, StoreError>) -> HandleOutcome {
        match result {
            Ok(touched) => {
                self.evict(&touched).await;
                HandleOutcome::Ack
            }
            Err(e) => HandleOutcome::Retry(format!("{:#}", anyhow::Error::from(e))),
        }
    }

    /// Returns the products whose stock changed (none for a duplicate message).
    async fn try_reserve(
        &self,
        message_id: MessageId,
        order_id: OrderId,
        lines: &[ReservationLine],
    ) -> Result<Vec<ProductId>, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(Vec::new());
        }
        if tx.is_tombstoned(order_id).await? {
            // Cancelled before it reached the inventory: the order side knows, nothing to say.
            info!("order cancelled before its reservation; reserving nothing");
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let ids: Vec<ProductId> = lines.iter().map(|l| l.product_id).collect();
        let levels = tx.lock_stock(&ids).await?;
        let now = crate::now();
        let touched = match plan_reservation(lines, &levels) {
            Ok(_) => {
                for line in lines {
                    if !tx.decrement_stock(line.product_id, line.quantity).await? {
                        // The rows are locked, so this means the adapter broke its contract.
                        return Err(StoreError::Unknown(anyhow::anyhow!(
                            "stock of {} changed under a lock",
                            line.product_id
                        )));
                    }
                    tx.insert_reservation(order_id, line.product_id, line.quantity)
                        .await?;
                }
                tx.enqueue(&OutboxMessage::new(&OrderQtyConfirmedV1 { order_id }, now))
                    .await?;
                info!(lines = lines.len(), "stock reserved");
                ids
            }
            Err(shortages) => {
                let reason = if shortages.iter().any(|s| !s.known) {
                    RejectionReason::UnknownProduct
                } else {
                    RejectionReason::InsufficientStock
                };
                let failed = OrderQtyFailedV1 {
                    order_id,
                    reason: reason.as_str().to_owned(),
                    failing_items: shortages
                        .iter()
                        .map(|s| FailedItemV1 {
                            product_id: s.product_id,
                            requested: s.requested,
                            available: s.available,
                        })
                        .collect(),
                };
                tx.enqueue(&OutboxMessage::new(&failed, now)).await?;
                info!(%reason, shortages = shortages.len(), "reservation refused");
                Vec::new()
            }
        };
        tx.commit().await?;
        Ok(touched)
    }

    /// Releases an order's reservations once (`order.cancelled`), or leaves a tombstone when
    /// it never had any, so that a late `order.created` reserves nothing.
    #[tracing::instrument(skip_all, fields(message_id = %envelope.id, order_id = %envelope.data.order_id))]
    async fn release(&self, envelope: Envelope<OrderCancelledV1>) -> HandleOutcome {
        let result = self.try_release(envelope.id, envelope.data.order_id).await;
        self.settle(result).await
    }

    async fn try_release(
        &self,
        message_id: MessageId,
        order_id: OrderId,
    ) -> Result<Vec<ProductId>, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(Vec::new());
        }
        let reservations = tx.reservations_of(order_id).await?;
        let touched = if reservations.is_empty() {
            tx.insert_tombstone(order_id, crate::now()).await?;
            info!("nothing reserved yet; tombstone left for a late order.created");
            Vec::new()
        } else if reservations
            .iter()
            .any(|r| r.status == ReservationStatus::Active)
        {
            let released = tx.release_reservations(order_id).await?;
            info!(lines = released.len(), "reservations released");
            released.into_iter().map(|l| l.product_id).collect()
        } else {
            info!("reservations already released or consumed; nothing to release");
            Vec::new()
        };
        tx.commit().await?;
        Ok(touched)
    }

    /// Consumes an order's reservations (`order.shipped`): the units are gone for good, and a
    /// later cancellation releases nothing. The stock does not change.
    #[tracing::instrument(skip_all, fields(message_id = %envelope.id, order_id = %envelope.data.order_id))]
    async fn consume(&self, envelope: Envelope<OrderShippedV1>) -> HandleOutcome {
        let result = self.try_consume(envelope.id, envelope.data.order_id).await;
        self.settle(result).await
    }

    async fn try_consume(
        &self,
        message_id: MessageId,
        order_id: OrderId,
    ) -> Result<Vec<ProductId>, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(Vec::new());
        }
        let consumed = tx.consume_reservations(order_id).await?;
        if consumed == 0 {
            warn!("a shipped order had no active reservation; nothing consumed");
        } else {
            info!(lines = consumed, "reservations consumed");
        }
        tx.commit().await?;
        Ok(Vec::new())
    }
}

/// A product as other services may cache it.
fn snapshot(product: &Product) -> ProductSnapshotV1 {
    ProductSnapshotV1 {
        product_id: product.id(),
        name: product.name().as_str().to_owned(),
        price: product.price().to_string(),
        currency: product.price().currency().code().to_owned(),
        version: product.version(),
    }
}

#[async_trait]
impl<S: ProductStore, K: Cache> MessageHandler for ProductService<S, K> {
    fn routing_keys(&self) -> Vec<&'static str> {
        vec![
            keys::ORDER_CREATED,
            keys::ORDER_CANCELLED,
            keys::ORDER_SHIPPED,
            keys::ORDER_DELIVERED,
        ]
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        match message.routing_key.as_str() {
            keys::ORDER_CREATED => match events::decode::<OrderCreatedV1>(&message.body) {
                Ok(envelope) => self.reserve(envelope).await,
                Err(e) => HandleOutcome::DeadLetter(e.to_string()),
            },
            keys::ORDER_CANCELLED => match events::decode::<OrderCancelledV1>(&message.body) {
                Ok(envelope) => self.release(envelope).await,
                Err(e) => HandleOutcome::DeadLetter(e.to_string()),
            },
            keys::ORDER_SHIPPED => match events::decode::<OrderShippedV1>(&message.body) {
                Ok(envelope) => self.consume(envelope).await,
                Err(e) => HandleOutcome::DeadLetter(e.to_string()),
            },
            // The stock left at shipment: a delivery changes nothing here. The queue still
            // takes it, so that the event is routable (the outbox publishes with `mandatory`).
            keys::ORDER_DELIVERED => match events::decode::<OrderDeliveredV1>(&message.body) {
                Ok(_) => HandleOutcome::Ack,
                Err(e) => HandleOutcome::DeadLetter(e.to_string()),
            },
            other => {
                HandleOutcome::DeadLetter(DecodeError::UnknownType(other.to_owned()).to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MockCache;
    use crate::events::OrderedItemV1;

    fn policy() -> CachePolicy {
        CachePolicy {
            ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(5),
        }
    }

    fn order_created(items: &[(ProductId, u32)]) -> (OrderId, InboundMessage) {
        let order_id = OrderId::new();
        let msg = OutboxMessage::new(
            &OrderCreatedV1 {
                order_id,
                items: items
                    .iter()
                    .map(|(product_id, quantity)| OrderedItemV1 {
                        product_id: *product_id,
                        quantity: *quantity,
                    })
                    .collect(),
            },
            crate::now(),
        );
        (
            order_id,
            InboundMessage {
                message_id: Some(msg.id),
                routing_key: keys::ORDER_CREATED.into(),
                body: msg.payload.into_bytes(),
                redelivered: false,
            },
        )
    }

    fn service(
        tx: MockInventoryTx,
        cache: MockCache,
    ) -> ProductService<MockProductStore, MockCache> {
        let mut store = MockProductStore::new();
        store.expect_begin().return_once(move || Ok(Box::new(tx)));
        ProductService::new(store, cache, policy())
    }

    fn stock(n: i64) -> Stock {
        Stock::new(n).unwrap()
    }

    #[tokio::test]
    async fn a_covered_order_is_reserved_line_by_line_in_ascending_product_order() {
        let (a, b) = (ProductId::new(), ProductId::new());
        // Sent in descending order; must be locked and decremented ascending.
        let (order_id, msg) = order_created(&[(b, 1), (a, 2)]);
        let mut tx = MockInventoryTx::new();
        let mut seq = mockall::Sequence::new();
        tx.expect_record_inbox()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(true));
        tx.expect_is_tombstoned()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |o| *o == order_id)
            .returning(|_| Ok(false));
        tx.expect_lock_stock()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |ids| ids == [a, b])
            .returning(move |_| Ok(HashMap::from([(a, stock(5)), (b, stock(1))])));
        for (id, q) in [(a, 2), (b, 1)] {
            tx.expect_decrement_stock()
                .times(1)
                .in_sequence(&mut seq)
                .withf(move |p, qty| *p == id && qty.get() == q)
                .returning(|_, _| Ok(true));
            tx.expect_insert_reservation()
                .times(1)
                .in_sequence(&mut seq)
                .withf(move |o, p, qty| *o == order_id && *p == id && qty.get() == q)
                .returning(|_, _, _| Ok(()));
        }
        tx.expect_enqueue()
            .times(1)
            .in_sequence(&mut seq)
            .withf(|m| m.routing_key == keys::ORDER_QTY_CONFIRMED)
            .returning(|_| Ok(()));
        tx.expect_commit()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache
            .expect_delete()
            .times(1)
            .withf(move |keys| keys.len() == 2)
            .returning(|_| ());
        assert_eq!(service(tx, cache).handle(&msg).await, HandleOutcome::Ack);
    }

    #[tokio::test]
    async fn one_short_line_reserves_nothing_and_answers_qty_failed() {
        let (a, b) = (ProductId::new(), ProductId::new());
        let (order_id, msg) = order_created(&[(a, 2), (b, 2)]);
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_is_tombstoned().returning(|_| Ok(false));
        tx.expect_lock_stock()
            .returning(move |_| Ok(HashMap::from([(a, stock(5)), (b, stock(1))])));
        tx.expect_decrement_stock().never();
        tx.expect_insert_reservation().never();
        tx.expect_enqueue()
            .times(1)
            .withf(move |m| {
                let env: Envelope<OrderQtyFailedV1> = events::decode(m.payload.as_bytes()).unwrap();
                env.data.order_id == order_id
                    && env.data.reason == "insufficient_stock"
                    && env.data.failing_items
                        == vec![FailedItemV1 {
                            product_id: b,
                            requested: 2,
                            available: 1,
                        }]
            })
            .returning(|_| Ok(()));
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache.expect_delete().never();
        assert_eq!(service(tx, cache).handle(&msg).await, HandleOutcome::Ack);
    }

    #[tokio::test]
    async fn an_unknown_product_fails_the_order_with_that_reason() {
        let a = ProductId::new();
        let (_, msg) = order_created(&[(a, 1)]);
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_is_tombstoned().returning(|_| Ok(false));
        tx.expect_lock_stock().returning(|_| Ok(HashMap::new()));
        tx.expect_enqueue()
            .withf(|m| m.payload.contains("\"reason\":\"unknown_product\""))
            .returning(|_| Ok(()));
        tx.expect_commit().returning(|| Ok(()));
        assert_eq!(
            service(tx, MockCache::new()).handle(&msg).await,
            HandleOutcome::Ack
        );
    }

    #[tokio::test]
    async fn a_message_already_in_the_inbox_has_no_effect() {
        let (_, msg) = order_created(&[(ProductId::new(), 1)]);
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(false));
        tx.expect_lock_stock().never();
        tx.expect_enqueue().never();
        tx.expect_commit().never();
        assert_eq!(
            service(tx, MockCache::new()).handle(&msg).await,
            HandleOutcome::Ack
        );
    }

    #[tokio::test]
    async fn a_quantity_out_of_range_is_dead_lettered() {
        let (_, msg) = order_created(&[(ProductId::new(), 0)]);
        let mut store = MockProductStore::new();
        store.expect_begin().never();
        let service = ProductService::new(store, MockCache::new(), policy());
        assert!(matches!(
            service.handle(&msg).await,
            HandleOutcome::DeadLetter(_)
        ));
    }

    #[tokio::test]
    async fn a_cached_product_is_served_without_the_database() {
        let product = Product::create(
            ProductId::new(),
            ProductName::parse("Cached").unwrap(),
            Money::parse("2.00", Currency::USD).unwrap(),
            stock(3),
            crate::now(),
        )
        .unwrap();
        let entry = serde_json::to_string(&CachedProduct::of(&product)).unwrap();
        let mut cache = MockCache::new();
        cache
            .expect_get_many()
            .returning(move |_| vec![Some(entry.clone())]);
        let mut store = MockProductStore::new();
        store.expect_find().never();
        let service = ProductService::new(store, cache, policy());
        let (found, status) = service.get_product(product.id()).await.unwrap();
        assert_eq!(status, CacheStatus::Hit);
        assert_eq!(found, Some(product));
    }

    #[tokio::test]
    async fn a_miss_reads_the_database_and_fills_the_cache() {
        let id = ProductId::new();
        let mut cache = MockCache::new();
        cache.expect_get_many().returning(|_| vec![None]);
        cache
            .expect_set_many()
            .times(1)
            .withf(|entries, ttl| {
                entries[0].1.contains("\"state\":\"missing\"") && *ttl == Duration::from_secs(5)
            })
            .returning(|_, _| ());
        let mut store = MockProductStore::new();
        store.expect_find().times(1).returning(|_| Ok(None));
        let service = ProductService::new(store, cache, policy());
        let (found, status) = service.get_product(id).await.unwrap();
        assert_eq!((found, status), (None, CacheStatus::Miss));
    }

    fn order_message<E: events::IntegrationEvent>(event: &E) -> InboundMessage {
        let msg = OutboxMessage::new(event, crate::now());
        InboundMessage {
            message_id: Some(msg.id),
            routing_key: msg.routing_key,
            body: msg.payload.into_bytes(),
            redelivered: false,
        }
    }

    fn cancelled(order_id: OrderId) -> InboundMessage {
        order_message(&OrderCancelledV1 {
            order_id,
            reason: "customer".into(),
        })
    }

    fn shipped(order_id: OrderId) -> InboundMessage {
        order_message(&OrderShippedV1 {
            order_id,
            carrier: "UPS".into(),
            tracking_number: "1Z999".into(),
        })
    }

    fn reservation(product_id: ProductId, q: i64, status: ReservationStatus) -> Reservation {
        Reservation {
            product_id,
            quantity: Quantity::new(q).unwrap(),
            status,
        }
    }

    fn product_with_stock(n: i64) -> Product {
        Product::create(
            ProductId::new(),
            ProductName::parse("Widget").unwrap(),
            Money::parse("5.00", Currency::USD).unwrap(),
            stock(n),
            crate::now(),
        )
        .unwrap()
    }

    /// A store whose successive `begin` calls hand out `txs` in order.
    fn store_of(txs: Vec<MockInventoryTx>) -> MockProductStore {
        let mut store = MockProductStore::new();
        let mut seq = mockall::Sequence::new();
        for tx in txs {
            store
                .expect_begin()
                .times(1)
                .in_sequence(&mut seq)
                .return_once(move || Ok(Box::new(tx)));
        }
        store
    }

    #[tokio::test]
    async fn a_cancel_releases_the_active_reservations_and_evicts_their_products() {
        let (a, b) = (ProductId::new(), ProductId::new());
        let order_id = OrderId::new();
        let mut tx = MockInventoryTx::new();
        let mut seq = mockall::Sequence::new();
        tx.expect_record_inbox()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(true));
        tx.expect_reservations_of()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |o| *o == order_id)
            .returning(move |_| {
                Ok(vec![
                    reservation(a, 2, ReservationStatus::Active),
                    reservation(b, 1, ReservationStatus::Active),
                ])
            });
        tx.expect_release_reservations()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |o| *o == order_id)
            .returning(move |_| {
                Ok(vec![
                    ReservationLine {
                        product_id: a,
                        quantity: Quantity::new(2).unwrap(),
                    },
                    ReservationLine {
                        product_id: b,
                        quantity: Quantity::new(1).unwrap(),
                    },
                ])
            });
        tx.expect_insert_tombstone().never();
        tx.expect_commit()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(()));
        let mut cache = MockCache::new();
        let expected = vec![
            ProductService::<MockProductStore, MockCache>::key(a),
            ProductService::<MockProductStore, MockCache>::key(b),
        ];
        cache
            .expect_delete()
            .times(1)
            .withf(move |keys| keys == expected.as_slice())
            .returning(|_| ());
        assert_eq!(
            service(tx, cache).handle(&cancelled(order_id)).await,
            HandleOutcome::Ack
        );
    }

    #[tokio::test]
    async fn a_second_cancel_of_a_released_order_releases_nothing() {
        let order_id = OrderId::new();
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_reservations_of().returning(|_| {
            Ok(vec![reservation(
                ProductId::new(),
                2,
                ReservationStatus::Released,
            )])
        });
        tx.expect_release_reservations().never();
        tx.expect_insert_tombstone().never();
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache.expect_delete().never();
        assert_eq!(
            service(tx, cache).handle(&cancelled(order_id)).await,
            HandleOutcome::Ack
        );
    }

    #[tokio::test]
    async fn a_cancel_after_the_shipment_releases_nothing() {
        let order_id = OrderId::new();
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_reservations_of().returning(|_| {
            Ok(vec![reservation(
                ProductId::new(),
                2,
                ReservationStatus::Consumed,
            )])
        });
        tx.expect_release_reservations().never();
        tx.expect_insert_tombstone().never();
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache.expect_delete().never();
        assert_eq!(
            service(tx, cache).handle(&cancelled(order_id)).await,
            HandleOutcome::Ack
        );
    }

    #[tokio::test]
    async fn a_cancel_before_any_reservation_leaves_a_tombstone() {
        let order_id = OrderId::new();
        let mut tx = MockInventoryTx::new();
        let mut seq = mockall::Sequence::new();
        tx.expect_record_inbox()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(true));
        tx.expect_reservations_of()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Vec::new()));
        tx.expect_insert_tombstone()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |o, _| *o == order_id)
            .returning(|_, _| Ok(true));
        tx.expect_release_reservations().never();
        tx.expect_enqueue().never();
        tx.expect_commit()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(()));
        assert_eq!(
            service(tx, MockCache::new())
                .handle(&cancelled(order_id))
                .await,
            HandleOutcome::Ack
        );
    }

    #[tokio::test]
    async fn a_late_created_for_a_tombstoned_order_reserves_nothing_and_answers_nothing() {
        let (order_id, msg) = order_created(&[(ProductId::new(), 1)]);
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_is_tombstoned()
            .times(1)
            .withf(move |o| *o == order_id)
            .returning(|_| Ok(true));
        tx.expect_lock_stock().never();
        tx.expect_decrement_stock().never();
        tx.expect_insert_reservation().never();
        tx.expect_enqueue().never();
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache.expect_delete().never();
        assert_eq!(service(tx, cache).handle(&msg).await, HandleOutcome::Ack);
    }

    #[tokio::test]
    async fn a_shipment_consumes_the_reservations_without_touching_the_stock() {
        let order_id = OrderId::new();
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_consume_reservations()
            .times(1)
            .withf(move |o| *o == order_id)
            .returning(|_| Ok(2));
        tx.expect_release_reservations().never();
        tx.expect_adjust_stock().never();
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache.expect_delete().never();
        assert_eq!(
            service(tx, cache).handle(&shipped(order_id)).await,
            HandleOutcome::Ack
        );
    }

    #[tokio::test]
    async fn a_duplicate_cancel_or_shipment_has_no_effect() {
        for msg in [cancelled(OrderId::new()), shipped(OrderId::new())] {
            let mut tx = MockInventoryTx::new();
            tx.expect_record_inbox().returning(|_, _| Ok(false));
            tx.expect_reservations_of().never();
            tx.expect_consume_reservations().never();
            tx.expect_commit().never();
            assert_eq!(
                service(tx, MockCache::new()).handle(&msg).await,
                HandleOutcome::Ack
            );
        }
    }

    #[tokio::test]
    async fn a_failing_release_is_retried() {
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_reservations_of()
            .returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("deadlock"))));
        tx.expect_commit().never();
        assert!(matches!(
            service(tx, MockCache::new())
                .handle(&cancelled(OrderId::new()))
                .await,
            HandleOutcome::Retry(_)
        ));
    }

    #[tokio::test]
    async fn a_created_product_is_announced_in_the_same_transaction() {
        let mut tx = MockInventoryTx::new();
        let mut seq = mockall::Sequence::new();
        tx.expect_insert_product()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        tx.expect_enqueue()
            .times(1)
            .in_sequence(&mut seq)
            .withf(|m| {
                let env: Envelope<ProductCreatedV1> = events::decode(m.payload.as_bytes()).unwrap();
                env.data.0.name == "Lamp" && env.data.0.price == "12.50" && env.data.0.version == 1
            })
            .returning(|_| Ok(()));
        tx.expect_commit()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(()));
        let product = service(tx, MockCache::new())
            .create_product(NewProduct {
                id: None,
                name: ProductName::parse("Lamp").unwrap(),
                price: Money::parse("12.50", Currency::USD).unwrap(),
                stock: stock(3),
            })
            .await
            .unwrap();
        assert_eq!(product.version(), 1);
    }

    fn adjust(delta: i64, expected_version: Option<u32>) -> AdjustStock {
        AdjustStock {
            delta: StockDelta::new(delta).unwrap(),
            reason: AdjustmentReason::parse("recount").unwrap(),
            expected_version,
            request_id: Some("req-1".into()),
            adjustment_id: None,
        }
    }

    #[tokio::test]
    async fn an_adjustment_below_zero_is_refused_and_writes_nothing() {
        let product = product_with_stock(2);
        let id = product.id();
        let mut tx = MockInventoryTx::new();
        tx.expect_lock_product()
            .times(1)
            .return_once(move |_| Ok(Some(product)));
        tx.expect_adjust_stock().never();
        tx.expect_insert_adjustment().never();
        tx.expect_commit().never();
        let mut cache = MockCache::new();
        cache.expect_delete().never();
        let err = service(tx, cache)
            .adjust_stock(id, adjust(-3, None))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                AdjustStockError::Refused(AdjustmentError::BelowZero {
                    available: 2,
                    delta: -3
                })
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_adjustment_is_applied_recorded_and_evicted_after_the_commit() {
        let product = product_with_stock(2);
        let id = product.id();
        let mut tx = MockInventoryTx::new();
        let mut seq = mockall::Sequence::new();
        tx.expect_lock_product()
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move |_| Ok(Some(product)));
        tx.expect_adjust_stock()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |p, d, _| *p == id && d.get() == 5)
            .returning(|_, _, _| Ok(Some(stock(7))));
        tx.expect_insert_adjustment()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |a| {
                a.product_id == id
                    && a.delta.get() == 5
                    && a.stock_after.get() == 7
                    && a.reason.as_str() == "recount"
                    && a.cause == "request:req-1"
            })
            .returning(|_| Ok(()));
        tx.expect_commit()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache
            .expect_delete()
            .times(1)
            .withf(move |keys| keys.len() == 1 && keys[0].ends_with(&id.to_string()))
            .returning(|_| ());
        let (after, adjustment) = service(tx, cache)
            .adjust_stock(id, adjust(5, Some(1)))
            .await
            .unwrap();
        assert_eq!((after.stock().get(), after.version()), (7, 2));
        assert_eq!(adjustment.stock_after.get(), 7);
    }

    #[tokio::test]
    async fn a_stale_if_match_refuses_an_adjustment_before_anything_is_written() {
        let product = product_with_stock(2);
        let id = product.id();
        let mut tx = MockInventoryTx::new();
        tx.expect_lock_product()
            .return_once(move |_| Ok(Some(product)));
        tx.expect_adjust_stock().never();
        tx.expect_commit().never();
        let err = service(tx, MockCache::new())
            .adjust_stock(id, adjust(1, Some(7)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            AdjustStockError::VersionMismatch { current: 1 }
        ));
    }

    fn rename(expected_version: Option<u32>) -> ProductChange {
        ProductChange {
            name: Some(ProductName::parse("Gadget").unwrap()),
            price: Some(Money::parse("6.00", Currency::USD).unwrap()),
            expected_version,
        }
    }

    #[tokio::test]
    async fn an_update_writes_the_change_and_product_updated_in_one_transaction() {
        let product = product_with_stock(2);
        let id = product.id();
        let mut tx = MockInventoryTx::new();
        let mut seq = mockall::Sequence::new();
        tx.expect_lock_product()
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move |_| Ok(Some(product)));
        tx.expect_update_product()
            .times(1)
            .in_sequence(&mut seq)
            .withf(|p, expected| {
                *expected == 1 && p.version() == 2 && p.name().as_str() == "Gadget"
            })
            .returning(|_, _| Ok(true));
        tx.expect_enqueue()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |m| {
                let env: Envelope<ProductUpdatedV1> = events::decode(m.payload.as_bytes()).unwrap();
                env.data.0.product_id == id && env.data.0.price == "6.00" && env.data.0.version == 2
            })
            .returning(|_| Ok(()));
        tx.expect_commit()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache.expect_delete().times(1).returning(|_| ());
        let updated = service(tx, cache)
            .update_product(id, rename(Some(1)))
            .await
            .unwrap();
        assert_eq!((updated.name().as_str(), updated.version()), ("Gadget", 2));
    }

    #[tokio::test]
    async fn an_update_without_if_match_that_loses_a_race_is_retried() {
        let product = product_with_stock(2);
        let id = product.id();
        let mut raced = product.clone();
        raced
            .revise(
                Some(ProductName::parse("Other").unwrap()),
                None,
                crate::now(),
            )
            .unwrap();
        let mut first = MockInventoryTx::new();
        first
            .expect_lock_product()
            .return_once(move |_| Ok(Some(product)));
        first.expect_update_product().returning(|_, _| Ok(false));
        first.expect_enqueue().never();
        first.expect_commit().never();
        let mut second = MockInventoryTx::new();
        second
            .expect_lock_product()
            .return_once(move |_| Ok(Some(raced)));
        second
            .expect_update_product()
            .times(1)
            .withf(|p, expected| *expected == 2 && p.version() == 3)
            .returning(|_, _| Ok(true));
        second.expect_enqueue().times(1).returning(|_| Ok(()));
        second.expect_commit().times(1).returning(|| Ok(()));
        let mut cache = MockCache::new();
        cache.expect_delete().times(1).returning(|_| ());
        let service = ProductService::new(store_of(vec![first, second]), cache, policy());
        let updated = service.update_product(id, rename(None)).await.unwrap();
        assert_eq!(updated.version(), 3);
    }

    #[tokio::test]
    async fn a_stale_if_match_refuses_an_update_and_writes_nothing() {
        let product = product_with_stock(2);
        let id = product.id();
        let mut tx = MockInventoryTx::new();
        tx.expect_lock_product()
            .return_once(move |_| Ok(Some(product)));
        tx.expect_update_product().never();
        tx.expect_enqueue().never();
        tx.expect_commit().never();
        let err = service(tx, MockCache::new())
            .update_product(id, rename(Some(3)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            UpdateProductError::VersionMismatch { current: 1 }
        ));
    }

    #[tokio::test]
    async fn an_update_of_an_unknown_product_is_not_found() {
        let mut tx = MockInventoryTx::new();
        tx.expect_lock_product().returning(|_| Ok(None));
        tx.expect_commit().never();
        let err = service(tx, MockCache::new())
            .update_product(ProductId::new(), rename(None))
            .await
            .unwrap_err();
        assert!(matches!(err, UpdateProductError::NotFound(_)));
    }
}
