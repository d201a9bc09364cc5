//! The driven ports of the order use cases: order storage (with its transaction) and the
//! product catalogue that prices orders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use domain::{CustomerId, MessageId, Money, Order, OrderId, OrderStatus, ProductId};

use crate::events::OutboxMessage;
use crate::store::{Page, PageRequest, StoreError};

/// Filters for listing orders; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only orders with a line for this product.
    pub product_id: Option<ProductId>,
    /// Only orders of this customer.
    pub customer_id: Option<CustomerId>,
}

/// One row of an order's status history. `seq` is the order's version after the change, so
/// the sequence is gap-free per order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The order.
    pub order_id: OrderId,
    /// Position in the order's history, from 1.
    pub seq: u32,
    /// Status before (`None` for the placement).
    pub from: Option<OrderStatus>,
    /// Status after.
    pub to: OrderStatus,
    /// Why (rejection reason).
    pub reason: Option<String>,
    /// What caused it.
    pub cause: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One database transaction of the order service. Dropping it without [`OrderTx::commit`]
/// rolls everything back.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderTx: Send {
    /// Records that `consumer` handled `message_id`. Returns `false` when it already had: the
    /// effect was applied before, and the caller must not apply it again.
    async fn record_inbox(
        &mut self,
        consumer: &str,
        message_id: MessageId,
    ) -> Result<bool, StoreError>;
    /// [`OrderTx::record_inbox`] for several messages at once: `true` for each message
    /// recorded now, `false` for one recorded before (or repeated earlier in `message_ids`).
    async fn record_inbox_all(
        &mut self,
        consumer: &str,
        message_ids: &[MessageId],
    ) -> Result<Vec<bool>, StoreError>;
    /// Inserts a new order with its items; [`StoreError::Duplicate`] when its id exists.
    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError>;
    /// Reads an order and locks it until the transaction ends; with an `owner`, only when the
    /// order is that customer's (the condition is part of the query).
    async fn load_for_update<'a>(
        &mut self,
        id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Option<Order>, StoreError>;
    /// Reads the orders among `ids` that exist, locked until the transaction ends, in
    /// ascending id order (the order their locks are taken in).
    async fn load_all_for_update(&mut self, ids: &[OrderId]) -> Result<Vec<Order>, StoreError>;
    /// Writes the order's mutable state (status, rejection reason, details, shipment,
    /// version, timestamp), only if the stored version is still `expected_version`. Returns
    /// whether it was written.
    async fn update(&mut self, order: &Order, expected_version: u32) -> Result<bool, StoreError>;
    /// The order's history rows, in `seq` order.
    async fn history(&mut self, order_id: OrderId) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Publishes `message` again (the outbox row with its id goes back to unpublished, or is
    /// written anew if it was purged) and counts one more re-emission of the order.
    async fn reemit(
        &mut self,
        order_id: OrderId,
        message: &OutboxMessage,
    ) -> Result<(), StoreError>;
    /// Appends a history row.
    async fn append_history(&mut self, entry: &HistoryEntry) -> Result<(), StoreError>;
    /// Adds a message to the outbox.
    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError>;
    /// Commits, then wakes the outbox relay.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A new order as it is stored: the order, its history rows and its messages.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The order (its items included).
    pub order: Order,
    /// Its first history rows.
    pub history: Vec<HistoryEntry>,
    /// The messages its placement publishes (through the outbox).
    pub messages: Vec<OutboxMessage>,
}

/// Order persistence.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn OrderTx>, StoreError>;
    /// Stores a new order with its history rows and messages, all or nothing, and wakes the
    /// outbox relay; [`StoreError::Duplicate`] when its id exists. Concurrent calls may share
    /// one transaction (each still all or nothing: one call's failure fails no other).
    async fn insert_new(&self, order: NewOrder) -> Result<(), StoreError>;
    /// Reads one order; with an `owner`, only when the order is that customer's (the
    /// condition is part of the query, so another customer's order is never read).
    async fn find<'a>(
        &self,
        id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Option<Order>, StoreError>;
    /// Lists orders newest first, by keyset.
    async fn list(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError>;
    /// The order's history rows, in `seq` order (empty for an unknown order, or one that is
    /// not `owner`'s when an owner is given).
    async fn history<'a>(
        &self,
        order_id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Orders still `pending` that were placed before `placed_before`, oldest first, with
    /// how many times their `order.created` was re-emitted.
    async fn stuck_pending(
        &self,
        placed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(OrderId, u32)>, StoreError>;
    /// How many orders are still `pending` that were placed before `placed_before`.
    async fn count_pending_before(&self, placed_before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// What the order service needs to know about a product to price a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogProduct {
    /// The product.
    pub id: ProductId,
    /// Its current name.
    pub name: String,
    /// Its current unit price.
    pub price: Money,
}

/// The product catalogue could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The product service (or the network to it) failed.
    #[error("product catalogue unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Recent calls failed so often that calls are refused for a while (a circuit breaker is
    /// open): failing fast instead of waiting on a sick dependency.
    #[error("product catalogue calls suspended after repeated failures")]
    Suspended,
}

/// Reads product names and prices (from the product service).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ProductCatalog: Send + Sync + 'static {
    /// The products among `ids` that exist; unknown ids are simply absent.
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError>;

    /// Forgets any copy of these products (after `product.updated`). Nothing to do for a
    /// catalogue without a cache.
    async fn evict(&self, ids: &[ProductId]) {
        let _ = ids;
    }

    /// Loads these products fresh from the source into any cache in front of it; returns the
    /// ids that exist.
    async fn warm(&self, ids: &[ProductId]) -> Result<Vec<ProductId>, CatalogError> {
        Ok(self
            .find_many(ids)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect())
    }
}

#[async_trait]
impl<T: ProductCatalog + ?Sized> ProductCatalog for std::sync::Arc<T> {
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
        (**self).find_many(ids).await
    }
    async fn evict(&self, ids: &[ProductId]) {
        (**self).evict(ids).await
    }
    async fn warm(&self, ids: &[ProductId]) -> Result<Vec<ProductId>, CatalogError> {
        (**self).warm(ids).await
    }
}
