//! The product service's ports and use cases: products, stock and reservations.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::cache::{Cache, jittered};
use crate::events::{
    self, DecodeError, Envelope, FailedItemV1, OrderCreatedV1, OrderQtyConfirmedV1,
    OrderQtyFailedV1, OutboxMessage, keys,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::store::{Page, PageRequest, StoreError};
use domain::{
    Currency, MessageId, Money, OrderId, Product, ProductId, ProductName, Quantity,
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
}

/// A product to create, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
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
        let product = Product::create(
            ProductId::new(),
            new.name,
            new.price,
            new.stock,
            crate::now(),
        )
        .map_err(|e| StoreError::Unknown(anyhow::anyhow!(e)))?;
        let mut tx = self.store.begin().await?;
        tx.insert_product(&product).await?;
        tx.commit().await?;
        info!(product_id = %product.id(), stock = %product.stock(), "product created");
        Ok(product)
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
        match self.try_reserve(envelope.id, order_id, &lines).await {
            Ok(Some(touched)) => {
                let keys: Vec<String> = touched.into_iter().map(Self::key).collect();
                if !keys.is_empty() {
                    self.cache.delete(&keys).await;
                }
                HandleOutcome::Ack
            }
            Ok(None) => HandleOutcome::Ack,
            Err(e) => HandleOutcome::Retry(format!("{:#}", anyhow::Error::from(e))),
        }
    }

    /// Returns the products whose stock changed, or `None` for a duplicate message.
    async fn try_reserve(
        &self,
        message_id: MessageId,
        order_id: OrderId,
        lines: &[ReservationLine],
    ) -> Result<Option<Vec<ProductId>>, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(None);
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
        Ok(Some(touched))
    }
}

#[async_trait]
impl<S: ProductStore, K: Cache> MessageHandler for ProductService<S, K> {
    fn routing_keys(&self) -> Vec<&'static str> {
        vec![keys::ORDER_CREATED]
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        match message.routing_key.as_str() {
            keys::ORDER_CREATED => match events::decode::<OrderCreatedV1>(&message.body) {
                Ok(envelope) => self.reserve(envelope).await,
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
}
