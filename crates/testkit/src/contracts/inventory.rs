//! The inventory store contract: [`ProductStore`] and [`InventoryTx`].
//!
//! Reservations are read back with [`InventoryTx::reservations_of`]; the reservation rules
//! also check them through their effect: a second reservation for the same (order, product)
//! fails exactly when the first one exists.
//!
//! Layout: the rules by group, called in this order: `products` (round trip, `find_many`,
//! listing), `reservations` (`lock_stock`, `decrement_stock`, unique reservations), `inbox`,
//! `products` again (versioned updates), `adjustments`, `releases` (releases, consumption,
//! tombstones) and `concurrency`. The fixture, the suite's constants and the functions the
//! groups share stay here.

mod adjustments;
mod concurrency;
mod inbox;
mod products;
mod releases;
mod reservations;

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::{
    Currency, Money, OrderId, Product, ProductId, ProductName, Quantity, ReservationLine, Stock,
};
use ports::inventory::{InventoryTx, ProductStore};

use adjustments::{
    adjust_stock_keeps_the_stock_in_range, adjustments_read_back_newest_first_per_product,
};
use concurrency::{
    a_tombstone_and_a_reservation_of_one_order_exclude_each_other,
    concurrent_releases_restore_the_stock_once, concurrent_reservations_never_oversell,
};
use inbox::inbox_records_each_message_once_per_consumer;
use products::{
    find_many_answers_in_ascending_id_order, insert_then_find_round_trips,
    list_pages_newest_first_exactly_once, starts_empty,
    update_product_writes_only_at_the_expected_version,
};
use releases::{
    reservations_are_released_once_and_consumed_for_good, tombstones_are_recorded_once,
};
use reservations::{
    a_reservation_is_unique_per_order_and_product, decrement_stock_all_takes_each_products_units,
    decrement_stock_takes_units_only_when_enough, lock_stock_returns_the_known_products,
};

/// What the inventory store suite runs against.
pub trait InventoryFixture: Send + Sync {
    /// The store under test, shareable between tasks. It must hold no products when the suite
    /// starts.
    fn store(&self) -> Arc<dyn ProductStore>;
}

impl InventoryFixture for Arc<dyn ProductStore> {
    fn store(&self) -> Arc<dyn ProductStore> {
        self.clone()
    }
}

/// Concurrent reservation tasks in the concurrency rule.
pub const CONCURRENT_TASKS: usize = 50;
/// Stock they compete for.
pub const CONTESTED_STOCK: i64 = 20;

/// Runs every rule of the inventory store contract against `fixture`; panics on the first
/// broken one.
pub async fn inventory_store_contract<F: InventoryFixture + ?Sized>(fixture: &F) {
    let store = fixture.store();
    let mut ledger = BTreeMap::new();
    starts_empty(store.as_ref()).await;
    insert_then_find_round_trips(store.as_ref(), &mut ledger).await;
    find_many_answers_in_ascending_id_order(store.as_ref(), &ledger).await;
    list_pages_newest_first_exactly_once(store.as_ref(), &mut ledger).await;
    lock_stock_returns_the_known_products(store.as_ref(), &ledger).await;
    decrement_stock_takes_units_only_when_enough(store.as_ref()).await;
    decrement_stock_all_takes_each_products_units(store.as_ref()).await;
    a_reservation_is_unique_per_order_and_product(store.as_ref()).await;
    inbox_records_each_message_once_per_consumer(store.as_ref()).await;
    update_product_writes_only_at_the_expected_version(store.as_ref()).await;
    adjust_stock_keeps_the_stock_in_range(store.as_ref()).await;
    adjustments_read_back_newest_first_per_product(store.as_ref()).await;
    reservations_are_released_once_and_consumed_for_good(store.as_ref()).await;
    tombstones_are_recorded_once(store.as_ref()).await;
    concurrent_releases_restore_the_stock_once(store.clone()).await;
    a_tombstone_and_a_reservation_of_one_order_exclude_each_other(store.clone()).await;
    concurrent_reservations_never_oversell(store).await;
}

fn product(name: &str, stock: i64) -> Product {
    Product::create(
        ProductId::new(),
        ProductName::parse(name).expect("a valid name"),
        Money::from_minor(12_34, Currency::USD).expect("a valid price"),
        Stock::new(stock).expect("a valid stock"),
        crate::now(),
    )
    .expect("a valid product")
}

/// `n` units of product `id`, as one line of a reservation.
fn line(id: ProductId, n: i64) -> ReservationLine {
    ReservationLine {
        product_id: id,
        quantity: qty(n),
    }
}

fn qty(n: i64) -> Quantity {
    Quantity::new(n).expect("a valid quantity")
}

async fn begin(store: &dyn ProductStore) -> Box<dyn InventoryTx> {
    store
        .begin()
        .await
        .expect("inventory store: begin must succeed")
}

async fn commit(tx: Box<dyn InventoryTx>) {
    tx.commit()
        .await
        .expect("inventory store: commit must succeed");
}

async fn insert_all(
    store: &dyn ProductStore,
    ledger: &mut BTreeMap<ProductId, Product>,
    products: &[Product],
) {
    let mut tx = begin(store).await;
    for p in products {
        tx.insert_product(p)
            .await
            .expect("inventory store: insert_product must succeed");
    }
    commit(tx).await;
    for p in products {
        ledger.insert(p.id(), p.clone());
    }
}

async fn find(store: &dyn ProductStore, id: ProductId) -> Option<Product> {
    store
        .find(id)
        .await
        .expect("inventory store: find must succeed")
}

async fn stock_of(store: &dyn ProductStore, id: ProductId) -> u32 {
    find(store, id)
        .await
        .expect("inventory store: a committed product must exist")
        .stock()
        .get()
}

async fn decrement(tx: &mut Box<dyn InventoryTx>, id: ProductId, n: i64) -> bool {
    tx.decrement_stock(id, qty(n).get())
        .await
        .expect("inventory store: decrement_stock must succeed (taken or not)")
}

async fn reserve(tx: &mut Box<dyn InventoryTx>, order: OrderId, product: ProductId) -> bool {
    tx.insert_reservations(&[(order, line(product, 1))])
        .await
        .is_ok()
}

/// Reserves `lines` for `order` as the product service does (decrement, then reservation).
async fn reserve_lines(store: &dyn ProductStore, order: OrderId, lines: &[(ProductId, i64)]) {
    let mut tx = begin(store).await;
    for (id, n) in lines {
        assert!(
            decrement(&mut tx, *id, *n).await,
            "inventory store: decrement_stock must take the units and return true when enough \
             are on hand"
        );
        tx.insert_reservations(&[(order, line(*id, *n))])
            .await
            .expect("inventory store: insert_reservations must succeed");
    }
    commit(tx).await;
}
