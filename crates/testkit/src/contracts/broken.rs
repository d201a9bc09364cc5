//! Adapters with one rule broken on purpose, wrapping a working one. Each must make its suite
//! panic: the tests of the suites themselves.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::bus::{BusFixture, RunningConsumer};
use super::cache::CacheFixture;
use chrono::{DateTime, Utc};
use domain::product::StockDelta;
use domain::{CustomerId, MessageId, Order, OrderId, Product, ProductId, ReservationLine, Stock};
use ports::inventory::{InventoryTx, ProductStore, Reservation, StockAdjustment};
use ports::ordering::{HistoryEntry, NewOrder, OrderFilter, OrderStore, OrderTx};
use ports::{
    Cache, EventPublisher, HandleOutcome, InboundMessage, MessageHandler, OutboxMessage, Page,
    PageRequest, StoreError,
};

/// An order store whose transactions' `record_inbox` always answers `true`: every duplicate
/// delivery would be applied again.
pub struct ForgetfulInbox(pub Arc<dyn OrderStore>);

impl std::fmt::Debug for ForgetfulInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForgetfulInbox")
    }
}

struct ForgetfulInboxTx(Box<dyn OrderTx>);

#[async_trait]
impl OrderStore for ForgetfulInbox {
    async fn begin(&self) -> Result<Box<dyn OrderTx>, StoreError> {
        Ok(Box::new(ForgetfulInboxTx(self.0.begin().await?)))
    }

    async fn insert_new(&self, order: NewOrder) -> Result<(), StoreError> {
        self.0.insert_new(order).await
    }

    async fn find<'a>(
        &self,
        id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Option<Order>, StoreError> {
        self.0.find(id, owner).await
    }

    async fn list(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.0.list(filter, page).await
    }

    async fn history<'a>(
        &self,
        order_id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.0.history(order_id, owner).await
    }

    async fn stuck_pending(
        &self,
        placed_before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<(OrderId, u32)>, StoreError> {
        self.0.stuck_pending(placed_before, limit).await
    }

    async fn count_pending_before(
        &self,
        placed_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        self.0.count_pending_before(placed_before).await
    }
}

#[async_trait]
impl OrderTx for ForgetfulInboxTx {
    async fn record_inbox(
        &mut self,
        consumer: &str,
        message_id: MessageId,
    ) -> Result<bool, StoreError> {
        self.0.record_inbox(consumer, message_id).await?;
        Ok(true)
    }

    async fn record_inbox_all(
        &mut self,
        consumer: &str,
        message_ids: &[MessageId],
    ) -> Result<Vec<bool>, StoreError> {
        self.0.record_inbox_all(consumer, message_ids).await?;
        Ok(vec![true; message_ids.len()])
    }

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        self.0.insert_order(order).await
    }

    async fn load_for_update<'a>(
        &mut self,
        id: OrderId,
        owner: Option<&'a CustomerId>,
    ) -> Result<Option<Order>, StoreError> {
        self.0.load_for_update(id, owner).await
    }

    async fn load_all_for_update(&mut self, ids: &[OrderId]) -> Result<Vec<Order>, StoreError> {
        self.0.load_all_for_update(ids).await
    }

    async fn update(&mut self, order: &Order, expected_version: u32) -> Result<bool, StoreError> {
        self.0.update(order, expected_version).await
    }

    async fn history(&mut self, order_id: OrderId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.0.history(order_id).await
    }

    async fn reemit(
        &mut self,
        order_id: OrderId,
        message: &OutboxMessage,
    ) -> Result<(), StoreError> {
        self.0.reemit(order_id, message).await
    }

    async fn append_history(&mut self, entry: &HistoryEntry) -> Result<(), StoreError> {
        self.0.append_history(entry).await
    }

    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError> {
        self.0.enqueue(message).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.0.commit().await
    }
}

/// A product store whose transactions' `decrement_stock` reports success without taking
/// anything when the stock is short: an oversell.
pub struct OverdrawingStock(pub Arc<dyn ProductStore>);

impl std::fmt::Debug for OverdrawingStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OverdrawingStock")
    }
}

/// A product store whose transactions' `consume_reservations` releases the reservations
/// instead: a shipped order's units come back to the stock.
pub struct ShipmentReleases(pub Arc<dyn ProductStore>);

impl std::fmt::Debug for ShipmentReleases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShipmentReleases")
    }
}

/// The rule a [`FaultyInventoryTx`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InventoryFault {
    Overdraw,
    ReleaseOnShip,
}

struct FaultyInventoryTx {
    inner: Box<dyn InventoryTx>,
    fault: InventoryFault,
}

macro_rules! faulty_product_store {
    ($store:ident, $fault:expr) => {
        #[async_trait]
        impl ProductStore for $store {
            async fn begin(&self) -> Result<Box<dyn InventoryTx>, StoreError> {
                Ok(Box::new(FaultyInventoryTx {
                    inner: self.0.begin().await?,
                    fault: $fault,
                }))
            }

            async fn find(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
                self.0.find(id).await
            }

            async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
                self.0.find_many(ids).await
            }

            async fn list(&self, page: PageRequest) -> Result<Page<Product>, StoreError> {
                self.0.list(page).await
            }

            async fn adjustments(
                &self,
                product_id: ProductId,
                page: PageRequest,
            ) -> Result<Page<StockAdjustment>, StoreError> {
                self.0.adjustments(product_id, page).await
            }

            async fn adjustment(
                &self,
                product_id: ProductId,
                id: uuid::Uuid,
            ) -> Result<Option<StockAdjustment>, StoreError> {
                self.0.adjustment(product_id, id).await
            }
        }
    };
}

faulty_product_store!(OverdrawingStock, InventoryFault::Overdraw);
faulty_product_store!(ShipmentReleases, InventoryFault::ReleaseOnShip);

#[async_trait]
impl InventoryTx for FaultyInventoryTx {
    async fn record_inbox(
        &mut self,
        consumer: &str,
        message_id: MessageId,
    ) -> Result<bool, StoreError> {
        self.inner.record_inbox(consumer, message_id).await
    }

    async fn record_inbox_all(
        &mut self,
        consumer: &str,
        message_ids: &[MessageId],
    ) -> Result<Vec<bool>, StoreError> {
        self.inner.record_inbox_all(consumer, message_ids).await
    }

    async fn insert_product(&mut self, product: &Product) -> Result<(), StoreError> {
        self.inner.insert_product(product).await
    }

    async fn lock_stock(
        &mut self,
        ids: &[ProductId],
    ) -> Result<HashMap<ProductId, Stock>, StoreError> {
        self.inner.lock_stock(ids).await
    }

    async fn decrement_stock(&mut self, id: ProductId, units: u32) -> Result<bool, StoreError> {
        let taken = self.inner.decrement_stock(id, units).await?;
        Ok(taken || self.fault == InventoryFault::Overdraw)
    }

    async fn insert_reservations(
        &mut self,
        reservations: &[(OrderId, ReservationLine)],
    ) -> Result<(), StoreError> {
        self.inner.insert_reservations(reservations).await
    }

    async fn lock_product(&mut self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.inner.lock_product(id).await
    }

    async fn update_product(
        &mut self,
        product: &Product,
        expected_version: u32,
    ) -> Result<bool, StoreError> {
        self.inner.update_product(product, expected_version).await
    }

    async fn adjust_stock(
        &mut self,
        id: ProductId,
        delta: StockDelta,
        at: DateTime<Utc>,
    ) -> Result<Option<Stock>, StoreError> {
        self.inner.adjust_stock(id, delta, at).await
    }

    async fn insert_adjustment(&mut self, adjustment: &StockAdjustment) -> Result<(), StoreError> {
        self.inner.insert_adjustment(adjustment).await
    }

    async fn reservations_of(&mut self, order_id: OrderId) -> Result<Vec<Reservation>, StoreError> {
        self.inner.reservations_of(order_id).await
    }

    async fn release_reservations(
        &mut self,
        order_id: OrderId,
    ) -> Result<Vec<ReservationLine>, StoreError> {
        self.inner.release_reservations(order_id).await
    }

    async fn consume_reservations(&mut self, order_id: OrderId) -> Result<u64, StoreError> {
        if self.fault == InventoryFault::ReleaseOnShip {
            let released = self.inner.release_reservations(order_id).await?;
            return Ok(released.len() as u64);
        }
        self.inner.consume_reservations(order_id).await
    }

    async fn insert_tombstone(
        &mut self,
        order_id: OrderId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.insert_tombstone(order_id, at).await
    }

    async fn tombstoned(&mut self, order_ids: &[OrderId]) -> Result<HashSet<OrderId>, StoreError> {
        self.inner.tombstoned(order_ids).await
    }

    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<(), StoreError> {
        self.inner.enqueue(message).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.inner.commit().await
    }
}

/// A cache fixture whose caches keep every entry for an hour, whatever TTL they are given.
#[derive(Debug)]
pub struct IgnoresTtl<F>(pub F);

struct TtlIgnoringCache(Arc<dyn Cache>);

impl<F: CacheFixture> CacheFixture for IgnoresTtl<F> {
    fn cache(&self, namespace: &str) -> Arc<dyn Cache> {
        Arc::new(TtlIgnoringCache(self.0.cache(namespace)))
    }
}

#[async_trait]
impl Cache for TtlIgnoringCache {
    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>> {
        self.0.get_many(keys).await
    }

    async fn set_many(&self, entries: &[(String, String)], _ttl: Duration) {
        self.0.set_many(entries, Duration::from_secs(3600)).await;
    }

    async fn delete(&self, keys: &[String]) {
        self.0.delete(keys).await;
    }
}

/// A bus fixture whose consumers acknowledge a delivery the handler asked to retry: the
/// message is lost instead of redelivered. Shares the wrapped fixture, so its owner can still
/// tear it down.
#[derive(Debug)]
pub struct SwallowsRetries<F: ?Sized>(pub Arc<F>);

struct RetryAsAck(Arc<dyn MessageHandler>);

#[async_trait]
impl MessageHandler for RetryAsAck {
    fn routing_keys(&self) -> Vec<&'static str> {
        self.0.routing_keys()
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        match self.0.handle(message).await {
            HandleOutcome::Retry(_) => HandleOutcome::Ack,
            other => other,
        }
    }
}

#[async_trait]
impl<F: BusFixture + ?Sized> BusFixture for SwallowsRetries<F> {
    fn publisher(&self) -> Arc<dyn EventPublisher> {
        self.0.publisher()
    }

    async fn start_consumer(&self, handler: Arc<dyn MessageHandler>) -> Box<dyn RunningConsumer> {
        self.0.start_consumer(Arc::new(RetryAsAck(handler))).await
    }

    async fn dead_letters(&self) -> Vec<Vec<u8>> {
        self.0.dead_letters().await
    }

    fn delivery_limit(&self) -> u32 {
        self.0.delivery_limit()
    }
}
