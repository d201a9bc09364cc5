//! Use-case tests with failures injected through mocks of the ports.

use std::sync::Arc;
use std::time::Duration;

use super::cache::CatalogEntry;
use super::*;
use crate::cache::MockCache;
use crate::clock::{Clock, SystemClock};
use crate::events::{
    self, OrderCreatedV1, OrderQtyConfirmedV1, OrderQtyFailedV1, OrderedItemV1, OutboxMessage, keys,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::store::StoreError;
use domain::{
    Currency, Money, NewOrderItem, Order, OrderDetails, OrderId, OrderLine, OrderStatus, ProductId,
    Quantity, RejectionReason, Shipment,
};

fn now() -> chrono::DateTime<chrono::Utc> {
    SystemClock.now()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

fn line(id: ProductId, q: i64) -> OrderLine {
    OrderLine {
        product_id: id,
        quantity: Quantity::new(q).unwrap(),
    }
}

fn catalog_with(products: Vec<CatalogProduct>) -> MockProductCatalog {
    let mut catalog = MockProductCatalog::new();
    catalog
        .expect_find_many()
        .returning(move |_| Ok(products.clone()));
    catalog
}

fn request(lines: Vec<OrderLine>) -> PlaceOrder {
    PlaceOrder {
        order_id: None,
        customer_id: None,
        lines,
        details: OrderDetails::default(),
        cause: Cause::Request(Some("req-1".into())),
    }
}

#[tokio::test]
async fn placing_an_order_writes_it_with_history_and_event_in_one_transaction() {
    let pid = ProductId::new();
    let catalog = catalog_with(vec![CatalogProduct {
        id: pid,
        name: "Laptop".into(),
        price: usd("699.99"),
    }]);
    let mut tx = MockOrderTx::new();
    let mut seq = mockall::Sequence::new();
    tx.expect_insert_order()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|o| o.total().minor() == 139_998 && o.status() == OrderStatus::Pending)
        .returning(|_| Ok(()));
    tx.expect_append_history()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|h| {
            h.seq == 1
                && h.from.is_none()
                && h.to == OrderStatus::Pending
                && h.cause == "request:req-1"
        })
        .returning(|_| Ok(()));
    tx.expect_enqueue()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |m| {
            let env: events::Envelope<OrderCreatedV1> =
                events::decode(m.payload.as_bytes()).unwrap();
            m.routing_key == keys::ORDER_CREATED
                && env.data.items
                    == vec![OrderedItemV1 {
                        product_id: pid,
                        quantity: 2,
                    }]
        })
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let mut store = MockOrderStore::new();
    store.expect_begin().return_once(move || Ok(Box::new(tx)));

    let service = OrderService::new(store, catalog, Currency::USD, clock());
    let order = service
        .place_order(request(vec![line(pid, 2)]))
        .await
        .unwrap();
    assert_eq!(order.total(), usd("1399.98"));
    assert_eq!(order.items()[0].product_name(), "Laptop");
}

#[tokio::test]
async fn an_unknown_product_writes_nothing() {
    let (known, unknown) = (ProductId::new(), ProductId::new());
    let catalog = catalog_with(vec![CatalogProduct {
        id: known,
        name: "Known".into(),
        price: usd("1.00"),
    }]);
    let mut store = MockOrderStore::new();
    store.expect_begin().never();
    let service = OrderService::new(store, catalog, Currency::USD, clock());
    let err = service
        .place_order(request(vec![line(known, 1), line(unknown, 1)]))
        .await
        .unwrap_err();
    assert!(matches!(err, PlaceOrderError::UnknownProducts(ids) if ids == vec![unknown]));
}

#[tokio::test]
async fn a_catalogue_outage_writes_nothing() {
    let mut catalog = MockProductCatalog::new();
    catalog.expect_find_many().returning(|_| {
        Err(CatalogError::Unavailable(anyhow::anyhow!(
            "connection refused"
        )))
    });
    let mut store = MockOrderStore::new();
    store.expect_begin().never();
    let service = OrderService::new(store, catalog, Currency::USD, clock());
    let err = service
        .place_order(request(vec![line(ProductId::new(), 1)]))
        .await
        .unwrap_err();
    assert!(matches!(err, PlaceOrderError::Catalog(_)));
}

fn pending_order() -> Order {
    let mut order = Order::place(
        OrderId::new(),
        None,
        vec![NewOrderItem {
            product_id: ProductId::new(),
            product_name: "Widget".into(),
            unit_price: usd("1.00"),
            quantity: Quantity::new(1).unwrap(),
        }],
        Currency::USD,
        now(),
    )
    .unwrap();
    // Read back from storage, as the use cases see orders: no events pending.
    order.take_events();
    order
}

fn answer(routing_key: &str, payload: &OutboxMessage) -> InboundMessage {
    InboundMessage {
        message_id: Some(payload.id),
        routing_key: routing_key.to_owned(),
        body: payload.payload.clone().into_bytes(),
        redelivered: false,
    }
}

fn service_with_tx(tx: MockOrderTx) -> OrderService<MockOrderStore, MockProductCatalog> {
    let mut store = MockOrderStore::new();
    store.expect_begin().return_once(move || Ok(Box::new(tx)));
    OrderService::new(store, MockProductCatalog::new(), Currency::USD, clock())
}

#[tokio::test]
async fn a_confirmation_moves_a_pending_order_to_confirmed_once() {
    let order = pending_order();
    let id = order.id();
    let msg = OutboxMessage::new(&OrderQtyConfirmedV1 { order_id: id }, now());
    let mut tx = MockOrderTx::new();
    tx.expect_record_inbox()
        .withf(|c, _| c == CONSUMER)
        .returning(|_, _| Ok(true));
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(order)));
    tx.expect_update()
        .times(1)
        .withf(|o, expected| {
            o.status() == OrderStatus::Confirmed && *expected == 1 && o.version() == 2
        })
        .returning(|_, _| Ok(true));
    tx.expect_append_history()
        .times(1)
        .withf(|h| {
            h.from == Some(OrderStatus::Pending) && h.to == OrderStatus::Confirmed && h.seq == 2
        })
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let outcome = service_with_tx(tx)
        .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
        .await;
    assert_eq!(outcome, HandleOutcome::Ack);
}

#[tokio::test]
async fn a_redelivered_answer_is_acknowledged_without_effect() {
    let msg = OutboxMessage::new(
        &OrderQtyConfirmedV1 {
            order_id: OrderId::new(),
        },
        now(),
    );
    let mut tx = MockOrderTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(false));
    tx.expect_load_for_update().never();
    tx.expect_commit().never();
    let outcome = service_with_tx(tx)
        .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
        .await;
    assert_eq!(outcome, HandleOutcome::Ack);
}

#[tokio::test]
async fn a_confirmation_after_a_cancel_never_revives_the_order() {
    let mut order = pending_order();
    order.cancel(now()).unwrap();
    let id = order.id();
    let msg = OutboxMessage::new(&OrderQtyConfirmedV1 { order_id: id }, now());
    let mut tx = MockOrderTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(order)));
    tx.expect_update().never();
    tx.expect_append_history().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let outcome = service_with_tx(tx)
        .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
        .await;
    assert_eq!(outcome, HandleOutcome::Ack);
}

#[tokio::test]
async fn a_failure_answer_rejects_with_its_reason() {
    let order = pending_order();
    let msg = OutboxMessage::new(
        &OrderQtyFailedV1 {
            order_id: order.id(),
            reason: "insufficient_stock".into(),
            failing_items: vec![],
        },
        now(),
    );
    let mut tx = MockOrderTx::new();
    tx.expect_record_inbox().returning(|_, _| Ok(true));
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(order)));
    tx.expect_update()
        .withf(|o, _| {
            o.status() == OrderStatus::Rejected
                && o.rejection_reason() == Some(RejectionReason::InsufficientStock)
        })
        .returning(|_, _| Ok(true));
    tx.expect_append_history()
        .withf(|h| h.reason.as_deref() == Some("insufficient_stock"))
        .returning(|_| Ok(()));
    tx.expect_commit().returning(|| Ok(()));
    let outcome = service_with_tx(tx)
        .handle(&answer(keys::ORDER_QTY_FAILED, &msg))
        .await;
    assert_eq!(outcome, HandleOutcome::Ack);
}

#[tokio::test]
async fn a_malformed_answer_is_dead_lettered_untouched() {
    let mut store = MockOrderStore::new();
    store.expect_begin().never();
    let service = OrderService::new(store, MockProductCatalog::new(), Currency::USD, clock());
    let outcome = service
        .handle(&InboundMessage {
            message_id: None,
            routing_key: keys::ORDER_QTY_CONFIRMED.into(),
            body: b"{oops".to_vec(),
            redelivered: false,
        })
        .await;
    assert!(matches!(outcome, HandleOutcome::DeadLetter(_)));
}

#[tokio::test]
async fn a_database_failure_asks_for_a_retry() {
    let mut store = MockOrderStore::new();
    store
        .expect_begin()
        .returning(|| Err(StoreError::Unavailable(anyhow::anyhow!("pool timed out"))));
    let service = OrderService::new(store, MockProductCatalog::new(), Currency::USD, clock());
    let msg = OutboxMessage::new(
        &OrderQtyConfirmedV1 {
            order_id: OrderId::new(),
        },
        now(),
    );
    let outcome = service
        .handle(&answer(keys::ORDER_QTY_CONFIRMED, &msg))
        .await;
    assert!(matches!(outcome, HandleOutcome::Retry(_)));
}

fn history_row(order: &Order, cause: &str) -> HistoryEntry {
    HistoryEntry {
        order_id: order.id(),
        seq: order.version(),
        from: None,
        to: order.status(),
        reason: None,
        cause: cause.to_owned(),
        at: order.updated_at(),
    }
}

#[tokio::test]
async fn a_retried_idempotent_change_answers_without_changing_again() {
    let mut order = pending_order();
    order.cancel(now()).unwrap();
    order.take_events();
    let id = order.id();
    let last = history_row(&order, "idempotency-key:k1");
    let mut tx = MockOrderTx::new();
    let loaded = order.clone();
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(loaded)));
    tx.expect_history().return_once(move |_| Ok(vec![last]));
    tx.expect_update().never();
    tx.expect_commit().never();
    let answer = service_with_tx(tx)
        .change_order(
            id,
            Some(1),
            OrderCommand::Cancel,
            Cause::IdempotentRequest("k1".into()),
        )
        .await
        .unwrap();
    assert_eq!(answer, order);
}

#[tokio::test]
async fn a_reused_request_id_never_suppresses_a_change() {
    let mut order = pending_order();
    order.confirm(now()).unwrap();
    order.take_events();
    let id = order.id();
    let mut tx = MockOrderTx::new();
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(order)));
    tx.expect_history().never();
    tx.expect_update()
        .times(1)
        .withf(|o, expected| o.status() == OrderStatus::Cancelled && *expected == 2)
        .returning(|_, _| Ok(true));
    tx.expect_append_history()
        .times(1)
        .withf(|h| h.cause == "request:abc" && h.seq == 3)
        .returning(|_| Ok(()));
    tx.expect_enqueue()
        .times(1)
        .withf(|m| m.routing_key == keys::ORDER_CANCELLED)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let cancelled = service_with_tx(tx)
        .change_order(
            id,
            None,
            OrderCommand::Cancel,
            Cause::Request(Some("abc".into())),
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_stale_if_match_or_a_refused_action_changes_nothing() {
    let mut shipped = pending_order();
    shipped.confirm(now()).unwrap();
    shipped
        .ship(Shipment::parse("DHL", "1").unwrap(), now())
        .unwrap();
    shipped.take_events();
    let id = shipped.id();
    for (expected, want_stale) in [(Some(1), true), (None, false)] {
        let mut tx = MockOrderTx::new();
        let loaded = shipped.clone();
        tx.expect_load_for_update()
            .return_once(move |_| Ok(Some(loaded)));
        tx.expect_update().never();
        tx.expect_commit().never();
        let err = service_with_tx(tx)
            .change_order(id, expected, OrderCommand::Cancel, Cause::Request(None))
            .await
            .unwrap_err();
        if want_stale {
            assert!(
                matches!(err, ChangeOrderError::Stale { current_version: 3 }),
                "{err:?}"
            );
        } else {
            assert!(
                matches!(
                    &err,
                    ChangeOrderError::NotAllowed { status: OrderStatus::Shipped, allowed_actions, .. }
                        if allowed_actions == &vec!["deliver"]
                ),
                "{err:?}"
            );
        }
    }
}

fn old_pending_order() -> Order {
    let mut order = Order::place(
        OrderId::new(),
        None,
        vec![NewOrderItem {
            product_id: ProductId::new(),
            product_name: "Widget".into(),
            unit_price: usd("1.00"),
            quantity: Quantity::new(2).unwrap(),
        }],
        Currency::USD,
        now() - chrono::Duration::minutes(10),
    )
    .unwrap();
    // Read back from storage, as the use cases see orders: no events pending.
    order.take_events();
    order
}

fn sweeper_with(
    id: OrderId,
    reemits: u32,
    tx: MockOrderTx,
) -> OrderService<MockOrderStore, MockProductCatalog> {
    let mut store = MockOrderStore::new();
    store
        .expect_stuck_pending()
        .return_once(move |_, _| Ok(vec![(id, reemits)]));
    store.expect_begin().return_once(move || Ok(Box::new(tx)));
    OrderService::new(store, MockProductCatalog::new(), Currency::USD, clock())
}

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_stuck_order_gets_its_very_order_created_again() {
    let order = old_pending_order();
    let id = order.id();
    let mut tx = MockOrderTx::new();
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(order)));
    tx.expect_reemit()
        .times(1)
        .withf(move |order_id, m| {
            *order_id == id
                && m.id == created_message_id(id)
                && m.routing_key == keys::ORDER_CREATED
        })
        .returning(|_, _| Ok(()));
    tx.expect_update().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let report = sweeper_with(id, 0, tx)
        .sweep_stuck_orders(DEADLINE, 3)
        .await
        .unwrap();
    assert_eq!(report.reemitted, vec![id]);
    assert!(report.timed_out.is_empty());
}

#[tokio::test]
async fn past_its_re_emissions_a_stuck_order_is_rejected_and_cancelled() {
    let order = old_pending_order();
    let id = order.id();
    let mut tx = MockOrderTx::new();
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(order)));
    tx.expect_reemit().never();
    tx.expect_update()
        .times(1)
        .withf(|o, v| {
            o.status() == OrderStatus::Rejected
                && o.rejection_reason() == Some(RejectionReason::Timeout)
                && *v == 1
        })
        .returning(|_, _| Ok(true));
    tx.expect_append_history()
        .times(1)
        .withf(|h| h.cause == SWEEPER && h.reason.as_deref() == Some("timeout"))
        .returning(|_| Ok(()));
    tx.expect_enqueue()
        .times(1)
        .withf(|m| m.routing_key == keys::ORDER_CANCELLED)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let report = sweeper_with(id, 3, tx)
        .sweep_stuck_orders(DEADLINE, 3)
        .await
        .unwrap();
    assert_eq!(report.timed_out, vec![id]);
}

#[tokio::test]
async fn a_re_emitted_order_waits_another_deadline() {
    // Placed 10 minutes ago, re-emitted 20 times: not due before 21 deadlines (21 min).
    let order = old_pending_order();
    let id = order.id();
    let mut tx = MockOrderTx::new();
    tx.expect_load_for_update()
        .return_once(move |_| Ok(Some(order)));
    tx.expect_reemit().never();
    tx.expect_update().never();
    tx.expect_commit().never();
    let report = sweeper_with(id, 20, tx)
        .sweep_stuck_orders(DEADLINE, 30)
        .await
        .unwrap();
    assert_eq!(report, SweepReport::default());
}

#[tokio::test]
async fn the_cached_catalogue_asks_the_service_only_for_misses_in_one_call() {
    let (hit, miss, unknown) = (ProductId::new(), ProductId::new(), ProductId::new());
    let mut cache = MockCache::new();
    let hit_entry = serde_json::to_string(&CatalogEntry::Found {
        name: "Cached".into(),
        price_minor: 250,
        currency: Currency::USD,
    })
    .unwrap();
    cache.expect_get_many().times(1).returning(move |keys| {
        assert_eq!(keys.len(), 3);
        vec![Some(hit_entry.clone()), None, None]
    });
    cache.expect_set_many().times(2).returning(|_, _| ());
    let mut inner = MockProductCatalog::new();
    inner
        .expect_find_many()
        .times(1)
        .withf(move |ids| ids == [miss, unknown])
        .returning(move |_| {
            Ok(vec![CatalogProduct {
                id: miss,
                name: "Fetched".into(),
                price: Money::parse("3.00", Currency::USD).unwrap(),
            }])
        });
    let catalog = CachedCatalog::new(
        cache,
        inner,
        Duration::from_secs(300),
        Duration::from_secs(5),
    );
    let found = catalog.find_many(&[hit, miss, unknown]).await.unwrap();
    let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Cached", "Fetched"]);
}
