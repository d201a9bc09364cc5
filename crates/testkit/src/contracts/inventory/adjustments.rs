//! The stock adjustment rules: `adjust_stock` applies a delta only while the stock stays in
//! range, bumping the version once per granted adjustment; adjustments read back exactly as
//! written, newest first per product, one at a time or paged.

use std::collections::BTreeMap;

use domain::product::{AdjustmentReason, StockDelta};
use domain::{MAX_STOCK, ProductId, Stock};
use ports::PageRequest;
use ports::inventory::{InventoryTx, ProductStore, StockAdjustment};

use super::{begin, commit, find, insert_all, product, stock_of};

fn delta(n: i64) -> StockDelta {
    StockDelta::new(n).expect("a valid delta")
}

async fn adjust(tx: &mut Box<dyn InventoryTx>, id: ProductId, n: i64) -> Option<u32> {
    tx.adjust_stock(id, delta(n), crate::now())
        .await
        .expect("inventory store: adjust_stock must succeed (applied or refused)")
        .map(|s| s.get())
}

pub(super) async fn adjust_stock_keeps_the_stock_in_range(store: &dyn ProductStore) {
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

pub(super) async fn adjustments_read_back_newest_first_per_product(store: &dyn ProductStore) {
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
