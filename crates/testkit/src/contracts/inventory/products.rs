//! The product rules: the suite starts on an empty store; insert then find returns the
//! product exactly and a dropped transaction leaves nothing; `find_many` answers in ascending
//! id order without unknown ids; `list` pages newest first, every product once; `lock_product`
//! and `update_product` write only at the expected version.

use std::collections::BTreeMap;

use domain::{Currency, Money, Product, ProductId, ProductName};
use ports::PageRequest;
use ports::inventory::ProductStore;

use super::{begin, commit, find, insert_all, product};

pub(super) async fn starts_empty(store: &dyn ProductStore) {
    let page = store
        .list(PageRequest::new(1, None).expect("a valid page"))
        .await
        .expect("inventory store: list must succeed");
    assert!(
        page.items.is_empty(),
        "inventory store: the suite needs an empty store, this one already holds products"
    );
}

pub(super) async fn insert_then_find_round_trips(
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

pub(super) async fn find_many_answers_in_ascending_id_order(
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

pub(super) async fn list_pages_newest_first_exactly_once(
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

pub(super) async fn update_product_writes_only_at_the_expected_version(store: &dyn ProductStore) {
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
