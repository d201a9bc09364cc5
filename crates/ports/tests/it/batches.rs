//! Messages handed over together, as a consumer does with deliveries that arrived at once:
//! each keeps the effect it would have alone (exactly once, all-or-nothing), and only the one
//! at fault is dead-lettered.

use domain::{OrderId, OrderStatus};
use ports::HandleOutcome;
use ports::events::{
    OrderCancelledV1, OrderQtyConfirmedV1, OrderQtyFailedV1, OutboxMessage, decode, keys,
};
use ports::inventory::ReservationStatus;

use crate::support::{
    FakeCatalog, Inventory, Shop, created, deliver, deliver_batch, line, manual_clock, message,
    publish,
};

/// The inventory's answers in the outbox, as (order, confirmed?) in the order they were written.
fn answers(messages: &[OutboxMessage]) -> Vec<(OrderId, bool)> {
    messages
        .iter()
        .map(|m| match m.routing_key.as_str() {
            keys::ORDER_QTY_CONFIRMED => (
                decode::<OrderQtyConfirmedV1>(m.payload.as_bytes())
                    .expect("a confirmation")
                    .data
                    .order_id,
                true,
            ),
            keys::ORDER_QTY_FAILED => (
                decode::<OrderQtyFailedV1>(m.payload.as_bytes())
                    .expect("a failure")
                    .data
                    .order_id,
                false,
            ),
            other => panic!("unexpected message {other}"),
        })
        .collect()
}

#[tokio::test]
async fn reservations_in_one_batch_share_the_stock_in_delivery_order() {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let desk = inventory.product("Desk", "99.00", 4).await;
    let (first, second, third, cancelled) = (
        OrderId::new(),
        OrderId::new(),
        OrderId::new(),
        OrderId::new(),
    );
    // Cancelled before its reservation: a tombstone waits for it.
    let cancel = message(
        &OrderCancelledV1 {
            order_id: cancelled,
            reason: "customer".into(),
        },
        &inventory.clock,
    );
    assert_eq!(
        deliver(&*inventory.service, &cancel).await,
        HandleOutcome::Ack
    );
    let first_msg = created(&inventory, first, &[(lamp, 3), (desk, 1)]);
    let batch = [
        first_msg.clone(),
        created(&inventory, second, &[(lamp, 3)]),
        created(&inventory, cancelled, &[(desk, 2)]),
        first_msg,
        created(&inventory, third, &[(desk, 2), (lamp, 2)]),
    ];

    let outcomes = deliver_batch(&*inventory.service, &batch).await;

    assert_eq!(outcomes, vec![HandleOutcome::Ack; 5]);
    // 5 lamps: the first order takes 3, the second finds 2 and is refused, the third takes 2.
    assert_eq!(
        answers(&publish(&inventory.outbox).await),
        [(first, true), (second, false), (third, true)]
    );
    assert_eq!(inventory.stock(lamp).await, 0);
    assert_eq!(inventory.stock(desk).await, 1);
    assert_eq!(inventory.reservations(first).await.len(), 2);
    assert!(inventory.reservations(second).await.is_empty());
    assert!(inventory.reservations(cancelled).await.is_empty());
    assert!(
        inventory
            .reservations(third)
            .await
            .iter()
            .all(|r| r.status == ReservationStatus::Active)
    );
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_malformed_message_in_a_batch_is_dead_lettered_alone_and_a_cancel_follows_its_reservation()
 {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let order = OrderId::new();
    let mut malformed = created(&inventory, OrderId::new(), &[(lamp, 1)]);
    malformed.payload = "{not json".into();
    let cancel = message(
        &OrderCancelledV1 {
            order_id: order,
            reason: "customer".into(),
        },
        &inventory.clock,
    );
    // The cancellation arrives in the same batch as the reservation, after it.
    let batch = [cancel, created(&inventory, order, &[(lamp, 2)]), malformed];

    let outcomes = deliver_batch(&*inventory.service, &batch).await;

    assert_eq!(outcomes[0], HandleOutcome::Ack);
    assert_eq!(outcomes[1], HandleOutcome::Ack);
    assert!(matches!(outcomes[2], HandleOutcome::DeadLetter(_)));
    assert_eq!(answers(&publish(&inventory.outbox).await), [(order, true)]);
    assert!(
        inventory
            .reservations(order)
            .await
            .iter()
            .all(|r| r.status == ReservationStatus::Released),
        "the cancellation handled after the batch's reservations releases them"
    );
    assert_eq!(inventory.stock(lamp).await, 5);
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn answers_in_one_batch_apply_once_each_and_an_unknown_order_is_dead_lettered_alone() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let (x, y) = (
        shop.place(vec![line(ids[0], 1)]).await,
        shop.place(vec![line(ids[0], 2)]).await,
    );
    publish(&shop.outbox).await;
    let confirm_x = message(&OrderQtyConfirmedV1 { order_id: x.id() }, &shop.clock);
    let fail_y = message(
        &OrderQtyFailedV1 {
            order_id: y.id(),
            reason: "insufficient_stock".into(),
            failing_items: vec![],
        },
        &shop.clock,
    );
    let unknown = message(
        &OrderQtyConfirmedV1 {
            order_id: OrderId::new(),
        },
        &shop.clock,
    );
    let batch = [confirm_x.clone(), unknown, fail_y, confirm_x];

    let outcomes = deliver_batch(&shop.orders, &batch).await;

    assert_eq!(outcomes[0], HandleOutcome::Ack);
    assert!(matches!(outcomes[1], HandleOutcome::DeadLetter(_)));
    assert_eq!(outcomes[2], HandleOutcome::Ack);
    assert_eq!(outcomes[3], HandleOutcome::Ack);
    assert_eq!(shop.order(x.id()).await.status(), OrderStatus::Confirmed);
    assert_eq!(shop.order(y.id()).await.status(), OrderStatus::Rejected);
    // One history row each for placing and for the answer: the duplicate changed nothing.
    assert_eq!(shop.history_len(x.id()).await, 2);
    assert_eq!(shop.history_len(y.id()).await, 2);
}

#[tokio::test]
async fn a_batch_of_answers_confirms_every_order_in_it() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let mut orders = Vec::new();
    for _ in 0..10 {
        orders.push(shop.place(vec![line(ids[0], 1)]).await.id());
    }
    let batch: Vec<OutboxMessage> = orders
        .iter()
        .rev()
        .map(|&order_id| message(&OrderQtyConfirmedV1 { order_id }, &shop.clock))
        .collect();

    let outcomes = deliver_batch(&shop.orders, &batch).await;

    assert_eq!(outcomes, vec![HandleOutcome::Ack; 10]);
    for id in orders {
        assert_eq!(shop.order(id).await.status(), OrderStatus::Confirmed);
    }
}
