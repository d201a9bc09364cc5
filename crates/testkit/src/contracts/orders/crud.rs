//! The insert and find rules: the suite starts on an empty store; insert then find (and
//! `load_for_update`) returns the order exactly; an unknown id is `None`; a dropped transaction
//! leaves nothing.

use domain::{OrderId, ProductId};
use ports::PageRequest;
use ports::ordering::{OrderFilter, OrderStore};

use super::{Ledger, begin, find, insert_all, one_line, place};

pub(super) async fn starts_empty(store: &dyn OrderStore) {
    let page = store
        .list(
            &OrderFilter::default(),
            PageRequest::new(1, None).expect("a valid page"),
        )
        .await
        .expect("order store: list must succeed");
    assert!(
        page.items.is_empty(),
        "order store: the suite needs an empty store, this one already holds orders"
    );
}

pub(super) async fn insert_then_find_round_trips(store: &dyn OrderStore, ledger: &mut Ledger) {
    let mut ids: Vec<ProductId> = (0..3).map(|_| ProductId::new()).collect();
    ids.sort();
    // Lines not in product id order, so the store must keep the order's own line order.
    let full = place(
        Some("customer-1@example.org"),
        &[
            (ids[2], "Tasse à café ☕", 19_99, 3),
            (ids[0], "Widget", 5, 1),
            (ids[1], "Gadget \"deluxe\"", 1_234_567, 10_000),
        ],
    );
    let anonymous = one_line(None);
    insert_all(store, ledger, &[full.clone(), anonymous.clone()]).await;
    for expected in [&full, &anonymous] {
        assert_eq!(
            find(store, expected.id()).await.as_ref(),
            Some(expected),
            "order store: insert then find must return the order exactly (items in order, \
             snapshots, totals, customer, status, version, timestamps to the microsecond)"
        );
    }

    let mut tx = begin(store).await;
    let locked = tx
        .load_for_update(full.id())
        .await
        .expect("order store: load_for_update must succeed");
    assert_eq!(
        locked.as_ref(),
        Some(&full),
        "order store: load_for_update must return the committed order exactly"
    );
    let missing = tx
        .load_for_update(OrderId::new())
        .await
        .expect("order store: load_for_update must succeed");
    assert!(
        missing.is_none(),
        "order store: load_for_update of an unknown id must be None"
    );
}

pub(super) async fn unknown_order_is_none(store: &dyn OrderStore) {
    assert!(
        find(store, OrderId::new()).await.is_none(),
        "order store: find of an unknown id must be None"
    );
}

pub(super) async fn dropped_transaction_leaves_nothing(store: &dyn OrderStore) {
    let order = place(None, &[(ProductId::new(), "Dropped", 2_00, 2)]);
    let mut tx = begin(store).await;
    tx.insert_order(&order)
        .await
        .expect("order store: insert_order must succeed");
    drop(tx);
    assert!(
        find(store, order.id()).await.is_none(),
        "order store: an order inserted by a transaction dropped without commit must not exist"
    );
}
