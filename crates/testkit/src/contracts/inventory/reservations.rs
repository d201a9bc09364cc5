//! The rules a reservation is made of: `lock_stock` returns exactly the known products with
//! their stock; `decrement_stock` takes units only when enough are on hand and says whether it
//! did (`decrement_stock_all` the same for several products in one call); a reservation is
//! unique per (order, product).

use std::collections::{BTreeMap, HashMap};

use domain::{OrderId, Product, ProductId, Stock};
use ports::inventory::ProductStore;

use super::{begin, commit, decrement, insert_all, line, product, reserve, stock_of};

pub(super) async fn lock_stock_returns_the_known_products(
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

pub(super) async fn decrement_stock_takes_units_only_when_enough(store: &dyn ProductStore) {
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

pub(super) async fn decrement_stock_all_takes_each_products_units(store: &dyn ProductStore) {
    let (plenty, scarce) = (product("Plenty", 5), product("Scarce", 1));
    let mut unused = BTreeMap::new();
    insert_all(store, &mut unused, &[plenty.clone(), scarce.clone()]).await;

    let mut tx = begin(store).await;
    let taken = tx
        .decrement_stock_all(&[(plenty.id(), 3), (scarce.id(), 2), (ProductId::new(), 1)])
        .await
        .expect("inventory store: decrement_stock_all must succeed (taken or not)");
    assert_eq!(
        taken, 1,
        "inventory store: decrement_stock_all must take the units of exactly the products \
         with enough on hand (3 of 5: yes; 2 of 1: no; unknown: no)"
    );
    commit(tx).await;
    assert_eq!(
        (
            stock_of(store, plenty.id()).await,
            stock_of(store, scarce.id()).await
        ),
        (2, 1),
        "inventory store: decrement_stock_all must take exactly each granted product's units \
         and leave a refused one untouched"
    );

    let mut tx = begin(store).await;
    let taken = tx
        .decrement_stock_all(&[(scarce.id(), 1), (plenty.id(), 2)])
        .await
        .expect("inventory store: decrement_stock_all must succeed");
    assert_eq!(
        taken, 2,
        "inventory store: decrement_stock_all must take the last units of every product"
    );
    commit(tx).await;
    assert_eq!(
        (
            stock_of(store, plenty.id()).await,
            stock_of(store, scarce.id()).await
        ),
        (0, 0),
        "inventory store: each stock must end at exactly 0, never below"
    );
}

pub(super) async fn a_reservation_is_unique_per_order_and_product(store: &dyn ProductStore) {
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
    drop(tx);

    // Several at once: all or none.
    let (first, second) = (OrderId::new(), OrderId::new());
    let mut tx = begin(store).await;
    assert!(
        tx.insert_reservations(&[
            (first, line(a.id(), 1)),
            (second, line(a.id(), 2)),
            (first, line(a.id(), 3)),
        ])
        .await
        .is_err(),
        "inventory store: insert_reservations with a repeated (order, product) must fail"
    );
    assert!(
        reserve(&mut tx, second, a.id()).await,
        "inventory store: a failed insert_reservations must insert none of its rows"
    );
    tx.insert_reservations(&[(first, line(a.id(), 1)), (first, line(b.id(), 2))])
        .await
        .expect("inventory store: insert_reservations of distinct (order, product) must succeed");
    let held = tx
        .reservations_of(first)
        .await
        .expect("inventory store: reservations_of must succeed");
    assert_eq!(
        held.iter()
            .map(|r| (r.product_id, r.quantity.get()))
            .collect::<BTreeMap<_, _>>(),
        BTreeMap::from([(a.id(), 1), (b.id(), 2)]),
        "inventory store: insert_reservations must record every row it was given"
    );
}
