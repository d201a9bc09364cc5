//! Use-case tests with failures injected through mocks of the ports.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::cache::CachedProduct;
use super::*;
use crate::cache::MockCache;
use crate::clock::{Clock, SystemClock};
use crate::events::{
    self, Envelope, FailedItemV1, OrderCancelledV1, OrderCreatedV1, OrderQtyFailedV1,
    OrderShippedV1, OrderedItemV1, OutboxMessage, ProductCreatedV1, ProductUpdatedV1, keys,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::store::StoreError;
use domain::product::{AdjustmentError, AdjustmentReason, StockDelta};
use domain::{
    Currency, Money, OrderId, Product, ProductId, ProductName, Quantity, ReservationLine, Stock,
};

fn now() -> chrono::DateTime<chrono::Utc> {
    SystemClock.now()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn policy() -> CachePolicy {
    CachePolicy {
        ttl: Duration::from_secs(300),
        negative_ttl: Duration::from_secs(5),
    }
}

fn order_created(items: &[(ProductId, u32)]) -> (OrderId, InboundMessage) {
    let order_id = OrderId::new();
    let msg = OutboxMessage::new(
        &OrderCreatedV1 {
            order_id,
            items: items
                .iter()
                .map(|(product_id, quantity)| OrderedItemV1 {
                    product_id: *product_id,
                    quantity: *quantity,
                })
                .collect(),
        },
        now(),
    );
    (
        order_id,
        InboundMessage {
            message_id: Some(msg.id),
            routing_key: keys::ORDER_CREATED.into(),
            body: msg.payload.into_bytes(),
            redelivered: false,
        },
    )
}

fn service(tx: MockInventoryTx, cache: MockCache) -> ProductService<MockProductStore, MockCache> {
    let mut store = MockProductStore::new();
    store.expect_begin().return_once(move || Ok(Box::new(tx)));
    ProductService::new(store, cache, policy(), clock())
}

fn stock(n: i64) -> Stock {
    Stock::new(n).unwrap()
}

#[tokio::test]
async fn a_covered_order_is_reserved_line_by_line_in_ascending_product_order() {
    let (a, b) = (ProductId::new(), ProductId::new());
    // Sent in descending order; must be locked and decremented ascending.
    let (order_id, msg) = order_created(&[(b, 1), (a, 2)]);
    let mut tx = MockInventoryTx::new();
    let mut seq = mockall::Sequence::new();
    tx.expect_record_inbox()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(true));
    tx.expect_is_tombstoned()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |o| *o == order_id)
        .returning(|_| Ok(false));
    tx.expect_lock_stock()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |ids| ids == [a, b])
        .returning(move |_| Ok(HashMap::from([(a, stock(5)), (b, stock(1))])));
    for (id, q) in [(a, 2), (b, 1)] {
        tx.expect_decrement_stock()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |p, qty| *p == id && qty.get() == q)
            .returning(|_, _| Ok(true));
        tx.expect_insert_reservation()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |o, p, qty| *o == order_id && *p == id && qty.get() == q)
            .returning(|_, _, _| Ok(()));
    }
    tx.expect_enqueue()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|m| m.routing_key == keys::ORDER_QTY_CONFIRMED)
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache
        .expect_delete()
        .times(1)
        .withf(move |keys| keys.len() == 2)
        .returning(|_| ());
    assert_eq!(service(tx, cache).handle(&msg).await, HandleOutcome::Ack);
}

#[tokio::test]
async fn one_short_line_reserves_nothing_and_answers_qty_failed() {
    let (a, b) = (ProductId::new(), ProductId::new());
    let (order_id, msg) = order_created(&[(a, 2), (b, 2)]);
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_is_tombstoned().returning(|_| Ok(false));
    tx.expect_lock_stock()
        .returning(move |_| Ok(HashMap::from([(a, stock(5)), (b, stock(1))])));
    tx.expect_decrement_stock().never();
    tx.expect_insert_reservation().never();
    tx.expect_enqueue()
        .times(1)
        .withf(move |m| {
            let env: Envelope<OrderQtyFailedV1> = events::decode(m.payload.as_bytes()).unwrap();
            env.data.order_id == order_id
                && env.data.reason == "insufficient_stock"
                && env.data.failing_items
                    == vec![FailedItemV1 {
                        product_id: b,
                        requested: 2,
                        available: 1,
                    }]
        })
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache.expect_delete().never();
    assert_eq!(service(tx, cache).handle(&msg).await, HandleOutcome::Ack);
}

#[tokio::test]
async fn an_unknown_product_fails_the_order_with_that_reason() {
    let a = ProductId::new();
    let (_, msg) = order_created(&[(a, 1)]);
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_is_tombstoned().returning(|_| Ok(false));
    tx.expect_lock_stock().returning(|_| Ok(HashMap::new()));
    tx.expect_enqueue()
        .withf(|m| m.payload.contains("\"reason\":\"unknown_product\""))
        .returning(|_| Ok(()));
    tx.expect_commit().returning(|| Ok(()));
    assert_eq!(
        service(tx, MockCache::new()).handle(&msg).await,
        HandleOutcome::Ack
    );
}

#[tokio::test]
async fn a_message_already_in_the_inbox_has_no_effect() {
    let (_, msg) = order_created(&[(ProductId::new(), 1)]);
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(false));
    tx.expect_lock_stock().never();
    tx.expect_enqueue().never();
    tx.expect_commit().never();
    assert_eq!(
        service(tx, MockCache::new()).handle(&msg).await,
        HandleOutcome::Ack
    );
}

#[tokio::test]
async fn a_quantity_out_of_range_is_dead_lettered() {
    let (_, msg) = order_created(&[(ProductId::new(), 0)]);
    let mut store = MockProductStore::new();
    store.expect_begin().never();
    let service = ProductService::new(store, MockCache::new(), policy(), clock());
    assert!(matches!(
        service.handle(&msg).await,
        HandleOutcome::DeadLetter(_)
    ));
}

#[tokio::test]
async fn a_cached_product_is_served_without_the_database() {
    let product = Product::create(
        ProductId::new(),
        ProductName::parse("Cached").unwrap(),
        Money::parse("2.00", Currency::USD).unwrap(),
        stock(3),
        now(),
    )
    .unwrap();
    let entry = serde_json::to_string(&CachedProduct::of(&product)).unwrap();
    let mut cache = MockCache::new();
    cache
        .expect_get_many()
        .returning(move |_| vec![Some(entry.clone())]);
    let mut store = MockProductStore::new();
    store.expect_find().never();
    let service = ProductService::new(store, cache, policy(), clock());
    let (found, status) = service.get_product(product.id()).await.unwrap();
    assert_eq!(status, CacheStatus::Hit);
    assert_eq!(found, Some(product));
}

#[tokio::test]
async fn a_miss_reads_the_database_and_fills_the_cache() {
    let id = ProductId::new();
    let mut cache = MockCache::new();
    cache.expect_get_many().returning(|_| vec![None]);
    cache
        .expect_set_many()
        .times(1)
        .withf(|entries, ttl| {
            entries[0].1.contains("\"state\":\"missing\"") && *ttl == Duration::from_secs(5)
        })
        .returning(|_, _| ());
    let mut store = MockProductStore::new();
    store.expect_find().times(1).returning(|_| Ok(None));
    let service = ProductService::new(store, cache, policy(), clock());
    let (found, status) = service.get_product(id).await.unwrap();
    assert_eq!((found, status), (None, CacheStatus::Miss));
}

fn order_message<E: events::IntegrationEvent>(event: &E) -> InboundMessage {
    let msg = OutboxMessage::new(event, now());
    InboundMessage {
        message_id: Some(msg.id),
        routing_key: msg.routing_key,
        body: msg.payload.into_bytes(),
        redelivered: false,
    }
}

fn cancelled(order_id: OrderId) -> InboundMessage {
    order_message(&OrderCancelledV1 {
        order_id,
        reason: "customer".into(),
    })
}

fn shipped(order_id: OrderId) -> InboundMessage {
    order_message(&OrderShippedV1 {
        order_id,
        carrier: "UPS".into(),
        tracking_number: "1Z999".into(),
    })
}

fn reservation(product_id: ProductId, q: i64, status: ReservationStatus) -> Reservation {
    Reservation {
        product_id,
        quantity: Quantity::new(q).unwrap(),
        status,
    }
}

fn product_with_stock(n: i64) -> Product {
    Product::create(
        ProductId::new(),
        ProductName::parse("Widget").unwrap(),
        Money::parse("5.00", Currency::USD).unwrap(),
        stock(n),
        now(),
    )
    .unwrap()
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

#[tokio::test]
async fn a_cancel_releases_the_active_reservations_and_evicts_their_products() {
    let (a, b) = (ProductId::new(), ProductId::new());
    let order_id = OrderId::new();
    let mut tx = MockInventoryTx::new();
    let mut seq = mockall::Sequence::new();
    tx.expect_record_inbox()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(true));
    tx.expect_reservations_of()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |o| *o == order_id)
        .returning(move |_| {
            Ok(vec![
                reservation(a, 2, ReservationStatus::Active),
                reservation(b, 1, ReservationStatus::Active),
            ])
        });
    tx.expect_release_reservations()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |o| *o == order_id)
        .returning(move |_| {
            Ok(vec![
                ReservationLine {
                    product_id: a,
                    quantity: Quantity::new(2).unwrap(),
                },
                ReservationLine {
                    product_id: b,
                    quantity: Quantity::new(1).unwrap(),
                },
            ])
        });
    tx.expect_insert_tombstone().never();
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let mut cache = MockCache::new();
    let expected = vec![
        ProductCache::<MockCache>::key(a),
        ProductCache::<MockCache>::key(b),
    ];
    cache
        .expect_delete()
        .times(1)
        .withf(move |keys| keys == expected.as_slice())
        .returning(|_| ());
    assert_eq!(
        service(tx, cache).handle(&cancelled(order_id)).await,
        HandleOutcome::Ack
    );
}

#[tokio::test]
async fn a_second_cancel_of_a_released_order_releases_nothing() {
    let order_id = OrderId::new();
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_reservations_of().returning(|_| {
        Ok(vec![reservation(
            ProductId::new(),
            2,
            ReservationStatus::Released,
        )])
    });
    tx.expect_release_reservations().never();
    tx.expect_insert_tombstone().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache.expect_delete().never();
    assert_eq!(
        service(tx, cache).handle(&cancelled(order_id)).await,
        HandleOutcome::Ack
    );
}

#[tokio::test]
async fn a_cancel_after_the_shipment_releases_nothing() {
    let order_id = OrderId::new();
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_reservations_of().returning(|_| {
        Ok(vec![reservation(
            ProductId::new(),
            2,
            ReservationStatus::Consumed,
        )])
    });
    tx.expect_release_reservations().never();
    tx.expect_insert_tombstone().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache.expect_delete().never();
    assert_eq!(
        service(tx, cache).handle(&cancelled(order_id)).await,
        HandleOutcome::Ack
    );
}

#[tokio::test]
async fn a_cancel_before_any_reservation_leaves_a_tombstone() {
    let order_id = OrderId::new();
    let mut tx = MockInventoryTx::new();
    let mut seq = mockall::Sequence::new();
    tx.expect_record_inbox()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(true));
    tx.expect_reservations_of()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Vec::new()));
    tx.expect_insert_tombstone()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |o, _| *o == order_id)
        .returning(|_, _| Ok(true));
    tx.expect_release_reservations().never();
    tx.expect_enqueue().never();
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    assert_eq!(
        service(tx, MockCache::new())
            .handle(&cancelled(order_id))
            .await,
        HandleOutcome::Ack
    );
}

#[tokio::test]
async fn a_late_created_for_a_tombstoned_order_reserves_nothing_and_answers_nothing() {
    let (order_id, msg) = order_created(&[(ProductId::new(), 1)]);
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_is_tombstoned()
        .times(1)
        .withf(move |o| *o == order_id)
        .returning(|_| Ok(true));
    tx.expect_lock_stock().never();
    tx.expect_decrement_stock().never();
    tx.expect_insert_reservation().never();
    tx.expect_enqueue().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache.expect_delete().never();
    assert_eq!(service(tx, cache).handle(&msg).await, HandleOutcome::Ack);
}

#[tokio::test]
async fn a_shipment_consumes_the_reservations_without_touching_the_stock() {
    let order_id = OrderId::new();
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_consume_reservations()
        .times(1)
        .withf(move |o| *o == order_id)
        .returning(|_| Ok(2));
    tx.expect_release_reservations().never();
    tx.expect_adjust_stock().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache.expect_delete().never();
    assert_eq!(
        service(tx, cache).handle(&shipped(order_id)).await,
        HandleOutcome::Ack
    );
}

#[tokio::test]
async fn a_duplicate_cancel_or_shipment_has_no_effect() {
    for msg in [cancelled(OrderId::new()), shipped(OrderId::new())] {
        let mut tx = MockInventoryTx::new();
        tx.expect_record_inbox().returning(|_, _| Ok(false));
        tx.expect_reservations_of().never();
        tx.expect_consume_reservations().never();
        tx.expect_commit().never();
        assert_eq!(
            service(tx, MockCache::new()).handle(&msg).await,
            HandleOutcome::Ack
        );
    }
}

#[tokio::test]
async fn a_failing_release_is_retried() {
    let mut tx = MockInventoryTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_reservations_of()
        .returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("deadlock"))));
    tx.expect_commit().never();
    assert!(matches!(
        service(tx, MockCache::new())
            .handle(&cancelled(OrderId::new()))
            .await,
        HandleOutcome::Retry(_)
    ));
}

#[tokio::test]
async fn a_created_product_is_announced_in_the_same_transaction() {
    let mut tx = MockInventoryTx::new();
    let mut seq = mockall::Sequence::new();
    tx.expect_insert_product()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_enqueue()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|m| {
            let env: Envelope<ProductCreatedV1> = events::decode(m.payload.as_bytes()).unwrap();
            env.data.0.name == "Lamp" && env.data.0.price == "12.50" && env.data.0.version == 1
        })
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let product = service(tx, MockCache::new())
        .create_product(NewProduct {
            id: None,
            name: ProductName::parse("Lamp").unwrap(),
            price: Money::parse("12.50", Currency::USD).unwrap(),
            stock: stock(3),
        })
        .await
        .unwrap();
    assert_eq!(product.version(), 1);
}

fn adjust(delta: i64, expected_version: Option<u32>) -> AdjustStock {
    AdjustStock {
        delta: StockDelta::new(delta).unwrap(),
        reason: AdjustmentReason::parse("recount").unwrap(),
        expected_version,
        request_id: Some("req-1".into()),
        adjustment_id: None,
    }
}

#[tokio::test]
async fn an_adjustment_below_zero_is_refused_and_writes_nothing() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut tx = MockInventoryTx::new();
    tx.expect_lock_product()
        .times(1)
        .return_once(move |_| Ok(Some(product)));
    tx.expect_adjust_stock().never();
    tx.expect_insert_adjustment().never();
    tx.expect_commit().never();
    let mut cache = MockCache::new();
    cache.expect_delete().never();
    let err = service(tx, cache)
        .adjust_stock(id, adjust(-3, None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AdjustStockError::Refused(AdjustmentError::BelowZero {
                available: 2,
                delta: -3
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_adjustment_is_applied_recorded_and_evicted_after_the_commit() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut tx = MockInventoryTx::new();
    let mut seq = mockall::Sequence::new();
    tx.expect_lock_product()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(move |_| Ok(Some(product)));
    tx.expect_adjust_stock()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |p, d, _| *p == id && d.get() == 5)
        .returning(|_, _, _| Ok(Some(stock(7))));
    tx.expect_insert_adjustment()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |a| {
            a.product_id == id
                && a.delta.get() == 5
                && a.stock_after.get() == 7
                && a.reason.as_str() == "recount"
                && a.cause == "request:req-1"
        })
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache
        .expect_delete()
        .times(1)
        .withf(move |keys| keys.len() == 1 && keys[0].ends_with(&id.to_string()))
        .returning(|_| ());
    let (after, adjustment) = service(tx, cache)
        .adjust_stock(id, adjust(5, Some(1)))
        .await
        .unwrap();
    assert_eq!((after.stock().get(), after.version()), (7, 2));
    assert_eq!(adjustment.stock_after.get(), 7);
}

#[tokio::test]
async fn a_stale_if_match_refuses_an_adjustment_before_anything_is_written() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut tx = MockInventoryTx::new();
    tx.expect_lock_product()
        .return_once(move |_| Ok(Some(product)));
    tx.expect_adjust_stock().never();
    tx.expect_commit().never();
    let err = service(tx, MockCache::new())
        .adjust_stock(id, adjust(1, Some(7)))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AdjustStockError::VersionMismatch { current: 1 }
    ));
}

fn rename(expected_version: Option<u32>) -> ProductChange {
    ProductChange {
        name: Some(ProductName::parse("Gadget").unwrap()),
        price: Some(Money::parse("6.00", Currency::USD).unwrap()),
        expected_version,
    }
}

#[tokio::test]
async fn an_update_writes_the_change_and_product_updated_in_one_transaction() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut tx = MockInventoryTx::new();
    let mut seq = mockall::Sequence::new();
    tx.expect_lock_product()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(move |_| Ok(Some(product)));
    tx.expect_update_product()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|p, expected| *expected == 1 && p.version() == 2 && p.name().as_str() == "Gadget")
        .returning(|_, _| Ok(true));
    tx.expect_enqueue()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |m| {
            let env: Envelope<ProductUpdatedV1> = events::decode(m.payload.as_bytes()).unwrap();
            env.data.0.product_id == id && env.data.0.price == "6.00" && env.data.0.version == 2
        })
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let mut cache = MockCache::new();
    cache.expect_delete().times(1).returning(|_| ());
    let updated = service(tx, cache)
        .update_product(id, rename(Some(1)))
        .await
        .unwrap();
    assert_eq!((updated.name().as_str(), updated.version()), ("Gadget", 2));
}

#[tokio::test]
async fn an_update_without_if_match_that_loses_a_race_is_retried() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut raced = product.clone();
    raced
        .revise(Some(ProductName::parse("Other").unwrap()), None, now())
        .unwrap();
    let mut first = MockInventoryTx::new();
    first
        .expect_lock_product()
        .return_once(move |_| Ok(Some(product)));
    first.expect_update_product().returning(|_, _| Ok(false));
    first.expect_enqueue().never();
    first.expect_commit().never();
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
    let service = ProductService::new(store_of(vec![first, second]), cache, policy(), clock());
    let updated = service.update_product(id, rename(None)).await.unwrap();
    assert_eq!(updated.version(), 3);
}

#[tokio::test]
async fn a_stale_if_match_refuses_an_update_and_writes_nothing() {
    let product = product_with_stock(2);
    let id = product.id();
    let mut tx = MockInventoryTx::new();
    tx.expect_lock_product()
        .return_once(move |_| Ok(Some(product)));
    tx.expect_update_product().never();
    tx.expect_enqueue().never();
    tx.expect_commit().never();
    let err = service(tx, MockCache::new())
        .update_product(id, rename(Some(3)))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        UpdateProductError::VersionMismatch { current: 1 }
    ));
}

#[tokio::test]
async fn an_update_of_an_unknown_product_is_not_found() {
    let mut tx = MockInventoryTx::new();
    tx.expect_lock_product().returning(|_| Ok(None));
    tx.expect_commit().never();
    let err = service(tx, MockCache::new())
        .update_product(ProductId::new(), rename(None))
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateProductError::NotFound(_)));
}
