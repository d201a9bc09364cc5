//! The order store contract: [`OrderStore`] and [`OrderTx`].
//!
//! The suite keeps a ledger of every order it committed, so listings are checked against the
//! exact expected set (which also proves that orders of dropped transactions never show up).
//!
//! Layout: the rules by group, called in this order: `crud` (insert, find, dropped
//! transactions, concurrent placements), `updates` (versioned updates), `inbox`, `history`,
//! `recovery` (stuck orders and their re-emission) and `listing` (pages and filters). The
//! fixture, the ledger and the functions the groups share stay here.

mod crud;
mod history;
mod inbox;
mod listing;
mod ownership;
mod recovery;
mod updates;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use domain::{Currency, CustomerId, Money, NewOrderItem, Order, OrderId, ProductId, Quantity};
use ports::ordering::{HistoryEntry, OrderFilter, OrderStore, OrderTx};

use crud::{
    concurrent_placements_get_their_own_answers, dropped_transaction_leaves_nothing,
    insert_then_find_round_trips, starts_empty, unknown_order_is_none,
};
use history::history_reads_back_as_appended;
use inbox::{inbox_records_a_batch_once_per_message, inbox_records_each_message_once_per_consumer};
use listing::{
    list_filters_return_exactly_the_matching_orders, list_pages_newest_first_exactly_once,
};
use ownership::an_owner_sees_only_its_own_orders;
use recovery::stuck_orders_are_found_and_counted;
use updates::update_is_conditional_on_the_version;

/// What the order store suite runs against.
#[async_trait]
pub trait OrderStoreFixture: Send + Sync {
    /// The store under test. It must hold no orders when the suite starts.
    fn store(&self) -> Arc<dyn OrderStore>;

    /// The history rows of `order_id` in `seq` order, read behind the port (which has no
    /// history reader). `None` when the adapter cannot tell: the suite then skips reading
    /// history back.
    async fn history(&self, order_id: OrderId) -> Option<Vec<HistoryEntry>>;
}

/// Runs every rule of the order store contract against `fixture`; panics on the first broken
/// one.
pub async fn order_store_contract<F: OrderStoreFixture + ?Sized>(fixture: &F) {
    let store = fixture.store();
    let mut ledger = Ledger::default();
    starts_empty(store.as_ref()).await;
    insert_then_find_round_trips(store.as_ref(), &mut ledger).await;
    unknown_order_is_none(store.as_ref()).await;
    an_owner_sees_only_its_own_orders(store.as_ref(), &mut ledger).await;
    dropped_transaction_leaves_nothing(store.as_ref()).await;
    concurrent_placements_get_their_own_answers(fixture, Arc::clone(&store), &mut ledger).await;
    update_is_conditional_on_the_version(store.as_ref(), &mut ledger).await;
    inbox_records_each_message_once_per_consumer(store.as_ref()).await;
    inbox_records_a_batch_once_per_message(store.as_ref()).await;
    history_reads_back_as_appended(fixture, store.as_ref(), &mut ledger).await;
    stuck_orders_are_found_and_counted(store.as_ref(), &mut ledger).await;
    list_pages_newest_first_exactly_once(store.as_ref(), &mut ledger).await;
    list_filters_return_exactly_the_matching_orders(store.as_ref(), &ledger).await;
}

/// Every order the suite committed, in its current state.
#[derive(Default)]
struct Ledger {
    orders: BTreeMap<OrderId, Order>,
}

impl Ledger {
    fn put(&mut self, order: &Order) {
        self.orders.insert(order.id(), order.clone());
    }

    /// The committed orders matching `filter`, newest (highest id) first.
    fn matching(&self, filter: &OrderFilter) -> Vec<Order> {
        self.orders
            .values()
            .rev()
            .filter(|o| filter.status.is_none_or(|s| o.status() == s))
            .filter(|o| {
                filter
                    .customer_id
                    .as_ref()
                    .is_none_or(|c| o.customer_id() == Some(c))
            })
            .filter(|o| {
                filter
                    .product_id
                    .is_none_or(|p| o.items().iter().any(|i| i.product_id() == p))
            })
            .cloned()
            .collect()
    }
}

/// A `pending` order placed now, with its events taken (an order read back has none).
fn place(customer: Option<&str>, lines: &[(ProductId, &str, i64, i64)]) -> Order {
    let items = lines
        .iter()
        .map(|(product_id, name, price_minor, quantity)| NewOrderItem {
            product_id: *product_id,
            product_name: (*name).to_owned(),
            unit_price: Money::from_minor(*price_minor, Currency::USD).expect("a valid price"),
            quantity: Quantity::new(*quantity).expect("a valid quantity"),
        })
        .collect();
    let customer = customer.map(|c| CustomerId::parse(c).expect("a valid customer id"));
    let mut order = Order::place(OrderId::new(), customer, items, Currency::USD, crate::now())
        .expect("a valid order");
    order.take_events();
    order
}

fn one_line(customer: Option<&str>) -> Order {
    place(customer, &[(ProductId::new(), "Widget", 1_00, 1)])
}

async fn begin(store: &dyn OrderStore) -> Box<dyn OrderTx> {
    store
        .begin()
        .await
        .expect("order store: begin must succeed")
}

async fn commit(tx: Box<dyn OrderTx>) {
    tx.commit().await.expect("order store: commit must succeed");
}

async fn insert_all(store: &dyn OrderStore, ledger: &mut Ledger, orders: &[Order]) {
    let mut tx = begin(store).await;
    for order in orders {
        tx.insert_order(order)
            .await
            .expect("order store: insert_order must succeed");
    }
    commit(tx).await;
    for order in orders {
        ledger.put(order);
    }
}

async fn find(store: &dyn OrderStore, id: OrderId) -> Option<Order> {
    store
        .find(id, None)
        .await
        .expect("order store: find must succeed")
}
