//! Use-case tests with failures injected through mocks of the ports: what the adapters the
//! contract suites prove cannot be made to do (a database that is down or fails mid-way, a
//! write that loses a race, an adapter that breaks its contract). What the use cases achieve
//! is tested on those adapters, in `tests/it`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::cache::MockCache;
use crate::clock::{Clock, SystemClock};
use crate::events::{
    IntegrationEvent, OrderCancelledV1, OrderCreatedV1, OrderShippedV1, OrderedItemV1,
    OutboxMessage,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::store::StoreError;
use domain::product::{AdjustmentReason, StockDelta};
use domain::{Currency, Money, OrderId, Product, ProductId, ProductName, Stock};

fn now() -> chrono::DateTime<chrono::Utc> {
    SystemClock.now()
}

fn policy() -> CachePolicy {
    CachePolicy {
        ttl: Duration::from_secs(300),
        negative_ttl: Duration::from_secs(5),
    }
}

/// A cache that must never be told to evict: nothing was committed.
fn untouched_cache() -> MockCache {
    let mut cache = MockCache::new();
    cache.expect_delete().never();
    cache
}

fn service(
    store: MockProductStore,
    cache: MockCache,
) -> ProductService<MockProductStore, MockCache> {
    ProductService::new(store, cache, policy(), Arc::new(SystemClock))
}

/// A store whose successive `begin` calls hand out `txs` in order.
fn store_of(txs: Vec<MockInventoryTx>) -> MockProductStore {
    let mut store = MockProductStore::new();
    let mut seq = mockall::Sequence::new();
    for tx in txs {
        store
            .expect_begin()
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move || Ok(Box::new(tx)));
    }
    store
}

fn inbound<E: IntegrationEvent>(event: &E) -> InboundMessage {
    let msg = OutboxMessage::new(event, now());
    InboundMessage {
        trace: None,
        message_id: Some(msg.id),
        routing_key: msg.routing_key,
        body: msg.payload.into_bytes(),
        redelivered: false,
    }
}

fn cancelled(order_id: OrderId) -> InboundMessage {
    inbound(&OrderCancelledV1 {
        order_id,
        reason: "customer".into(),
    })
}

fn product_with_stock(n: i64) -> Product {
    Product::create(
        ProductId::new(),
        ProductName::parse("Widget").unwrap(),
        Money::parse("5.00", Currency::USD).unwrap(),
        Stock::new(n).unwrap(),
        now(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_database_outage_asks_for_a_redelivery_of_any_order_event() {
    let order_id = OrderId::new();
    let created = inbound(&OrderCreatedV1 {
        order_id,
        items: vec![OrderedItemV1 {
            product_id: ProductId::new(),
            quantity: 1,
        }],
    });
    let shipped = inbound(&OrderShippedV1 {
        order_id,
        carrier: "UPS".into(),
        tracking_number: "1Z999".into(),
    });
    for msg in [created, cancelled(order_id), shipped] {
        let mut store = MockProductStore::new();
        store
            .expect_begin()
            .returning(|| Err(StoreError::Unavailable(anyhow::anyhow!("pool timed out"))));

        let outcome = service(store, untouched_cache()).handle(&msg).await;

        assert!(
            matches!(outcome, HandleOutcome::Retry(_)),
            "{}: {outcome:?}",
            msg.routing_key
        );
    }
}

#[tokio::test]
async fn a_failing_release_is_retried_and_not_committed() {
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_reservations_of()
        .returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("deadlock"))));
    tx.expect_insert_tombstone().never();
    tx.expect_commit().never();

    let outcome = service(store_of(vec![tx]), untouched_cache())
        .handle(&cancelled(OrderId::new()))
        .await;

    assert!(matches!(outcome, HandleOutcome::Retry(_)), "{outcome:?}");
}

#[tokio::test]
async fn a_reservation_whose_stock_moved_under_its_lock_is_dead_lettered_and_not_committed() {
    let product = ProductId::new();
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox_all()
        .returning(|_, ids| Ok(vec![true; ids.len()]));
    tx.expect_tombstoned().returning(|_| Ok(HashSet::new()));
    tx.expect_lock_stock()
        .returning(move |_| Ok(HashMap::from([(product, Stock::new(5).unwrap())])));
    // The adapter said 5 units were locked, then refuses to take 2 of them.
    tx.expect_decrement_stock_all().returning(|_| Ok(0));
    tx.expect_insert_reservations().never();
    tx.expect_enqueue().never();
    tx.expect_commit().never();
    let msg = inbound(&OrderCreatedV1 {
        order_id: OrderId::new(),
        items: vec![OrderedItemV1 {
            product_id: product,
            quantity: 2,
        }],
    });

    let outcome = service(store_of(vec![tx]), untouched_cache())
        .handle(&msg)
        .await;

    // A broken contract fails the same way on every try: an operator looks at it.
    assert!(
        matches!(outcome, HandleOutcome::DeadLetter(_)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_constraint_violation_dead_letters_the_message_at_once() {
    let product = ProductId::new();
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox_all()
        .returning(|_, ids| Ok(vec![true; ids.len()]));
    tx.expect_tombstoned().returning(|_| Ok(HashSet::new()));
    tx.expect_lock_stock()
        .returning(move |_| Ok(HashMap::from([(product, Stock::new(5).unwrap())])));
    tx.expect_decrement_stock_all()
        .returning(|units| Ok(units.len()));
    tx.expect_insert_reservations().returning(|_| {
        Err(StoreError::Unknown(anyhow::anyhow!(
            "Data too long for column 'status'"
        )))
    });
    tx.expect_commit().never();
    let msg = inbound(&OrderCreatedV1 {
        order_id: OrderId::new(),
        items: vec![OrderedItemV1 {
            product_id: product,
            quantity: 2,
        }],
    });

    let outcome = service(store_of(vec![tx]), untouched_cache())
        .handle(&msg)
        .await;

    assert!(
        matches!(outcome, HandleOutcome::DeadLetter(_)),
        "{outcome:?}"
    );
}

fn rename() -> ProductChange {
    ProductChange {
        name: Some(ProductName::parse("Gadget").unwrap()),
        price: Some(Money::parse("6.00", Currency::USD).unwrap()),
        expected_version: None,
    }
}

/// A transaction that reads `product` and then fails to write it (another writer won).
fn losing_update(product: Product) -> MockInventoryTx {
    let mut tx = MockInventoryTx::new();
    tx.expect_lock_product()
        .return_once(move |_| Ok(Some(product)));
    tx.expect_update_product().returning(|_, _| Ok(false));
    tx.expect_enqueue().never();
    tx.expect_commit().never();
    tx
}

#[tokio::test]
async fn an_update_without_if_match_that_loses_a_race_is_retried() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut raced = product.clone();
    raced
        .revise(Some(ProductName::parse("Other").unwrap()), None, now())
        .unwrap();
    let mut second = MockInventoryTx::new();
    second
        .expect_lock_product()
        .return_once(move |_| Ok(Some(raced)));
    second
        .expect_update_product()
        .times(1)
        .withf(|p, expected| *expected == 2 && p.version() == 3)
        .returning(|_, _| Ok(true));
    second.expect_enqueue().times(1).returning(|_| Ok(()));
    second.expect_commit().times(1).returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache.expect_delete().times(1).returning(|_| ());
    let store = store_of(vec![losing_update(product), second]);

    let updated = service(store, cache)
        .update_product(id, rename())
        .await
        .unwrap();

    assert_eq!((updated.name().as_str(), updated.version()), ("Gadget", 3));
}

#[tokio::test]
async fn an_update_that_keeps_losing_races_gives_up_as_unavailable() {
    let product = product_with_stock(2);
    let id = product.id();
    let store = store_of((0..5).map(|_| losing_update(product.clone())).collect());

    let err = service(store, untouched_cache())
        .update_product(id, rename())
        .await
        .unwrap_err();

    assert!(
        matches!(err, UpdateProductError::Store(StoreError::Unavailable(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_adjustment_the_store_applies_differently_fails_and_is_not_committed() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut tx = MockInventoryTx::new();
    tx.expect_lock_product()
        .return_once(move |_| Ok(Some(product)));
    // 2 + 5 is 7, but the adapter reports another level.
    tx.expect_adjust_stock()
        .returning(|_, _, _| Ok(Some(Stock::new(9).unwrap())));
    tx.expect_insert_adjustment().never();
    tx.expect_commit().never();
    let request = AdjustStock {
        delta: StockDelta::new(5).unwrap(),
        reason: AdjustmentReason::parse("recount").unwrap(),
        expected_version: None,
        request_id: None,
        adjustment_id: None,
    };

    let err = service(store_of(vec![tx]), untouched_cache())
        .adjust_stock(id, request)
        .await
        .unwrap_err();

    assert!(
        matches!(err, AdjustStockError::Store(StoreError::Unknown(_))),
        "{err:?}"
    );
}
