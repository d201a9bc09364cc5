//! The order service's ports and use cases.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::cache::{Cache, jittered};
use crate::events::{
    self, DecodeError, OrderCancelledV1, OrderCreatedV1, OrderDeliveredV1, OrderQtyConfirmedV1,
    OrderQtyFailedV1, OrderShippedV1, OrderedItemV1, OutboxMessage, ProductCreatedV1,
    ProductUpdatedV1, keys,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::store::{Page, PageRequest, StoreError};
use domain::{
    Currency, CustomerId, MessageId, Money, NewOrderItem, Order, OrderDetails, OrderError, OrderId,
    OrderLine, OrderStatus, ProductId, RejectionReason, Shipment, Transition, validate_lines,
};

/// Name under which the order service records handled messages in its inbox.
pub const CONSUMER: &str = "order-service";

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

/// What caused a change, kept in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// An API request (with its `X-Request-Id` when the client sent one).
    Request(Option<String>),
    /// An API request carrying an `Idempotency-Key`: a retry of it is the same request.
    IdempotentRequest(String),
    /// An integration message.
    Message(MessageId),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Request(Some(id)) => write!(f, "request:{id}"),
            Cause::Request(None) => f.write_str("request"),
            Cause::IdempotentRequest(key) => write!(f, "idempotency-key:{key}"),
            Cause::Message(id) => write!(f, "message:{id}"),
        }
    }
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

impl HistoryEntry {
    fn placed(order: &Order, cause: &Cause) -> Self {
        Self {
            order_id: order.id(),
            seq: order.version(),
            from: None,
            to: order.status(),
            reason: None,
            cause: cause.to_string(),
            at: order.created_at(),
        }
    }

    fn transition(order_id: OrderId, t: &Transition, cause: &Cause) -> Self {
        Self {
            order_id,
            seq: t.version,
            from: Some(t.from),
            to: t.to,
            reason: t.reason.map(|r| r.as_str().to_owned()),
            cause: cause.to_string(),
            at: t.at,
        }
    }
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
    /// Inserts a new order with its items; [`StoreError::Duplicate`] when its id exists.
    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError>;
    /// Reads an order and locks it until the transaction ends.
    async fn load_for_update(&mut self, id: OrderId) -> Result<Option<Order>, StoreError>;
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

/// Order persistence.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn OrderTx>, StoreError>;
    /// Reads one order.
    async fn find(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
    /// Lists orders newest first, by keyset.
    async fn list(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError>;
    /// The order's history rows, in `seq` order (empty for an unknown order).
    async fn history(&self, order_id: OrderId) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Orders still `pending` that were placed before `placed_before`, oldest first, with
    /// how many times their `order.created` was re-emitted.
    async fn stuck_pending(
        &self,
        placed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(OrderId, u32)>, StoreError>;
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

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum CatalogEntry {
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
        let fetched_ids: std::collections::HashSet<ProductId> =
            fetched.iter().map(|p| p.id).collect();
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

/// A request to place an order, already parsed into domain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    /// The id to give the order: set when an idempotency key reserved one, so that a retry
    /// after a crash finds the order it already placed instead of placing a second.
    pub order_id: Option<OrderId>,
    /// Who orders, when known.
    pub customer_id: Option<CustomerId>,
    /// What, and how many.
    pub lines: Vec<OrderLine>,
    /// Shipping address and note.
    pub details: OrderDetails,
    /// The request that asked for it.
    pub cause: Cause,
}

/// Why an order was not placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// The lines break a rule (empty, too many, duplicates, overflow).
    #[error(transparent)]
    Invalid(#[from] OrderError),
    /// Some products do not exist.
    #[error("unknown products: {0:?}")]
    UnknownProducts(Vec<ProductId>),
    /// The catalogue could not price the order.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A product's price is in another currency than this deployment's.
    #[error("product {product_id} is priced in {found}, orders are in {expected}")]
    CurrencyMismatch {
        /// The product.
        product_id: ProductId,
        /// Its currency.
        found: Currency,
        /// The deployment's.
        expected: Currency,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change a client asks of an existing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// `pending | confirmed → cancelled`; the inventory releases what it reserved.
    Cancel,
    /// `confirmed → shipped`; the reservation is consumed.
    Ship(Shipment),
    /// `shipped → delivered`.
    Deliver,
    /// New shipping address and note, while `pending` or `confirmed`.
    UpdateDetails(OrderDetails),
}

impl OrderCommand {
    /// The action's name, as in `allowed_actions`.
    pub fn action(&self) -> &'static str {
        match self {
            OrderCommand::Cancel => "cancel",
            OrderCommand::Ship(_) => "ship",
            OrderCommand::Deliver => "deliver",
            OrderCommand::UpdateDetails(_) => "update",
        }
    }
}

/// Why a change of an order was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeOrderError {
    /// No such order.
    #[error("no order {0}")]
    NotFound(OrderId),
    /// The client's `If-Match` version is not the current one.
    #[error("the order is at version {current_version}")]
    Stale {
        /// The order's version.
        current_version: u32,
    },
    /// The order's status does not allow the action.
    #[error("an order that is {status} cannot {action}")]
    NotAllowed {
        /// What was asked.
        action: &'static str,
        /// The order's status.
        status: OrderStatus,
        /// What may still be done with it.
        allowed_actions: Vec<&'static str>,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The message id of an order's `order.created`: its own id, so that a re-emission is the same
/// message (deduplicated by the inventory's inbox).
pub fn created_message_id(order_id: OrderId) -> MessageId {
    MessageId::from_uuid(order_id.as_uuid())
}

/// An order's `order.created`. The order id doubles as the message id, so the sweeper can
/// re-emit the very same message.
fn created_message(order: &Order) -> OutboxMessage {
    let created = OrderCreatedV1 {
        order_id: order.id(),
        items: order
            .items()
            .iter()
            .map(|i| OrderedItemV1 {
                product_id: i.product_id(),
                quantity: i.quantity().get(),
            })
            .collect(),
    };
    OutboxMessage::with_id(created_message_id(order.id()), &created, order.created_at())
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Orders whose `order.created` went out again.
    pub reemitted: Vec<OrderId>,
    /// Orders rejected with reason `timeout` (and `order.cancelled` emitted).
    pub timed_out: Vec<OrderId>,
}

/// Cause recorded in the history for changes by the sweeper.
pub const SWEEPER: &str = "sweeper";

/// Reason recorded in the history for a details update (a row whose status stays).
pub const DETAILS_UPDATED: &str = "details_updated";

/// The order service's use cases.
#[derive(Debug)]
pub struct OrderService<S, C> {
    store: S,
    catalog: C,
    currency: Currency,
}

impl<S: OrderStore, C: ProductCatalog> OrderService<S, C> {
    /// Wires the use cases to their ports.
    pub fn new(store: S, catalog: C, currency: Currency) -> Self {
        Self {
            store,
            catalog,
            currency,
        }
    }

    /// The order store (for health checks).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The product catalogue (for cache warm-up).
    pub fn catalog(&self) -> &C {
        &self.catalog
    }

    /// Prices the lines from the catalogue and stores the order with its `order.created`
    /// message in one transaction.
    #[tracing::instrument(skip_all, fields(items = request.lines.len()))]
    pub async fn place_order(&self, request: PlaceOrder) -> Result<Order, PlaceOrderError> {
        validate_lines(&request.lines)?;
        if let Some(id) = request.order_id
            && let Some(existing) = self.store.find(id).await?
        {
            // A retry of a request whose order was placed before a crash.
            return Ok(existing);
        }
        let ids: Vec<ProductId> = request.lines.iter().map(|l| l.product_id).collect();
        let products: HashMap<ProductId, CatalogProduct> = self
            .catalog
            .find_many(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let unknown: Vec<ProductId> = ids
            .iter()
            .filter(|id| !products.contains_key(id))
            .copied()
            .collect();
        if !unknown.is_empty() {
            return Err(PlaceOrderError::UnknownProducts(unknown));
        }
        let mut items = Vec::with_capacity(request.lines.len());
        for line in &request.lines {
            let product = &products[&line.product_id];
            if product.price.currency() != self.currency {
                return Err(PlaceOrderError::CurrencyMismatch {
                    product_id: product.id,
                    found: product.price.currency(),
                    expected: self.currency,
                });
            }
            items.push(NewOrderItem {
                product_id: line.product_id,
                product_name: product.name.clone(),
                unit_price: product.price,
                quantity: line.quantity,
            });
        }
        let now = crate::now();
        let mut order = Order::place(
            request.order_id.unwrap_or_else(OrderId::new),
            request.customer_id,
            items,
            self.currency,
            now,
        )?
        .with_details(request.details);
        let mut tx = self.store.begin().await?;
        match tx.insert_order(&order).await {
            Err(StoreError::Duplicate) if request.order_id.is_some() => {
                drop(tx);
                if let Some(existing) = self.store.find(order.id()).await? {
                    return Ok(existing);
                }
                return Err(StoreError::Duplicate.into());
            }
            other => other?,
        }
        tx.append_history(&HistoryEntry::placed(&order, &request.cause))
            .await?;
        tx.enqueue(&created_message(&order)).await?;
        tx.commit().await?;
        order.take_events();
        info!(order_id = %order.id(), total = %order.total(), "order placed");
        Ok(order)
    }

    /// Reads one order.
    pub async fn find_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.store.find(id).await
    }

    /// Lists orders newest first.
    pub async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.store.list(filter, page).await
    }

    /// The order's history, `None` for an unknown order.
    pub async fn history(&self, id: OrderId) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        let history = self.store.history(id).await?;
        if history.is_empty() {
            return Ok(None);
        }
        Ok(Some(history))
    }

    /// Cancels, ships, delivers or updates an order: one transaction with the order locked,
    /// the history row and the event. `expected_version` is the client's `If-Match`. Two
    /// racing changes never both win: the second sees the first's result.
    #[tracing::instrument(skip_all, fields(%id, action = command.action()))]
    pub async fn change_order(
        &self,
        id: OrderId,
        expected_version: Option<u32>,
        command: OrderCommand,
        cause: Cause,
    ) -> Result<Order, ChangeOrderError> {
        let mut tx = self.store.begin().await?;
        let mut order = tx
            .load_for_update(id)
            .await?
            .ok_or(ChangeOrderError::NotFound(id))?;
        let action = command.action();
        let before = order.version();
        let status = order.status();
        if let Cause::IdempotentRequest(_) = &cause
            && tx
                .history(id)
                .await?
                .last()
                .is_some_and(|last| last.cause == cause.to_string())
        {
            // This very request was applied before (a retry after a crash): same answer.
            return Ok(order);
        }
        if let Some(expected) = expected_version
            && expected != before
        {
            return Err(ChangeOrderError::Stale {
                current_version: before,
            });
        }
        let not_allowed = || ChangeOrderError::NotAllowed {
            action,
            status,
            allowed_actions: status.allowed_actions(),
        };
        let now = crate::now();
        let (entry, event) = match command {
            OrderCommand::UpdateDetails(details) => {
                let version = order
                    .update_details(details, now)
                    .map_err(|_| not_allowed())?;
                let entry = HistoryEntry {
                    order_id: id,
                    seq: version,
                    from: Some(status),
                    to: status,
                    reason: Some(DETAILS_UPDATED.to_owned()),
                    cause: cause.to_string(),
                    at: now,
                };
                (entry, None)
            }
            OrderCommand::Cancel => {
                let t = order.cancel(now).map_err(|_| not_allowed())?;
                let event = OutboxMessage::new(
                    &OrderCancelledV1 {
                        order_id: id,
                        reason: "customer".to_owned(),
                    },
                    now,
                );
                (HistoryEntry::transition(id, &t, &cause), Some(event))
            }
            OrderCommand::Ship(shipment) => {
                let event = OrderShippedV1 {
                    order_id: id,
                    carrier: shipment.carrier().to_owned(),
                    tracking_number: shipment.tracking_number().to_owned(),
                };
                let t = order.ship(shipment, now).map_err(|_| not_allowed())?;
                (
                    HistoryEntry::transition(id, &t, &cause),
                    Some(OutboxMessage::new(&event, now)),
                )
            }
            OrderCommand::Deliver => {
                let t = order.deliver(now).map_err(|_| not_allowed())?;
                let event = OutboxMessage::new(&OrderDeliveredV1 { order_id: id }, now);
                (HistoryEntry::transition(id, &t, &cause), Some(event))
            }
        };
        if !tx.update(&order, before).await? {
            // The row is locked, so only a broken store gets here; the client may retry.
            return Err(ChangeOrderError::Stale {
                current_version: before,
            });
        }
        tx.append_history(&entry).await?;
        if let Some(event) = &event {
            tx.enqueue(event).await?;
        }
        tx.commit().await?;
        order.take_events();
        info!(from = %status, to = %order.status(), version = order.version(), "order changed");
        Ok(order)
    }

    /// Finds orders `pending` past `deadline` and nudges them: `order.created` goes out again
    /// (the same message) up to `max_reemits` times, one more `deadline` apart; after that the
    /// order is rejected with reason `timeout` and `order.cancelled` is emitted, so that a late
    /// reservation is released.
    #[tracing::instrument(skip_all)]
    pub async fn sweep_stuck_orders(
        &self,
        deadline: std::time::Duration,
        max_reemits: u32,
    ) -> Result<SweepReport, StoreError> {
        let deadline = chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::MAX);
        let now = crate::now();
        let mut report = SweepReport::default();
        for (id, reemits) in self.store.stuck_pending(now - deadline, 100).await? {
            // Each re-emission gets a full deadline of its own before the next step.
            let due = now - deadline * (reemits.saturating_add(1) as i32);
            let mut tx = self.store.begin().await?;
            let Some(mut order) = tx.load_for_update(id).await? else {
                continue;
            };
            if order.status() != OrderStatus::Pending || order.created_at() > due {
                continue;
            }
            if reemits < max_reemits {
                let message = created_message(&order);
                tx.reemit(id, &message).await?;
                tx.commit().await?;
                warn!(order_id = %id, attempt = reemits + 1, "order still pending; order.created re-emitted");
                report.reemitted.push(id);
            } else {
                let before = order.version();
                let t = order
                    .reject(RejectionReason::Timeout, now)
                    .map_err(|e| StoreError::Unknown(anyhow::anyhow!(e)))?;
                if !tx.update(&order, before).await? {
                    continue;
                }
                let mut entry = HistoryEntry::transition(id, &t, &Cause::Request(None));
                entry.cause = SWEEPER.to_owned();
                tx.append_history(&entry).await?;
                tx.enqueue(&OutboxMessage::new(
                    &OrderCancelledV1 {
                        order_id: id,
                        reason: "timeout".to_owned(),
                    },
                    now,
                ))
                .await?;
                tx.commit().await?;
                warn!(order_id = %id, "order rejected: the inventory did not answer in time");
                report.timed_out.push(id);
            }
        }
        Ok(report)
    }

    /// Loads products into the catalogue's cache, `concurrency` batches of at most 100 at a
    /// time; returns the ids found and the ids that do not exist.
    pub async fn warm_catalog(
        &self,
        ids: &[ProductId],
        concurrency: usize,
    ) -> Result<(Vec<ProductId>, Vec<ProductId>), CatalogError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let loaded: Vec<ProductId> = stream::iter(ids.chunks(100))
            .map(|chunk| self.catalog.warm(chunk))
            .buffer_unordered(concurrency.max(1))
            .try_concat()
            .await?;
        let found: std::collections::HashSet<ProductId> = loaded.iter().copied().collect();
        let missing = ids
            .iter()
            .filter(|id| !found.contains(id))
            .copied()
            .collect();
        Ok((loaded, missing))
    }

    async fn evict(&self, product_id: ProductId) -> HandleOutcome {
        self.catalog.evict(&[product_id]).await;
        info!(%product_id, "cached product evicted");
        HandleOutcome::Ack
    }

    /// Applies the inventory's answer to a pending order, exactly once.
    #[tracing::instrument(skip_all, fields(%message_id, %order_id))]
    async fn apply_inventory_answer(
        &self,
        message_id: MessageId,
        order_id: OrderId,
        rejection: Option<RejectionReason>,
    ) -> Result<HandleOutcome, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(HandleOutcome::Ack);
        }
        let Some(mut order) = tx.load_for_update(order_id).await? else {
            return Ok(HandleOutcome::DeadLetter(format!(
                "order {order_id} does not exist"
            )));
        };
        let expected_version = order.version();
        let target = if rejection.is_some() {
            OrderStatus::Rejected
        } else {
            OrderStatus::Confirmed
        };
        let now = crate::now();
        let result = match rejection {
            Some(reason) => order.reject(reason, now),
            None => order.confirm(now),
        };
        match result {
            Ok(transition) => {
                if !tx.update(&order, expected_version).await? {
                    return Ok(HandleOutcome::Retry(
                        "order changed concurrently".to_owned(),
                    ));
                }
                tx.append_history(&HistoryEntry::transition(
                    order_id,
                    &transition,
                    &Cause::Message(message_id),
                ))
                .await?;
                tx.commit().await?;
                info!(from = %transition.from, to = %transition.to, "order status changed");
            }
            Err(invalid) if invalid.from == target => {
                // Already in the target state: an idempotent no-op.
                tx.commit().await?;
            }
            Err(invalid) => {
                // Illegal for the current state (for instance a confirmation after a
                // cancel): recorded as handled, never applied.
                warn!(from = %invalid.from, to = %invalid.to, "ignoring inventory answer illegal for the order's status");
                tx.commit().await?;
            }
        }
        Ok(HandleOutcome::Ack)
    }
}

fn outcome(result: Result<HandleOutcome, StoreError>) -> HandleOutcome {
    match result {
        Ok(outcome) => outcome,
        Err(e) => HandleOutcome::Retry(format!("{:#}", anyhow::Error::from(e))),
    }
}

fn dead_letter(e: DecodeError) -> HandleOutcome {
    HandleOutcome::DeadLetter(e.to_string())
}

#[async_trait]
impl<S: OrderStore, C: ProductCatalog> MessageHandler for OrderService<S, C> {
    fn routing_keys(&self) -> Vec<&'static str> {
        vec![
            keys::ORDER_QTY_CONFIRMED,
            keys::ORDER_QTY_FAILED,
            keys::PRODUCT_CREATED,
            keys::PRODUCT_UPDATED,
        ]
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        match message.routing_key.as_str() {
            keys::ORDER_QTY_CONFIRMED => {
                match events::decode::<OrderQtyConfirmedV1>(&message.body) {
                    Ok(env) => outcome(
                        self.apply_inventory_answer(env.id, env.data.order_id, None)
                            .await,
                    ),
                    Err(e) => dead_letter(e),
                }
            }
            keys::ORDER_QTY_FAILED => match events::decode::<OrderQtyFailedV1>(&message.body) {
                Ok(env) => {
                    let reason = RejectionReason::parse(&env.data.reason)
                        .unwrap_or(RejectionReason::InsufficientStock);
                    outcome(
                        self.apply_inventory_answer(env.id, env.data.order_id, Some(reason))
                            .await,
                    )
                }
                Err(e) => dead_letter(e),
            },
            // A new product may have been cached as "not found"; a changed one as it was.
            // Evicting twice is harmless: no inbox needed.
            keys::PRODUCT_CREATED => match events::decode::<ProductCreatedV1>(&message.body) {
                Ok(env) => self.evict(env.data.0.product_id).await,
                Err(e) => dead_letter(e),
            },
            keys::PRODUCT_UPDATED => match events::decode::<ProductUpdatedV1>(&message.body) {
                Ok(env) => self.evict(env.data.0.product_id).await,
                Err(e) => dead_letter(e),
            },
            other => dead_letter(DecodeError::UnknownType(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MockCache;
    use domain::{Order, OrderLine, Quantity};

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn line(id: ProductId, q: i64) -> OrderLine {
        OrderLine {
            product_id: id,
            quantity: Quantity::new(q).unwrap(),
        }
    }

    fn catalog_with(products: Vec<CatalogProduct>) -> MockProductCatalog {
        let mut catalog = MockProductCatalog::new();
        catalog
            .expect_find_many()
            .returning(move |_| Ok(products.clone()));
        catalog
    }

    fn request(lines: Vec<OrderLine>) -> PlaceOrder {
        PlaceOrder {
            order_id: None,
            customer_id: None,
            lines,
            details: OrderDetails::default(),
            cause: Cause::Request(Some("req-1".into())),
        }
    }

    #[tokio::test]
    async fn placing_an_order_writes_it_with_history_and_event_in_one_transaction() {
        let pid = ProductId::new();
        let catalog = catalog_with(vec![CatalogProduct {
            id: pid,
            name: "Laptop".into(),
            price: usd("699.99"),
        }]);
        let mut tx = MockOrderTx::new();
        let mut seq = mockall::Sequence::new();
        tx.expect_insert_order()
            .times(1)
            .in_sequence(&mut seq)
            .withf(|o| o.total().minor() == 139_998 && o.status() == OrderStatus::Pending)
            .returning(|_| Ok(()));
        tx.expect_append_history()
            .times(1)
            .in_sequence(&mut seq)
            .withf(|h| {
                h.seq == 1
                    && h.from.is_none()
                    && h.to == OrderStatus::Pending
                    && h.cause == "request:req-1"
            })
            .returning(|_| Ok(()));
        tx.expect_enqueue()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |m| {
                let env: events::Envelope<OrderCreatedV1> =
                    events::decode(m.payload.as_bytes()).unwrap();
                m.routing_key == keys::ORDER_CREATED
                    && env.data.items
                        == vec![OrderedItemV1 {
                            product_id: pid,
                            quantity: 2,
                        }]
            })
            .returning(|_| Ok(()));
        tx.expect_commit()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Ok(()));
        let mut store = MockOrderStore::new();
        store.expect_begin().return_once(move || Ok(Box::new(tx)));

        let service = OrderService::new(store, catalog, Currency::USD);
        let order = service
            .place_order(request(vec![line(pid, 2)]))
            .await
            .unwrap();
        assert_eq!(order.total(), usd("1399.98"));
        assert_eq!(order.items()[0].product_name(), "Laptop");
    }

    #[tokio::test]
    async fn an_unknown_product_writes_nothing() {
        let (known, unknown) = (ProductId::new(), ProductId::new());
        let catalog = catalog_with(vec![CatalogProduct {
            id: known,
            name: "Known".into(),
            price: usd("1.00"),
        }]);
        let mut store = MockOrderStore::new();
        store.expect_begin().never();
        let service = OrderService::new(store, catalog, Currency::USD);
        let err = service
            .place_order(request(vec![line(known, 1), line(unknown, 1)]))
            .await
            .unwrap_err();
        assert!(matches!(err, PlaceOrderError::UnknownProducts(ids) if ids == vec![unknown]));
    }

    #[tokio::test]
    async fn a_catalogue_outage_writes_nothing() {
        let mut catalog = MockProductCatalog::new();
        catalog.expect_find_many().returning(|_| {
            Err(CatalogError::Unavailable(anyhow::anyhow!(
                "connection refused"
            )))
        });
        let mut store = MockOrderStore::new();
        store.expect_begin().never();
        let service = OrderService::new(store, catalog, Currency::USD);
        let err = service
            .place_order(request(vec![line(ProductId::new(), 1)]))
            .await
            .unwrap_err();
        assert!(matches!(err, PlaceOrderError::Catalog(_)));
    }

    fn pending_order() -> Order {
        Order::place(
            OrderId::new(),
            None,
            vec![NewOrderItem {
                product_id: ProductId::new(),
                product_name: "Widget".into(),
                unit_price: usd("1.00"),
                quantity: Quantity::new(1).unwrap(),
            }],
            Currency::USD,
            crate::now(),
        )
        .unwrap()
    }

    fn answer(routing_key: &str, payload: &OutboxMessage) -> InboundMessage {
        InboundMessage {
            message_id: Some(payload.id),
            routing_key: routing_key.to_owned(),
            body: payload.payload.clone().into_bytes(),
            redelivered: false,
        }
    }

    fn service_with_tx(tx: MockOrderTx) -> OrderService<MockOrderStore, MockProductCatalog> {
        let mut store = MockOrderStore::new();
        store.expect_begin().return_once(move || Ok(Box::new(tx)));
        OrderService::new(store, MockProductCatalog::new(), Currency::USD)
    }

    #[tokio::test]
    async fn a_confirmation_moves_a_pending_order_to_confirmed_once() {
        let order = pending_order();
        let id = order.id();
        let msg = OutboxMessage::new(&OrderQtyConfirmedV1 { order_id: id }, crate::now());
        let mut tx = MockOrderTx::new();
        tx.expect_record_inbox()
            .withf(|c, _| c == CONSUMER)
            .returning(|_, _| Ok(true));
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(order)));
        tx.expect_update()
            .times(1)
            .withf(|o, expected| {
                o.status() == OrderStatus::Confirmed && *expected == 1 && o.version() == 2
            })
            .returning(|_, _| Ok(true));
        tx.expect_append_history()
            .times(1)
            .withf(|h| {
                h.from == Some(OrderStatus::Pending) && h.to == OrderStatus::Confirmed && h.seq == 2
            })
            .returning(|_| Ok(()));
        tx.expect_commit().times(1).returning(|| Ok(()));
        let outcome = service_with_tx(tx)
            .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
            .await;
        assert_eq!(outcome, HandleOutcome::Ack);
    }

    #[tokio::test]
    async fn a_redelivered_answer_is_acknowledged_without_effect() {
        let msg = OutboxMessage::new(
            &OrderQtyConfirmedV1 {
                order_id: OrderId::new(),
            },
            crate::now(),
        );
        let mut tx = MockOrderTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(false));
        tx.expect_load_for_update().never();
        tx.expect_commit().never();
        let outcome = service_with_tx(tx)
            .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
            .await;
        assert_eq!(outcome, HandleOutcome::Ack);
    }

    #[tokio::test]
    async fn a_confirmation_after_a_cancel_never_revives_the_order() {
        let mut order = pending_order();
        order.cancel(crate::now()).unwrap();
        let id = order.id();
        let msg = OutboxMessage::new(&OrderQtyConfirmedV1 { order_id: id }, crate::now());
        let mut tx = MockOrderTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(order)));
        tx.expect_update().never();
        tx.expect_append_history().never();
        tx.expect_commit().times(1).returning(|| Ok(()));
        let outcome = service_with_tx(tx)
            .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
            .await;
        assert_eq!(outcome, HandleOutcome::Ack);
    }

    #[tokio::test]
    async fn a_failure_answer_rejects_with_its_reason() {
        let order = pending_order();
        let msg = OutboxMessage::new(
            &OrderQtyFailedV1 {
                order_id: order.id(),
                reason: "insufficient_stock".into(),
                failing_items: vec![],
            },
            crate::now(),
        );
        let mut tx = MockOrderTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(true));
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(order)));
        tx.expect_update()
            .withf(|o, _| {
                o.status() == OrderStatus::Rejected
                    && o.rejection_reason() == Some(RejectionReason::InsufficientStock)
            })
            .returning(|_, _| Ok(true));
        tx.expect_append_history()
            .withf(|h| h.reason.as_deref() == Some("insufficient_stock"))
            .returning(|_| Ok(()));
        tx.expect_commit().returning(|| Ok(()));
        let outcome = service_with_tx(tx)
            .handle(&answer(keys::ORDER_QTY_FAILED, &msg))
            .await;
        assert_eq!(outcome, HandleOutcome::Ack);
    }

    #[tokio::test]
    async fn a_malformed_answer_is_dead_lettered_untouched() {
        let mut store = MockOrderStore::new();
        store.expect_begin().never();
        let service = OrderService::new(store, MockProductCatalog::new(), Currency::USD);
        let outcome = service
            .handle(&InboundMessage {
                message_id: None,
                routing_key: keys::ORDER_QTY_CONFIRMED.into(),
                body: b"{oops".to_vec(),
                redelivered: false,
            })
            .await;
        assert!(matches!(outcome, HandleOutcome::DeadLetter(_)));
    }

    #[tokio::test]
    async fn a_database_failure_asks_for_a_retry() {
        let mut store = MockOrderStore::new();
        store
            .expect_begin()
            .returning(|| Err(StoreError::Unavailable(anyhow::anyhow!("pool timed out"))));
        let service = OrderService::new(store, MockProductCatalog::new(), Currency::USD);
        let msg = OutboxMessage::new(
            &OrderQtyConfirmedV1 {
                order_id: OrderId::new(),
            },
            crate::now(),
        );
        let outcome = service
            .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
            .await;
        assert!(matches!(outcome, HandleOutcome::Retry(_)));
    }

    fn history_row(order: &Order, cause: &str) -> HistoryEntry {
        HistoryEntry {
            order_id: order.id(),
            seq: order.version(),
            from: None,
            to: order.status(),
            reason: None,
            cause: cause.to_owned(),
            at: order.updated_at(),
        }
    }

    #[tokio::test]
    async fn a_retried_idempotent_change_answers_without_changing_again() {
        let mut order = pending_order();
        order.cancel(crate::now()).unwrap();
        order.take_events();
        let id = order.id();
        let last = history_row(&order, "idempotency-key:k1");
        let mut tx = MockOrderTx::new();
        let loaded = order.clone();
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(loaded)));
        tx.expect_history().return_once(move |_| Ok(vec![last]));
        tx.expect_update().never();
        tx.expect_commit().never();
        let answer = service_with_tx(tx)
            .change_order(
                id,
                Some(1),
                OrderCommand::Cancel,
                Cause::IdempotentRequest("k1".into()),
            )
            .await
            .unwrap();
        assert_eq!(answer, order);
    }

    #[tokio::test]
    async fn a_reused_request_id_never_suppresses_a_change() {
        let mut order = pending_order();
        order.confirm(crate::now()).unwrap();
        order.take_events();
        let id = order.id();
        let mut tx = MockOrderTx::new();
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(order)));
        tx.expect_history().never();
        tx.expect_update()
            .times(1)
            .withf(|o, expected| o.status() == OrderStatus::Cancelled && *expected == 2)
            .returning(|_, _| Ok(true));
        tx.expect_append_history()
            .times(1)
            .withf(|h| h.cause == "request:abc" && h.seq == 3)
            .returning(|_| Ok(()));
        tx.expect_enqueue()
            .times(1)
            .withf(|m| m.routing_key == keys::ORDER_CANCELLED)
            .returning(|_| Ok(()));
        tx.expect_commit().times(1).returning(|| Ok(()));
        let cancelled = service_with_tx(tx)
            .change_order(
                id,
                None,
                OrderCommand::Cancel,
                Cause::Request(Some("abc".into())),
            )
            .await
            .unwrap();
        assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    }

    #[tokio::test]
    async fn a_stale_if_match_or_a_refused_action_changes_nothing() {
        let mut shipped = pending_order();
        shipped.confirm(crate::now()).unwrap();
        shipped
            .ship(Shipment::parse("DHL", "1").unwrap(), crate::now())
            .unwrap();
        shipped.take_events();
        let id = shipped.id();
        for (expected, want_stale) in [(Some(1), true), (None, false)] {
            let mut tx = MockOrderTx::new();
            let loaded = shipped.clone();
            tx.expect_load_for_update()
                .return_once(move |_| Ok(Some(loaded)));
            tx.expect_update().never();
            tx.expect_commit().never();
            let err = service_with_tx(tx)
                .change_order(id, expected, OrderCommand::Cancel, Cause::Request(None))
                .await
                .unwrap_err();
            if want_stale {
                assert!(
                    matches!(err, ChangeOrderError::Stale { current_version: 3 }),
                    "{err:?}"
                );
            } else {
                assert!(
                    matches!(
                        &err,
                        ChangeOrderError::NotAllowed { status: OrderStatus::Shipped, allowed_actions, .. }
                            if allowed_actions == &vec!["deliver"]
                    ),
                    "{err:?}"
                );
            }
        }
    }

    fn old_pending_order() -> Order {
        Order::place(
            OrderId::new(),
            None,
            vec![NewOrderItem {
                product_id: ProductId::new(),
                product_name: "Widget".into(),
                unit_price: usd("1.00"),
                quantity: Quantity::new(2).unwrap(),
            }],
            Currency::USD,
            crate::now() - chrono::Duration::minutes(10),
        )
        .unwrap()
    }

    fn sweeper_with(
        id: OrderId,
        reemits: u32,
        tx: MockOrderTx,
    ) -> OrderService<MockOrderStore, MockProductCatalog> {
        let mut store = MockOrderStore::new();
        store
            .expect_stuck_pending()
            .return_once(move |_, _| Ok(vec![(id, reemits)]));
        store.expect_begin().return_once(move || Ok(Box::new(tx)));
        OrderService::new(store, MockProductCatalog::new(), Currency::USD)
    }

    const DEADLINE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_stuck_order_gets_its_very_order_created_again() {
        let order = old_pending_order();
        let id = order.id();
        let mut tx = MockOrderTx::new();
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(order)));
        tx.expect_reemit()
            .times(1)
            .withf(move |order_id, m| {
                *order_id == id
                    && m.id == created_message_id(id)
                    && m.routing_key == keys::ORDER_CREATED
            })
            .returning(|_, _| Ok(()));
        tx.expect_update().never();
        tx.expect_commit().times(1).returning(|| Ok(()));
        let report = sweeper_with(id, 0, tx)
            .sweep_stuck_orders(DEADLINE, 3)
            .await
            .unwrap();
        assert_eq!(report.reemitted, vec![id]);
        assert!(report.timed_out.is_empty());
    }

    #[tokio::test]
    async fn past_its_re_emissions_a_stuck_order_is_rejected_and_cancelled() {
        let order = old_pending_order();
        let id = order.id();
        let mut tx = MockOrderTx::new();
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(order)));
        tx.expect_reemit().never();
        tx.expect_update()
            .times(1)
            .withf(|o, v| {
                o.status() == OrderStatus::Rejected
                    && o.rejection_reason() == Some(RejectionReason::Timeout)
                    && *v == 1
            })
            .returning(|_, _| Ok(true));
        tx.expect_append_history()
            .times(1)
            .withf(|h| h.cause == SWEEPER && h.reason.as_deref() == Some("timeout"))
            .returning(|_| Ok(()));
        tx.expect_enqueue()
            .times(1)
            .withf(|m| m.routing_key == keys::ORDER_CANCELLED)
            .returning(|_| Ok(()));
        tx.expect_commit().times(1).returning(|| Ok(()));
        let report = sweeper_with(id, 3, tx)
            .sweep_stuck_orders(DEADLINE, 3)
            .await
            .unwrap();
        assert_eq!(report.timed_out, vec![id]);
    }

    #[tokio::test]
    async fn a_re_emitted_order_waits_another_deadline() {
        // Placed 10 minutes ago, re-emitted 20 times: not due before 21 deadlines (21 min).
        let order = old_pending_order();
        let id = order.id();
        let mut tx = MockOrderTx::new();
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(order)));
        tx.expect_reemit().never();
        tx.expect_update().never();
        tx.expect_commit().never();
        let report = sweeper_with(id, 20, tx)
            .sweep_stuck_orders(DEADLINE, 30)
            .await
            .unwrap();
        assert_eq!(report, SweepReport::default());
    }

    #[tokio::test]
    async fn the_cached_catalogue_asks_the_service_only_for_misses_in_one_call() {
        let (hit, miss, unknown) = (ProductId::new(), ProductId::new(), ProductId::new());
        let mut cache = MockCache::new();
        let hit_entry = serde_json::to_string(&CatalogEntry::Found {
            name: "Cached".into(),
            price_minor: 250,
            currency: Currency::USD,
        })
        .unwrap();
        cache.expect_get_many().times(1).returning(move |keys| {
            assert_eq!(keys.len(), 3);
            vec![Some(hit_entry.clone()), None, None]
        });
        cache.expect_set_many().times(2).returning(|_, _| ());
        let mut inner = MockProductCatalog::new();
        inner
            .expect_find_many()
            .times(1)
            .withf(move |ids| ids == [miss, unknown])
            .returning(move |_| {
                Ok(vec![CatalogProduct {
                    id: miss,
                    name: "Fetched".into(),
                    price: Money::parse("3.00", Currency::USD).unwrap(),
                }])
            });
        let catalog = CachedCatalog::new(
            cache,
            inner,
            Duration::from_secs(300),
            Duration::from_secs(5),
        );
        let found = catalog.find_many(&[hit, miss, unknown]).await.unwrap();
        let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Cached", "Fetched"]);
    }
}
