//! The insert and find rules: the suite starts on an empty store; insert then find (and
//! `load_for_update`, `load_all_for_update`) returns the order exactly; an unknown id is
//! `None`; a dropped transaction leaves nothing; concurrent `insert_new` calls each get their
//! own answer.

use std::sync::Arc;

use domain::{Order, OrderId, ProductId};
use ports::ordering::{HistoryEntry, NewOrder, OrderFilter, OrderStore};
use ports::{PageRequest, StoreError};

use super::{Ledger, OrderStoreFixture, begin, find, insert_all, one_line, place};

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
        .load_for_update(full.id(), None)
        .await
        .expect("order store: load_for_update must succeed");
    assert_eq!(
        locked.as_ref(),
        Some(&full),
        "order store: load_for_update must return the committed order exactly"
    );
    let missing = tx
        .load_for_update(OrderId::new(), None)
        .await
        .expect("order store: load_for_update must succeed");
    assert!(
        missing.is_none(),
        "order store: load_for_update of an unknown id must be None"
    );
    let wanted = [anonymous.id(), OrderId::new(), full.id()];
    let all = tx
        .load_all_for_update(&wanted)
        .await
        .expect("order store: load_all_for_update must succeed");
    let mut expected: Vec<_> = [&full, &anonymous].into_iter().cloned().collect();
    expected.sort_by_key(|o| o.id());
    assert_eq!(
        all, expected,
        "order store: load_all_for_update must return the existing orders among the ids \
         exactly, in ascending id order, and skip unknown ids"
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

/// `insert_new` from many tasks at once (the adapter may write them together): each call
/// gets its own answer, a duplicate id fails only its own call, and every other order is
/// stored with its history.
pub(super) async fn concurrent_placements_get_their_own_answers<F: OrderStoreFixture + ?Sized>(
    fixture: &F,
    store: Arc<dyn OrderStore>,
    ledger: &mut Ledger,
) {
    let taken = one_line(None);
    insert_all(store.as_ref(), ledger, std::slice::from_ref(&taken)).await;
    let mut orders: Vec<Order> = (0..24)
        .map(|_| one_line(Some("placer@example.org")))
        .collect();
    let duplicate = taken.clone();
    orders.insert(11, duplicate.clone());
    let calls = orders.iter().map(|order| {
        let store = Arc::clone(&store);
        let order = order.clone();
        tokio::spawn(async move {
            let id = order.id();
            let history = vec![HistoryEntry {
                order_id: id,
                seq: 1,
                from: None,
                to: order.status(),
                reason: None,
                cause: "contract".to_owned(),
                at: order.created_at(),
            }];
            let result = store
                .insert_new(NewOrder {
                    order,
                    history,
                    messages: Vec::new(),
                })
                .await;
            (id, result)
        })
    });
    let answers = futures_util::future::join_all(calls).await;
    for answer in answers {
        let (id, result) = answer.expect("the placing task must not panic");
        if id == duplicate.id() {
            assert!(
                matches!(result, Err(StoreError::Duplicate)),
                "order store: insert_new of an existing id must fail as Duplicate, got {result:?}"
            );
            continue;
        }
        result.expect("order store: insert_new must succeed beside a failing duplicate");
        let order = orders
            .iter()
            .find(|o| o.id() == id)
            .expect("an order of the test");
        assert_eq!(
            find(store.as_ref(), id).await.as_ref(),
            Some(order),
            "order store: an order of insert_new must read back exactly"
        );
        if let Some(history) = fixture.history(id).await {
            assert_eq!(
                history.len(),
                1,
                "order store: insert_new must store the order's history rows"
            );
        }
        ledger.put(order);
    }
}
