//! The inventory store contract: [`ProductStore`] and [`InventoryTx`].
//!
//! Reservations are read back with [`InventoryTx::reservations_of`]; the reservation rules
//! also check them through their effect: a second reservation for the same (order, product)
//! fails exactly when the first one exists.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use domain::product::{AdjustmentReason, StockDelta};
use domain::{
    Currency, MAX_STOCK, MessageId, Money, OrderId, Product, ProductId, ProductName, Quantity,
    ReservationLine, Stock,
};
use ports::inventory::{
    InventoryTx, ProductStore, Reservation, ReservationStatus, StockAdjustment,
};
use ports::{PageRequest, StoreError};

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
    tx.decrement_stock(id, qty(n))
        .await
        .expect("inventory store: decrement_stock must succeed (taken or not)")
}

async fn starts_empty(store: &dyn ProductStore) {
    let page = store
        .list(PageRequest::new(1, None).expect("a valid page"))
        .await
        .expect("inventory store: list must succeed");
    assert!(
        page.items.is_empty(),
        "inventory store: the suite needs an empty store, this one already holds products"
    );
}

async fn insert_then_find_round_trips(
    store: &dyn ProductStore,
    ledger: &mut BTreeMap<ProductId, Product>,
) {
    let products = [
        product("Chaise « Ω » 🪑", 0),
        product("Table", 7),
        product("Lamp \"XL\"", 1_000_000_000),
    ];
    insert_all(store, ledger, &[products[2].clone(), products[0].clone()]).await;
    insert_all(store, ledger, &products[1..2]).await;
    for expected in &products {
        assert_eq!(
            find(store, expected.id()).await.as_ref(),
            Some(expected),
            "inventory store: insert then find must return the product exactly (name, price, \
             stock, version, timestamps to the microsecond)"
        );
    }
    assert!(
        find(store, ProductId::new()).await.is_none(),
        "inventory store: find of an unknown id must be None"
    );

    let dropped = product("Dropped", 3);
    let mut tx = begin(store).await;
    tx.insert_product(&dropped)
        .await
        .expect("inventory store: insert_product must succeed");
    drop(tx);
    assert!(
        find(store, dropped.id()).await.is_none(),
        "inventory store: a product inserted by a transaction dropped without commit must not \
         exist"
    );
}

async fn find_many_answers_in_ascending_id_order(
    store: &dyn ProductStore,
    ledger: &BTreeMap<ProductId, Product>,
) {
    let known: Vec<ProductId> = ledger.keys().copied().collect();
    let asked = [known[2], ProductId::new(), known[0], known[1]];
    let found = store
        .find_many(&asked)
        .await
        .expect("inventory store: find_many must succeed");
    let expected: Vec<Product> = ledger.values().cloned().collect();
    assert_eq!(
        found, expected,
        "inventory store: find_many must return the existing products among the ids, in \
         ascending id order, without the unknown ones"
    );
    let none = store
        .find_many(&[])
        .await
        .expect("inventory store: find_many must succeed");
    assert!(
        none.is_empty(),
        "inventory store: find_many of no ids must be empty"
    );
}

async fn list_pages_newest_first_exactly_once(
    store: &dyn ProductStore,
    ledger: &mut BTreeMap<ProductId, Product>,
) {
    let mut more: Vec<Product> = (0..5).map(|i| product(&format!("Item {i}"), i)).collect();
    more.swap(0, 4);
    for chunk in more.chunks(2) {
        insert_all(store, ledger, chunk).await;
    }
    let expected: Vec<Product> = ledger.values().rev().cloned().collect();
    let total = expected.len() as u32;
    for limit in [1, 3, total, total + 1] {
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list(PageRequest::new(limit, after).expect("a valid page size"))
                .await
                .expect("inventory store: list must succeed");
            assert!(
                page.items.len() <= limit as usize,
                "inventory store: list must return at most `limit` products"
            );
            listed.extend(page.items.iter().cloned());
            match page.next_after {
                None => break,
                Some(next) => {
                    assert_eq!(
                        page.items.len(),
                        limit as usize,
                        "inventory store: a page followed by another must be full"
                    );
                    assert_eq!(
                        page.items.last().map(|p| p.id().as_uuid()),
                        Some(next),
                        "inventory store: next_after must be the id of the page's last product"
                    );
                    assert!(
                        listed.len() <= expected.len(),
                        "inventory store: list keeps returning pages past the last product"
                    );
                    after = Some(next);
                }
            }
        }
        assert_eq!(
            listed, expected,
            "inventory store: list must return every committed product exactly once, newest \
             (highest id) first, across pages of {limit}"
        );
    }
}

async fn lock_stock_returns_the_known_products(
    store: &dyn ProductStore,
    ledger: &BTreeMap<ProductId, Product>,
) {
    let known: Vec<&Product> = ledger.values().take(2).collect();
    let mut tx = begin(store).await;
    let locked = tx
        .lock_stock(&[known[1].id(), ProductId::new(), known[0].id()])
        .await
        .expect("inventory store: lock_stock must succeed");
    let expected: HashMap<ProductId, Stock> = known.iter().map(|p| (p.id(), p.stock())).collect();
    assert_eq!(
        locked, expected,
        "inventory store: lock_stock must return exactly the existing products with their stock"
    );
}

async fn decrement_stock_takes_units_only_when_enough(store: &dyn ProductStore) {
    let p = product("Decremented", 5);
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, std::slice::from_ref(&p)).await;

    let mut tx = begin(store).await;
    assert!(
        decrement(&mut tx, p.id(), 3).await,
        "inventory store: decrement_stock must take the units and return true when enough are \
         on hand"
    );
    assert!(
        !decrement(&mut tx, p.id(), 3).await,
        "inventory store: decrement_stock must return false when fewer units are on hand than \
         asked (2 left, 3 asked)"
    );
    commit(tx).await;
    assert_eq!(
        stock_of(store, p.id()).await,
        2,
        "inventory store: a refused decrement must change nothing, a granted one must take \
         exactly its units (5 - 3 = 2)"
    );

    let mut tx = begin(store).await;
    assert!(
        decrement(&mut tx, p.id(), 2).await,
        "inventory store: decrement_stock must take the last units (2 of 2)"
    );
    assert!(
        !decrement(&mut tx, p.id(), 1).await,
        "inventory store: decrement_stock must return false on an empty stock"
    );
    assert!(
        !decrement(&mut tx, ProductId::new(), 1).await,
        "inventory store: decrement_stock of an unknown product must return false"
    );
    commit(tx).await;
    assert_eq!(
        stock_of(store, p.id()).await,
        0,
        "inventory store: the stock must end at exactly 0, never below"
    );

    let q = product("Untouched", 5);
    insert_all(store, &mut unused, std::slice::from_ref(&q)).await;
    let mut tx = begin(store).await;
    assert!(
        decrement(&mut tx, q.id(), 4).await,
        "inventory store: decrement_stock must take the units and return true when enough are \
         on hand"
    );
    drop(tx);
    assert_eq!(
        stock_of(store, q.id()).await,
        5,
        "inventory store: a decrement of a dropped transaction must change nothing"
    );
}

async fn reserve(tx: &mut Box<dyn InventoryTx>, order: OrderId, product: ProductId) -> bool {
    tx.insert_reservation(order, product, qty(1)).await.is_ok()
}

async fn a_reservation_is_unique_per_order_and_product(store: &dyn ProductStore) {
    let (a, b) = (product("Reserved A", 5), product("Reserved B", 5));
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, &[a.clone(), b.clone()]).await;
    let order = OrderId::new();

    let mut tx = begin(store).await;
    assert!(
        reserve(&mut tx, order, a.id()).await,
        "inventory store: the first reservation of an (order, product) must succeed"
    );
    assert!(
        !reserve(&mut tx, order, a.id()).await,
        "inventory store: a second reservation of the same (order, product) in the same \
         transaction must fail"
    );
    commit(tx).await;

    let mut tx = begin(store).await;
    assert!(
        !reserve(&mut tx, order, a.id()).await,
        "inventory store: a reservation of an (order, product) committed earlier must fail"
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert!(
        reserve(&mut tx, order, b.id()).await,
        "inventory store: the same order may reserve another product"
    );
    assert!(
        reserve(&mut tx, OrderId::new(), a.id()).await,
        "inventory store: another order may reserve the same product"
    );
}

async fn inbox_records_each_message_once_per_consumer(store: &dyn ProductStore) {
    async fn record(tx: &mut Box<dyn InventoryTx>, consumer: &str, id: MessageId) -> bool {
        tx.record_inbox(consumer, id)
            .await
            .expect("inventory store: record_inbox must succeed, also for a duplicate")
    }
    let (first, other) = ("contract-consumer", "contract-other-consumer");
    let message = MessageId::new();
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, message).await,
        "inventory store: record_inbox must return true the first time"
    );
    commit(tx).await;
    let mut tx = begin(store).await;
    assert!(
        !record(&mut tx, first, message).await,
        "inventory store: record_inbox must return false for a (consumer, message id) committed \
         by an earlier transaction"
    );
    assert!(
        record(&mut tx, other, message).await,
        "inventory store: record_inbox must return true for the same message id under another \
         consumer"
    );
    commit(tx).await;
    let forgotten = MessageId::new();
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, forgotten).await,
        "inventory store: record_inbox must return true the first time"
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert!(
        record(&mut tx, first, forgotten).await,
        "inventory store: an inbox entry of a dropped transaction must not count"
    );
}

async fn update_product_writes_only_at_the_expected_version(store: &dyn ProductStore) {
    let original = product("Before", 4);
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, std::slice::from_ref(&original)).await;

    let mut tx = begin(store).await;
    let locked = tx
        .lock_product(original.id())
        .await
        .expect("inventory store: lock_product must succeed");
    assert_eq!(
        locked.as_ref(),
        Some(&original),
        "inventory store: lock_product must return the product exactly"
    );
    assert!(
        tx.lock_product(ProductId::new())
            .await
            .expect("inventory store: lock_product must succeed")
            .is_none(),
        "inventory store: lock_product of an unknown id must be None"
    );
    let mut revised = original.clone();
    revised
        .revise(
            Some(ProductName::parse("After").expect("a valid name")),
            Some(Money::from_minor(99_99, Currency::USD).expect("a valid price")),
            crate::now(),
        )
        .expect("a valid revision");
    assert!(
        tx.update_product(&revised, original.version())
            .await
            .expect("inventory store: update_product must succeed"),
        "inventory store: update_product at the stored version must write and return true"
    );
    let mut stale = revised.clone();
    stale
        .revise(
            Some(ProductName::parse("Lost").expect("a valid name")),
            None,
            crate::now(),
        )
        .expect("a valid revision");
    assert!(
        !tx.update_product(&stale, original.version())
            .await
            .expect("inventory store: update_product must succeed (written or not)"),
        "inventory store: update_product at a stale version must return false"
    );
    assert!(
        !tx.update_product(&product("Ghost", 1), 1)
            .await
            .expect("inventory store: update_product must succeed (written or not)"),
        "inventory store: update_product of an unknown product must return false"
    );
    commit(tx).await;
    assert_eq!(
        find(store, original.id()).await.as_ref(),
        Some(&revised),
        "inventory store: after update_product, find must return the new name, price, version \
         and updated_at, and the same stock"
    );

    let mut dropped = revised.clone();
    dropped
        .revise(
            Some(ProductName::parse("Dropped").expect("a valid name")),
            None,
            crate::now(),
        )
        .expect("a valid revision");
    let mut tx = begin(store).await;
    assert!(
        tx.update_product(&dropped, revised.version())
            .await
            .expect("inventory store: update_product must succeed"),
        "inventory store: update_product at the stored version must write and return true"
    );
    drop(tx);
    assert_eq!(
        find(store, original.id()).await.as_ref(),
        Some(&revised),
        "inventory store: an update of a dropped transaction must change nothing"
    );
}

fn delta(n: i64) -> StockDelta {
    StockDelta::new(n).expect("a valid delta")
}

async fn adjust(tx: &mut Box<dyn InventoryTx>, id: ProductId, n: i64) -> Option<u32> {
    tx.adjust_stock(id, delta(n), crate::now())
        .await
        .expect("inventory store: adjust_stock must succeed (applied or refused)")
        .map(|s| s.get())
}

async fn adjust_stock_keeps_the_stock_in_range(store: &dyn ProductStore) {
    let p = product("Adjusted", 5);
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, std::slice::from_ref(&p)).await;

    let mut tx = begin(store).await;
    assert_eq!(
        adjust(&mut tx, p.id(), 3).await,
        Some(8),
        "inventory store: adjust_stock(+3) on 5 must return the new stock 8"
    );
    assert_eq!(
        adjust(&mut tx, p.id(), -9).await,
        None,
        "inventory store: adjust_stock must refuse (None) an adjustment below zero (8 - 9)"
    );
    assert_eq!(
        adjust(&mut tx, p.id(), -8).await,
        Some(0),
        "inventory store: adjust_stock must take the stock to exactly 0 (8 - 8)"
    );
    assert_eq!(
        adjust(&mut tx, p.id(), i64::from(MAX_STOCK)).await,
        Some(MAX_STOCK),
        "inventory store: adjust_stock must accept the largest stock"
    );
    assert_eq!(
        adjust(&mut tx, p.id(), 1).await,
        None,
        "inventory store: adjust_stock must refuse (None) an adjustment above the largest stock"
    );
    assert_eq!(
        adjust(&mut tx, p.id(), -i64::from(MAX_STOCK)).await,
        Some(0),
        "inventory store: adjust_stock must apply a negative delta"
    );
    assert_eq!(
        adjust(&mut tx, ProductId::new(), 1).await,
        None,
        "inventory store: adjust_stock of an unknown product must return None"
    );
    commit(tx).await;
    let after = find(store, p.id())
        .await
        .expect("inventory store: a committed product must exist");
    assert_eq!(
        (after.stock().get(), after.version()),
        (0, p.version() + 4),
        "inventory store: the granted adjustments must apply exactly, each bumping the version \
         once, and the refused ones must change nothing"
    );

    let mut tx = begin(store).await;
    assert_eq!(adjust(&mut tx, p.id(), 7).await, Some(7));
    drop(tx);
    assert_eq!(
        stock_of(store, p.id()).await,
        0,
        "inventory store: an adjustment of a dropped transaction must change nothing"
    );
}

fn adjustment_of(p: ProductId, n: i64, stock_after: i64, cause: &str) -> StockAdjustment {
    StockAdjustment {
        id: uuid::Uuid::now_v7(),
        product_id: p,
        delta: delta(n),
        reason: AdjustmentReason::parse(&format!("reason « {n} »")).expect("a valid reason"),
        stock_after: Stock::new(stock_after).expect("a valid stock"),
        cause: cause.to_owned(),
        created_at: crate::now(),
    }
}

async fn adjustments_read_back_newest_first_per_product(store: &dyn ProductStore) {
    let (p, q) = (product("Audited", 0), product("Other audited", 0));
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, &[p.clone(), q.clone()]).await;
    let mut written = Vec::new();
    let mut tx = begin(store).await;
    for i in 1..=5 {
        let a = adjustment_of(p.id(), i, i * (i + 1) / 2, "request:req-1");
        let other = adjustment_of(q.id(), -i, 0, "request");
        for adj in [&a, &other] {
            tx.insert_adjustment(adj)
                .await
                .expect("inventory store: insert_adjustment must succeed");
        }
        written.push(a);
    }
    commit(tx).await;
    let expected: Vec<StockAdjustment> = written.iter().rev().cloned().collect();
    for limit in [1, 2, 5, 6] {
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .adjustments(
                    p.id(),
                    PageRequest::new(limit, after).expect("a valid page"),
                )
                .await
                .expect("inventory store: adjustments must succeed");
            assert!(
                page.items.len() <= limit as usize,
                "inventory store: adjustments must return at most `limit` entries"
            );
            listed.extend(page.items.iter().cloned());
            match page.next_after {
                None => break,
                Some(next) => {
                    assert_eq!(
                        page.items.last().map(|a| a.id),
                        Some(next),
                        "inventory store: next_after must be the id of the page's last \
                         adjustment"
                    );
                    assert!(
                        listed.len() <= expected.len(),
                        "inventory store: adjustments keeps returning pages past the last one"
                    );
                    after = Some(next);
                }
            }
        }
        assert_eq!(
            listed, expected,
            "inventory store: adjustments must return exactly the product's adjustments, as \
             written (delta, reason, stock_after, cause, created_at), newest first, each once, \
             across pages of {limit}"
        );
    }
    let first = &written[0];
    assert_eq!(
        store
            .adjustment(p.id(), first.id)
            .await
            .expect("inventory store: adjustment must succeed")
            .as_ref(),
        Some(first),
        "inventory store: adjustment must read one adjustment back exactly"
    );
    assert!(
        store
            .adjustment(q.id(), first.id)
            .await
            .expect("inventory store: adjustment must succeed")
            .is_none(),
        "inventory store: adjustment must be None for an adjustment of another product"
    );
    let none = store
        .adjustments(
            ProductId::new(),
            PageRequest::new(10, None).expect("a valid page"),
        )
        .await
        .expect("inventory store: adjustments must succeed");
    assert!(
        none.items.is_empty() && none.next_after.is_none(),
        "inventory store: adjustments of an unknown product must be empty"
    );
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
        tx.insert_reservation(order, *id, qty(*n))
            .await
            .expect("inventory store: insert_reservation must succeed");
    }
    commit(tx).await;
}

async fn reservations(store: &dyn ProductStore, order: OrderId) -> Vec<Reservation> {
    let mut tx = begin(store).await;
    tx.reservations_of(order)
        .await
        .expect("inventory store: reservations_of must succeed")
}

fn res(product_id: ProductId, n: i64, status: ReservationStatus) -> Reservation {
    Reservation {
        product_id,
        quantity: qty(n),
        status,
    }
}

async fn reservations_are_released_once_and_consumed_for_good(store: &dyn ProductStore) {
    let (x, y) = (product("Released X", 10), product("Released Y", 10));
    let (low, high) = if x.id() < y.id() { (x, y) } else { (y, x) };
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, &[low.clone(), high.clone()]).await;

    let cancelled = OrderId::new();
    // Reserved in descending product order; read back ascending.
    reserve_lines(store, cancelled, &[(high.id(), 3), (low.id(), 2)]).await;
    assert_eq!(
        reservations(store, cancelled).await,
        vec![
            res(low.id(), 2, ReservationStatus::Active),
            res(high.id(), 3, ReservationStatus::Active),
        ],
        "inventory store: reservations_of must return the order's reservations, active, in \
         ascending product id order"
    );
    assert!(
        reservations(store, OrderId::new()).await.is_empty(),
        "inventory store: reservations_of an order without reservations must be empty"
    );

    let mut tx = begin(store).await;
    let released = tx
        .release_reservations(cancelled)
        .await
        .expect("inventory store: release_reservations must succeed");
    drop(tx);
    assert_eq!(
        released.len(),
        2,
        "inventory store: release_reservations must release every active reservation"
    );
    assert_eq!(
        (
            stock_of(store, low.id()).await,
            stock_of(store, high.id()).await
        ),
        (8, 7),
        "inventory store: a release of a dropped transaction must change nothing"
    );

    let mut tx = begin(store).await;
    let released = tx
        .release_reservations(cancelled)
        .await
        .expect("inventory store: release_reservations must succeed");
    assert_eq!(
        released,
        vec![
            ReservationLine {
                product_id: low.id(),
                quantity: qty(2)
            },
            ReservationLine {
                product_id: high.id(),
                quantity: qty(3)
            },
        ],
        "inventory store: release_reservations must return the released lines in ascending \
         product id order"
    );
    assert!(
        tx.release_reservations(cancelled)
            .await
            .expect("inventory store: release_reservations must succeed")
            .is_empty(),
        "inventory store: a second release in the same transaction must release nothing"
    );
    commit(tx).await;
    let (l, h) = (
        find(store, low.id()).await.expect("a committed product"),
        find(store, high.id()).await.expect("a committed product"),
    );
    assert_eq!(
        (l.stock().get(), h.stock().get()),
        (10, 10),
        "inventory store: a release must give back exactly the reserved units"
    );
    assert!(
        l.version() > low.version() + 1 && h.version() > high.version() + 1,
        "inventory store: a release must bump the version of each product it touches"
    );
    assert_eq!(
        reservations(store, cancelled).await,
        vec![
            res(low.id(), 2, ReservationStatus::Released),
            res(high.id(), 3, ReservationStatus::Released),
        ],
        "inventory store: released reservations must read back as released"
    );
    let mut tx = begin(store).await;
    assert!(
        tx.release_reservations(cancelled)
            .await
            .expect("inventory store: release_reservations must succeed")
            .is_empty(),
        "inventory store: releasing an order released by an earlier transaction must release \
         nothing"
    );
    commit(tx).await;
    assert_eq!(
        stock_of(store, low.id()).await,
        10,
        "inventory store: releasing twice must give the units back once"
    );

    let shipped = OrderId::new();
    reserve_lines(store, shipped, &[(low.id(), 4)]).await;
    let mut tx = begin(store).await;
    assert_eq!(
        tx.consume_reservations(shipped)
            .await
            .expect("inventory store: consume_reservations must succeed"),
        1,
        "inventory store: consume_reservations must count the consumed reservations"
    );
    assert_eq!(
        tx.consume_reservations(shipped)
            .await
            .expect("inventory store: consume_reservations must succeed"),
        0,
        "inventory store: consuming twice must consume nothing the second time"
    );
    assert!(
        tx.release_reservations(shipped)
            .await
            .expect("inventory store: release_reservations must succeed")
            .is_empty(),
        "inventory store: consumed reservations must never be released"
    );
    commit(tx).await;
    assert_eq!(
        stock_of(store, low.id()).await,
        6,
        "inventory store: consuming must leave the stock as it is (10 - 4 reserved)"
    );
    assert_eq!(
        reservations(store, shipped).await,
        vec![res(low.id(), 4, ReservationStatus::Consumed)],
        "inventory store: consumed reservations must read back as consumed"
    );
    let mut tx = begin(store).await;
    assert_eq!(
        tx.consume_reservations(cancelled)
            .await
            .expect("inventory store: consume_reservations must succeed"),
        0,
        "inventory store: released reservations must not be consumed"
    );
    commit(tx).await;
}

async fn tombstones_are_recorded_once(store: &dyn ProductStore) {
    async fn tombstoned(tx: &mut Box<dyn InventoryTx>, order: OrderId) -> bool {
        tx.is_tombstoned(order)
            .await
            .expect("inventory store: is_tombstoned must succeed")
    }
    async fn tombstone(tx: &mut Box<dyn InventoryTx>, order: OrderId) -> bool {
        tx.insert_tombstone(order, crate::now())
            .await
            .expect("inventory store: insert_tombstone must succeed, also for a duplicate")
    }
    let order = OrderId::new();
    let mut tx = begin(store).await;
    assert!(
        !tombstoned(&mut tx, order).await,
        "inventory store: is_tombstoned must be false for an order without a tombstone"
    );
    assert!(
        tombstone(&mut tx, order).await,
        "inventory store: insert_tombstone must return true the first time"
    );
    assert!(
        !tombstone(&mut tx, order).await,
        "inventory store: insert_tombstone must return false when the tombstone exists"
    );
    commit(tx).await;
    let mut tx = begin(store).await;
    assert!(
        tombstoned(&mut tx, order).await,
        "inventory store: is_tombstoned must be true for a committed tombstone"
    );
    assert!(
        !tombstone(&mut tx, order).await,
        "inventory store: insert_tombstone must return false for a tombstone committed earlier"
    );
    assert!(
        !tombstoned(&mut tx, OrderId::new()).await,
        "inventory store: is_tombstoned must be false for another order"
    );
    drop(tx);
    let forgotten = OrderId::new();
    let mut tx = begin(store).await;
    assert!(tombstone(&mut tx, forgotten).await);
    drop(tx);
    let mut tx = begin(store).await;
    assert!(
        !tombstoned(&mut tx, forgotten).await,
        "inventory store: a tombstone of a dropped transaction must not exist"
    );
}

/// Retries `attempt` while it fails as `Unavailable` (deadlock, lock wait), as a redelivered
/// message would.
async fn retrying<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for i in 0..50u64 {
        match attempt().await {
            Ok(value) => return value,
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(10 + (i * 7) % 30)).await;
            }
            Err(e) => panic!(
                "inventory store: {what} failed: {:#}",
                anyhow::Error::from(e)
            ),
        }
    }
    panic!("inventory store: {what} stayed unavailable after 50 attempts");
}

async fn concurrent_releases_restore_the_stock_once(store: Arc<dyn ProductStore>) {
    let p = product("Released concurrently", 10);
    let mut unused = BTreeMap::new();
    insert_all(store.as_ref(), &mut unused, std::slice::from_ref(&p)).await;
    let order = OrderId::new();
    reserve_lines(store.as_ref(), order, &[(p.id(), 4)]).await;

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                retrying("a concurrent release", || {
                    let store = store.clone();
                    async move {
                        let mut tx = store.begin().await?;
                        let released = tx.release_reservations(order).await?;
                        tx.commit().await?;
                        Ok(released.len())
                    }
                })
                .await
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        match task.await {
            Ok(n) => total += n,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a release task was cancelled: {e}"),
        }
    }
    assert_eq!(
        total, 1,
        "inventory store: 10 concurrent releases of one reservation must release it exactly once"
    );
    assert_eq!(
        stock_of(store.as_ref(), p.id()).await,
        10,
        "inventory store: concurrent releases must give the units back exactly once"
    );
}

async fn a_tombstone_and_a_reservation_of_one_order_exclude_each_other(
    store: Arc<dyn ProductStore>,
) {
    const PAIRS: usize = 8;
    let products: Vec<Product> = (0..PAIRS)
        .map(|i| product(&format!("Raced {i}"), 1))
        .collect();
    let mut unused = BTreeMap::new();
    insert_all(store.as_ref(), &mut unused, &products).await;

    let mut tasks = Vec::new();
    for p in &products {
        let (order, id) = (OrderId::new(), p.id());
        // The cancellation: a tombstone only when nothing was reserved.
        let cancel = tokio::spawn({
            let store = store.clone();
            async move {
                retrying("a concurrent cancellation", || {
                    let store = store.clone();
                    async move {
                        let mut tx = store.begin().await?;
                        let none = tx.reservations_of(order).await?.is_empty();
                        if none {
                            tx.insert_tombstone(order, crate::now()).await?;
                        }
                        tx.commit().await?;
                        Ok(none)
                    }
                })
                .await
            }
        });
        // The reservation: nothing when tombstoned.
        let reserve = tokio::spawn({
            let store = store.clone();
            async move {
                retrying("a concurrent reservation", || {
                    let store = store.clone();
                    async move {
                        let mut tx = store.begin().await?;
                        if tx.is_tombstoned(order).await? {
                            return Ok(false);
                        }
                        tx.lock_stock(&[id]).await?;
                        if !tx.decrement_stock(id, qty(1)).await? {
                            return Ok(false);
                        }
                        tx.insert_reservation(order, id, qty(1)).await?;
                        tx.commit().await?;
                        Ok(true)
                    }
                })
                .await
            }
        });
        tasks.push((order, cancel, reserve));
    }
    for (order, cancel, reserve) in tasks {
        let tombstoned = match cancel.await {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a cancellation task was cancelled: {e}"),
        };
        let reserved = match reserve.await {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a reservation task was cancelled: {e}"),
        };
        assert!(
            !(tombstoned && reserved),
            "inventory store: order {order} got both a tombstone and a reservation: \
             reservations_of must lock the order's (missing) reservations and is_tombstoned its \
             (missing) tombstone until the transaction ends"
        );
    }
}

/// What one reservation task ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Reserved,
    OutOfStock,
}

/// One reservation as the product service makes it: lock, decrement if covered, reserve,
/// commit. A transient failure (`Unavailable`: deadlock, lock wait) starts over, as a
/// redelivered message would.
async fn reserve_one(store: Arc<dyn ProductStore>, product: ProductId, order: OrderId) -> Attempt {
    for _ in 0..50 {
        match try_reserve_one(store.as_ref(), product, order).await {
            Ok(attempt) => return attempt,
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!(
                "inventory store: a concurrent reservation failed: {:#}",
                anyhow::Error::from(e)
            ),
        }
    }
    panic!("inventory store: a concurrent reservation stayed unavailable after 50 attempts");
}

async fn try_reserve_one(
    store: &dyn ProductStore,
    product: ProductId,
    order: OrderId,
) -> Result<Attempt, StoreError> {
    let mut tx = store.begin().await?;
    let locked = tx.lock_stock(&[product]).await?;
    let on_hand = locked
        .get(&product)
        .expect("inventory store: lock_stock must return an existing product")
        .get();
    if on_hand < 1 {
        return Ok(Attempt::OutOfStock);
    }
    let taken = tx.decrement_stock(product, qty(1)).await?;
    assert!(
        taken,
        "inventory store: lock_stock must lock: {on_hand} units were seen under the lock, yet \
         decrement_stock could not take 1"
    );
    tx.insert_reservation(order, product, qty(1)).await?;
    tx.commit().await?;
    Ok(Attempt::Reserved)
}

async fn concurrent_reservations_never_oversell(store: Arc<dyn ProductStore>) {
    let contested = product("Contested", CONTESTED_STOCK);
    let mut unused = BTreeMap::new();
    insert_all(
        store.as_ref(),
        &mut unused,
        std::slice::from_ref(&contested),
    )
    .await;
    let id = contested.id();

    // Samples the stock while the tasks run: reading it back must never fail (a negative
    // stock is refused by `Stock`, so a read of one is an error).
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (store, done) = (store.clone(), done.clone());
        async move {
            let mut samples = 0u32;
            while !done.load(Ordering::Relaxed) {
                let stock = store
                    .find(id)
                    .await
                    .expect("inventory store: the stock must stay readable (never negative)")
                    .expect("inventory store: the contested product must exist")
                    .stock()
                    .get();
                assert!(
                    i64::from(stock) <= CONTESTED_STOCK,
                    "inventory store: the stock must never grow during reservations"
                );
                samples += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            samples
        }
    });

    let orders: Vec<OrderId> = (0..CONCURRENT_TASKS).map(|_| OrderId::new()).collect();
    let tasks: Vec<_> = orders
        .iter()
        .map(|order| tokio::spawn(reserve_one(store.clone(), id, *order)))
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("inventory store: a reservation task was cancelled: {e}"),
        }
    }
    done.store(true, Ordering::Relaxed);
    match sampler.await {
        Ok(_) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("inventory store: the stock sampler was cancelled: {e}"),
    }

    let winners: Vec<OrderId> = orders
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == Attempt::Reserved)
        .map(|(order, _)| *order)
        .collect();
    assert_eq!(
        winners.len() as i64,
        CONTESTED_STOCK,
        "inventory store: {CONCURRENT_TASKS} concurrent reservations of 1 unit against a stock \
         of {CONTESTED_STOCK} must reserve exactly {CONTESTED_STOCK}"
    );
    assert_eq!(
        stock_of(store.as_ref(), id).await,
        0,
        "inventory store: after the concurrent reservations the stock must be exactly 0"
    );

    // Conservation: initial = stock + reserved. A reservation exists exactly when a second one
    // for the same (order, product) is refused.
    let mut tx = begin(store.as_ref()).await;
    let mut reserved = 0;
    for (order, outcome) in orders.iter().zip(&outcomes) {
        let exists = !reserve(&mut tx, *order, id).await;
        assert_eq!(
            exists,
            *outcome == Attempt::Reserved,
            "inventory store: exactly the orders whose transaction committed must hold a \
             reservation (order {order}, outcome {outcome:?})"
        );
        reserved += i64::from(exists);
    }
    drop(tx);
    assert_eq!(
        reserved, CONTESTED_STOCK,
        "inventory store: conservation: initial stock {CONTESTED_STOCK} = stock 0 + reserved units"
    );
}
