//! The order use cases: place, read, list, change, warm the catalogue.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::info;

use domain::{
    Action, Caller, Currency, NewOrderItem, Order, OrderId, OrderStatus, ProductId, validate_lines,
};

use super::events::{new_order, record};
use super::ports::{
    CatalogError, CatalogProduct, HistoryEntry, NewOrder, OrderFilter, OrderStore, ProductCatalog,
};
use super::requests::{
    Cause, ChangeOrderError, OrderCommand, PlaceOrder, PlaceOrderError, ReadOrdersError,
};
use crate::clock::Clock;
use crate::store::{Page, PageRequest, StoreError, retry_on_contention};

/// The order service's use cases.
#[derive(Debug)]
pub struct OrderService<S, C> {
    pub(super) store: S,
    pub(super) catalog: C,
    pub(super) currency: Currency,
    pub(super) clock: Arc<dyn Clock>,
}

impl<S: OrderStore, C: ProductCatalog> OrderService<S, C> {
    /// Wires the use cases to their ports; orders are priced in `currency`.
    pub fn new(store: S, catalog: C, currency: Currency, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            catalog,
            currency,
            clock,
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

    /// Prices the lines from the catalogue and stores the order with its history row and its
    /// `order.created` message in one transaction.
    #[tracing::instrument(skip_all, fields(items = request.lines.len()))]
    pub async fn place_order(&self, request: PlaceOrder) -> Result<Order, PlaceOrderError> {
        request.caller.require(Action::PlaceOrder)?;
        let customer = request
            .caller
            .customer_of_new_order(request.customer_id.clone())?;
        validate_lines(&request.lines)?;
        if let Some(id) = request.order_id
            && let Some(existing) = self.store.find(id, Some(&customer)).await?
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
        let order = Order::place(
            request.order_id.unwrap_or_else(OrderId::new),
            Some(customer.clone()),
            items,
            self.currency,
            self.clock.now(),
        )?
        .with_details(request.details);
        let placed = new_order(order, &request.cause.to_string());
        let order = placed.order.clone();
        match self.insert_retrying(placed).await {
            Err(StoreError::Duplicate) if request.order_id.is_some() => {
                if let Some(existing) = self.store.find(order.id(), Some(&customer)).await? {
                    return Ok(existing);
                }
                return Err(StoreError::Duplicate.into());
            }
            other => other?,
        }
        crate::metrics::count(crate::metrics::ORDERS_PLACED, 1);
        info!(order_id = %order.id(), total = %order.total(), "order placed");
        Ok(order)
    }

    /// Stores a new order; a placement whose transaction lost a lock conflict (rolled back
    /// whole, with the placements it shared its transaction with) runs again, a couple of
    /// times, before the client is told to retry.
    async fn insert_retrying(&self, placed: NewOrder) -> Result<(), StoreError> {
        retry_on_contention(
            "placement",
            |e| Some(e),
            || self.store.insert_new(placed.clone()),
        )
        .await
    }

    /// Reads one order: `None` when there is none, or when it is another customer's and the
    /// caller a customer (the same answer, so that ids of others' orders cannot be probed).
    pub async fn find_order(
        &self,
        id: OrderId,
        caller: &Caller,
    ) -> Result<Option<Order>, ReadOrdersError> {
        caller.require(Action::ReadOrders)?;
        Ok(self.store.find(id, caller.owner_scope()).await?)
    }

    /// Lists orders newest first; a customer's list holds its own orders only (a filter on
    /// another customer finds nothing).
    pub async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: PageRequest,
        caller: &Caller,
    ) -> Result<Page<Order>, ReadOrdersError> {
        caller.require(Action::ReadOrders)?;
        let Some(owner) = caller.owner_scope() else {
            return Ok(self.store.list(filter, page).await?);
        };
        if filter.customer_id.as_ref().is_some_and(|c| c != owner) {
            return Ok(Page {
                items: Vec::new(),
                next_after: None,
            });
        }
        let scoped = OrderFilter {
            customer_id: Some(owner.clone()),
            ..filter.clone()
        };
        Ok(self.store.list(&scoped, page).await?)
    }

    /// The order's history, `None` for an unknown order (or another customer's).
    pub async fn history(
        &self,
        id: OrderId,
        caller: &Caller,
    ) -> Result<Option<Vec<HistoryEntry>>, ReadOrdersError> {
        caller.require(Action::ReadOrders)?;
        let history = self.store.history(id, caller.owner_scope()).await?;
        if history.is_empty() {
            return Ok(None);
        }
        Ok(Some(history))
    }

    /// Cancels, ships, delivers or edits an order: one transaction with the order locked, the
    /// history row and the event. `expected_version` is the client's `If-Match`. Two racing
    /// changes never both win: the second sees the first's result.
    #[tracing::instrument(skip_all, fields(%id, action = command.action()))]
    pub async fn change_order(
        &self,
        id: OrderId,
        expected_version: Option<u32>,
        command: OrderCommand,
        cause: Cause,
        caller: &Caller,
    ) -> Result<Order, ChangeOrderError> {
        // A transaction that lost a lock conflict was rolled back whole: it runs again, a
        // couple of times, before the client is told to retry.
        let conflict: fn(&ChangeOrderError) -> Option<&StoreError> = |e| match e {
            ChangeOrderError::Store(e) => Some(e),
            _ => None,
        };
        retry_on_contention("order change", conflict, || {
            self.try_change(id, expected_version, command.clone(), cause.clone(), caller)
        })
        .await
    }

    async fn try_change(
        &self,
        id: OrderId,
        expected_version: Option<u32>,
        command: OrderCommand,
        cause: Cause,
        caller: &Caller,
    ) -> Result<Order, ChangeOrderError> {
        caller.require(command.permission())?;
        let mut tx = self.store.begin().await?;
        let mut order = tx
            .load_for_update(id, caller.owner_scope())
            .await?
            .ok_or(ChangeOrderError::NotFound(id))?;
        let action = command.action();
        let before = order.version();
        let status = order.status();
        let idempotent = matches!(cause, Cause::IdempotentRequest(_));
        let cause = cause.to_string();
        if idempotent
            && tx
                .history(id)
                .await?
                .last()
                .is_some_and(|last| last.cause == cause)
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
        let now = self.clock.now();
        let applied = match command {
            OrderCommand::UpdateDetails(patch) => order.edit_details(patch, now).map(drop).is_ok(),
            OrderCommand::Cancel => order.cancel(now).is_ok(),
            OrderCommand::Ship(shipment) => order.ship(shipment, now).is_ok(),
            OrderCommand::Deliver => order.deliver(now).is_ok(),
        };
        if !applied {
            return Err(not_allowed());
        }
        if !tx.update(&order, before).await? {
            // The row is locked, so only a broken store gets here; the client may retry.
            return Err(ChangeOrderError::Stale {
                current_version: before,
            });
        }
        record(tx.as_mut(), &mut order, &cause).await?;
        tx.commit().await?;
        let fact = match order.status() {
            OrderStatus::Cancelled => Some(crate::metrics::ORDERS_CANCELLED),
            OrderStatus::Shipped => Some(crate::metrics::ORDERS_SHIPPED),
            OrderStatus::Delivered => Some(crate::metrics::ORDERS_DELIVERED),
            _ => None,
        };
        if let Some(fact) = fact {
            crate::metrics::count(fact, 1);
        }
        info!(from = %status, to = %order.status(), version = order.version(), "order changed");
        Ok(order)
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
        let found: HashSet<ProductId> = loaded.iter().copied().collect();
        let missing = ids
            .iter()
            .filter(|id| !found.contains(id))
            .copied()
            .collect();
        Ok((loaded, missing))
    }
}
