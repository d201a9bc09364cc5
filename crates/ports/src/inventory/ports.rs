//! The driven ports of the inventory use cases: product, stock and reservation storage (with
//! its transaction), and the read models it returns.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::OutboxMessage;
use crate::store::{Page, PageRequest, StoreError};
use domain::product::{AdjustmentReason, StockDelta};
use domain::{MessageId, OrderId, Product, ProductId, Quantity, ReservationLine, Stock};

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
    /// [`InventoryTx::record_inbox`] for several messages at once: `true` for each message
    /// recorded now, `false` for one recorded before (or repeated earlier in `message_ids`).
    async fn record_inbox_all(
        &mut self,
        consumer: &str,
        message_ids: &[MessageId],
    ) -> Result<Vec<bool>, StoreError>;
    /// Inserts a new product.
    async fn insert_product(&mut self, product: &Product) -> Result<(), StoreError>;
    /// Locks the products among `ids` that exist, in ascending id order (so concurrent
    /// reservations never wait on each other in a cycle), and returns their stock. Unknown ids
    /// are absent from the map.
    async fn lock_stock(
        &mut self,
        ids: &[ProductId],
    ) -> Result<HashMap<ProductId, Stock>, StoreError>;
    /// Takes `units` units, only if at least that many are on hand (a conditional update;
    /// the database also refuses a negative stock), bumping the version. Returns whether the
    /// units were taken.
    async fn decrement_stock(&mut self, id: ProductId, units: u32) -> Result<bool, StoreError>;
    /// [`Self::decrement_stock`] for several distinct products at once (one statement where
    /// the database allows): takes each product's units if at least that many are on hand and
    /// leaves the others untouched. Returns how many products had their units taken.
    async fn decrement_stock_all(
        &mut self,
        units: &[(ProductId, u32)],
    ) -> Result<usize, StoreError> {
        let mut taken = 0;
        for &(id, n) in units {
            taken += usize::from(self.decrement_stock(id, n).await?);
        }
        Ok(taken)
    }
    /// Records units reserved for orders, one row per order and product (unique per order
    /// and product: a repeat fails the call and inserts none of them).
    async fn insert_reservations(
        &mut self,
        reservations: &[(OrderId, ReservationLine)],
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
    /// Which of `order_ids` have a tombstone. Locks the answer until the transaction ends: a
    /// concurrent [`InventoryTx::insert_tombstone`] for one of these orders waits (or one of
    /// the two fails as `Unavailable`, to be retried).
    async fn tombstoned(&mut self, order_ids: &[OrderId]) -> Result<HashSet<OrderId>, StoreError>;
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
