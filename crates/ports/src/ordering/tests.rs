//! Use-case tests with failures injected through mocks of the ports: what the adapters the
//! contract suites prove cannot be made to do (a database that is down, a write that loses a
//! race under a lock, a duplicate key between a lookup and an insert). What the use cases
//! achieve is tested on those adapters, in `tests/it`.

use std::sync::Arc;

use super::*;
use crate::clock::{Clock, SystemClock};
use crate::events::{OrderQtyConfirmedV1, OutboxMessage, keys};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::store::StoreError;
use domain::{
    Currency, Money, NewOrderItem, Order, OrderDetails, OrderId, OrderLine, ProductId, Quantity,
};

fn admin() -> domain::Caller {
    domain::Caller::new(
        domain::CustomerId::parse("ops").unwrap(),
        domain::Role::Admin,
    )
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A pending order as the use cases read it back from storage (no events pending).
fn pending_order() -> Order {
    let mut order = Order::place(
        OrderId::new(),
        None,
        vec![NewOrderItem {
            product_id: ProductId::new(),
            product_name: "Widget".into(),
            unit_price: Money::parse("1.00", Currency::USD).unwrap(),
            quantity: Quantity::new(1).unwrap(),
        }],
        Currency::USD,
        SystemClock.now(),
    )
    .unwrap();
    order.take_events();
    order
}

fn service(store: MockOrderStore) -> OrderService<MockOrderStore, MockProductCatalog> {
    OrderService::new(store, MockProductCatalog::new(), Currency::USD, clock())
}

fn store_with(tx: MockOrderTx) -> MockOrderStore {
    let mut store = MockOrderStore::new();
    store.expect_begin().return_once(move || Ok(Box::new(tx)));
    store
}

fn confirmation(order_id: OrderId) -> InboundMessage {
    let msg = OutboxMessage::new(&OrderQtyConfirmedV1 { order_id }, SystemClock.now());
    InboundMessage {
        trace: None,
        message_id: Some(msg.id),
        routing_key: keys::ORDER_QTY_CONFIRMED.to_owned(),
        body: msg.payload.into_bytes(),
        redelivered: false,
    }
}

#[tokio::test]
async fn a_database_outage_asks_for_a_redelivery() {
    let mut store = MockOrderStore::new();
    store
        .expect_begin()
        .returning(|| Err(StoreError::Unavailable(anyhow::anyhow!("pool timed out"))));

    let outcome = service(store).handle(&confirmation(OrderId::new())).await;

    assert!(matches!(outcome, HandleOutcome::Retry(_)), "{outcome:?}");
}

#[tokio::test]
async fn a_constraint_violation_dead_letters_the_answer_at_once() {
    let order = pending_order();
    let id = order.id();
    let mut tx = MockOrderTx::new();
    tx.expect_record_inbox_all()
        .returning(|_, ids| Ok(vec![true; ids.len()]));
    tx.expect_load_all_for_update()
        .return_once(move |_| Ok(vec![order]));
    tx.expect_update().returning(|_, _| {
        Err(StoreError::Unknown(anyhow::anyhow!(
            "Data too long for column 'status'"
        )))
    });
    tx.expect_commit().never();

    let outcome = service(store_with(tx)).handle(&confirmation(id)).await;

    assert!(
        matches!(outcome, HandleOutcome::DeadLetter(_)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_answer_that_loses_a_race_for_the_order_is_retried_and_not_committed() {
    let order = pending_order();
    let id = order.id();
    let mut tx = MockOrderTx::new();
    tx.expect_record_inbox_all()
        .returning(|_, ids| Ok(vec![true; ids.len()]));
    tx.expect_load_all_for_update()
        .return_once(move |_| Ok(vec![order]));
    tx.expect_update().returning(|_, _| Ok(false));
    tx.expect_append_history().never();
    // Uncommitted, the inbox entry goes too: the redelivery applies the answer.
    tx.expect_commit().never();

    let outcome = service(store_with(tx)).handle(&confirmation(id)).await;

    assert!(matches!(outcome, HandleOutcome::Retry(_)), "{outcome:?}");
}

#[tokio::test]
async fn a_change_the_store_fails_to_write_is_refused_as_stale_and_not_committed() {
    let order = pending_order();
    let id = order.id();
    let mut tx = MockOrderTx::new();
    tx.expect_load_for_update()
        .return_once(move |_, _| Ok(Some(order)));
    tx.expect_update().returning(|_, _| Ok(false));
    tx.expect_append_history().never();
    tx.expect_commit().never();

    let err = service(store_with(tx))
        .change_order(
            id,
            None,
            OrderCommand::Cancel,
            Cause::Request(None),
            &admin(),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, ChangeOrderError::Stale { current_version: 1 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_placement_racing_its_own_retry_answers_the_order_the_other_placed() {
    // Two runs of one idempotent request: this one looked before the other inserted, and
    // its insert then collides with the other's order.
    let placed_by_the_other = pending_order();
    let id = placed_by_the_other.id();
    let product_id = placed_by_the_other.items()[0].product_id();
    let mut store = MockOrderStore::new();
    let mut lookups = mockall::Sequence::new();
    store
        .expect_find()
        .times(1)
        .in_sequence(&mut lookups)
        .returning(|_, _| Ok(None));
    let answer = placed_by_the_other.clone();
    store
        .expect_find()
        .times(1)
        .in_sequence(&mut lookups)
        .return_once(move |_, _| Ok(Some(answer)));
    store
        .expect_insert_new()
        .times(1)
        .returning(|_| Err(StoreError::Duplicate));
    let mut catalog = MockProductCatalog::new();
    catalog.expect_find_many().returning(move |_| {
        Ok(vec![CatalogProduct {
            id: product_id,
            name: "Widget".into(),
            price: Money::parse("1.00", Currency::USD).unwrap(),
        }])
    });
    let service = OrderService::new(store, catalog, Currency::USD, clock());

    let order = service
        .place_order(PlaceOrder {
            order_id: Some(id),
            caller: admin(),
            customer_id: None,
            lines: vec![OrderLine {
                product_id,
                quantity: Quantity::new(1).unwrap(),
            }],
            details: OrderDetails::default(),
            cause: Cause::IdempotentRequest("k1".into()),
        })
        .await
        .unwrap();

    assert_eq!(order, placed_by_the_other);
}

#[tokio::test]
async fn a_change_that_loses_a_lock_conflict_runs_again_and_an_outage_does_not() {
    let order = pending_order();
    let id = order.id();
    let mut store = MockOrderStore::new();
    let mut attempts = mockall::Sequence::new();
    // First run: the database picks this transaction as a deadlock victim.
    store
        .expect_begin()
        .times(1)
        .in_sequence(&mut attempts)
        .returning(|| {
            let mut tx = MockOrderTx::new();
            tx.expect_load_for_update().returning(|_, _| {
                Err(StoreError::Unavailable(
                    anyhow::anyhow!("Deadlock found").context(crate::store::Contention),
                ))
            });
            Ok(Box::new(tx))
        });
    // Second run: it goes through.
    let fresh = order.clone();
    store
        .expect_begin()
        .times(1)
        .in_sequence(&mut attempts)
        .return_once(move || {
            let mut tx = MockOrderTx::new();
            tx.expect_load_for_update()
                .return_once(move |_, _| Ok(Some(fresh)));
            tx.expect_update().returning(|_, _| Ok(true));
            tx.expect_append_history().returning(|_| Ok(()));
            tx.expect_enqueue().returning(|_| Ok(()));
            tx.expect_commit().returning(|| Ok(()));
            Ok(Box::new(tx))
        });
    let changed = service(store)
        .change_order(
            id,
            None,
            OrderCommand::Cancel,
            Cause::Request(None),
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(changed.status(), domain::OrderStatus::Cancelled);

    // An outage is not a conflict: one run, and the client is told.
    let mut store = MockOrderStore::new();
    store
        .expect_begin()
        .times(1)
        .returning(|| Err(StoreError::Unavailable(anyhow::anyhow!("pool timed out"))));
    let err = service(store)
        .change_order(
            id,
            None,
            OrderCommand::Cancel,
            Cause::Request(None),
            &admin(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChangeOrderError::Store(StoreError::Unavailable(_))),
        "{err:?}"
    );
}
