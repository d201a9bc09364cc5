//! The inventory's answers to order events: reserve, release, consume. Every test ends by
//! checking that no unit of stock appeared or vanished.

use domain::{OrderId, ProductId};
use ports::HandleOutcome;
use ports::events::{
    FailedItemV1, OrderCancelledV1, OrderDeliveredV1, OrderQtyConfirmedV1, OrderQtyFailedV1,
    OrderShippedV1, OutboxMessage,
};
use ports::inventory::{CacheStatus, ReservationStatus};
use ports::{InboundMessage, MessageHandler};

use crate::support::{Inventory, created, deliver, manual_clock, message, publish, the_only};

fn cancelled(inventory: &Inventory, order_id: OrderId) -> OutboxMessage {
    let reason = "customer".into();
    message(&OrderCancelledV1 { order_id, reason }, &inventory.clock)
}

fn shipped(inventory: &Inventory, order_id: OrderId) -> OutboxMessage {
    let event = OrderShippedV1 {
        order_id,
        carrier: "UPS".into(),
        tracking_number: "1Z999".into(),
    };
    message(&event, &inventory.clock)
}

async fn handle(inventory: &Inventory, msg: &OutboxMessage) {
    assert_eq!(deliver(&*inventory.service, msg).await, HandleOutcome::Ack);
}

/// What the order's reservations hold, by product.
async fn reserved(
    inventory: &Inventory,
    order_id: OrderId,
) -> Vec<(ProductId, u32, ReservationStatus)> {
    let mut lines: Vec<_> = inventory
        .reservations(order_id)
        .await
        .into_iter()
        .map(|r| (r.product_id, r.quantity.get(), r.status))
        .collect();
    lines.sort_by_key(|l| l.0);
    lines
}

fn sorted<const N: usize>(
    mut lines: [(ProductId, u32, ReservationStatus); N],
) -> Vec<(ProductId, u32, ReservationStatus)> {
    lines.sort_by_key(|l| l.0);
    lines.to_vec()
}

/// An inventory with a lamp (5 on hand) and a desk (1 on hand), and an order reserving 2
/// lamps and the desk; its `order.qty_confirmed` is published.
async fn reserved_order() -> (Inventory, ProductId, ProductId, OrderId) {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let desk = inventory.product("Desk", "99.00", 1).await;
    let order_id = OrderId::new();
    handle(
        &inventory,
        &created(&inventory, order_id, &[(desk, 1), (lamp, 2)]),
    )
    .await;
    let _: OrderQtyConfirmedV1 = the_only(&publish(&inventory.outbox).await);
    (inventory, lamp, desk, order_id)
}

#[tokio::test]
async fn a_covered_order_is_reserved_and_confirmed() {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let desk = inventory.product("Desk", "99.00", 1).await;
    // Cached copies of both products, which the reservation makes stale.
    for id in [lamp, desk] {
        inventory.service.get_product(id).await.unwrap();
    }
    let order_id = OrderId::new();

    handle(
        &inventory,
        &created(&inventory, order_id, &[(desk, 1), (lamp, 2)]),
    )
    .await;

    assert_eq!(
        (inventory.stock(lamp).await, inventory.stock(desk).await),
        (3, 0)
    );
    assert_eq!(
        reserved(&inventory, order_id).await,
        sorted([
            (lamp, 2, ReservationStatus::Active),
            (desk, 1, ReservationStatus::Active)
        ])
    );
    let confirmed: OrderQtyConfirmedV1 = the_only(&publish(&inventory.outbox).await);
    assert_eq!(confirmed.order_id, order_id);
    let (product, status) = inventory.service.get_product(lamp).await.unwrap();
    assert_eq!(status, CacheStatus::Miss, "the stale copy was evicted");
    assert_eq!(product.unwrap().stock().get(), 3);
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn one_short_line_reserves_nothing_and_answers_qty_failed_with_the_shortage() {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let desk = inventory.product("Desk", "99.00", 1).await;
    let order_id = OrderId::new();

    handle(
        &inventory,
        &created(&inventory, order_id, &[(lamp, 2), (desk, 2)]),
    )
    .await;

    assert_eq!(
        (inventory.stock(lamp).await, inventory.stock(desk).await),
        (5, 1)
    );
    assert!(inventory.reservations(order_id).await.is_empty());
    let failed: OrderQtyFailedV1 = the_only(&publish(&inventory.outbox).await);
    assert_eq!(
        (failed.order_id, failed.reason.as_str()),
        (order_id, "insufficient_stock")
    );
    assert_eq!(
        failed.failing_items,
        vec![FailedItemV1 {
            product_id: desk,
            requested: 2,
            available: 1
        }]
    );
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn an_unknown_product_fails_the_order_with_that_reason() {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let unknown = ProductId::new();
    let order_id = OrderId::new();

    handle(
        &inventory,
        &created(&inventory, order_id, &[(lamp, 1), (unknown, 1)]),
    )
    .await;

    assert_eq!(inventory.stock(lamp).await, 5);
    assert!(inventory.reservations(order_id).await.is_empty());
    let failed: OrderQtyFailedV1 = the_only(&publish(&inventory.outbox).await);
    assert_eq!(failed.reason, "unknown_product");
    assert_eq!(
        failed.failing_items,
        vec![FailedItemV1 {
            product_id: unknown,
            requested: 1,
            available: 0
        }]
    );
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_duplicate_order_created_has_no_effect() {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let order_id = OrderId::new();
    let msg = created(&inventory, order_id, &[(lamp, 2)]);
    handle(&inventory, &msg).await;
    let _: OrderQtyConfirmedV1 = the_only(&publish(&inventory.outbox).await);

    handle(&inventory, &msg).await;

    assert_eq!(inventory.stock(lamp).await, 3);
    assert!(publish(&inventory.outbox).await.is_empty());
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_malformed_order_is_dead_lettered_and_changes_nothing() {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let messages = [
        created(&inventory, OrderId::new(), &[(lamp, 0)]),
        created(&inventory, OrderId::new(), &[(lamp, 10_001)]),
        created(&inventory, OrderId::new(), &[]),
    ];
    for msg in &messages {
        let outcome = deliver(&*inventory.service, msg).await;
        assert!(
            matches!(outcome, HandleOutcome::DeadLetter(_)),
            "{outcome:?}"
        );
    }
    for routing_key in ["order.created", "order.paid"] {
        let outcome = inventory
            .service
            .handle(&InboundMessage {
                trace: None,
                message_id: None,
                routing_key: routing_key.into(),
                body: b"{oops".to_vec(),
                redelivered: false,
            })
            .await;
        assert!(
            matches!(outcome, HandleOutcome::DeadLetter(_)),
            "{outcome:?}"
        );
    }

    assert_eq!(inventory.stock(lamp).await, 5);
    assert!(publish(&inventory.outbox).await.is_empty());
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_cancel_releases_the_active_reservations_once_and_evicts_them() {
    let (inventory, lamp, desk, order_id) = reserved_order().await;
    inventory.service.get_product(lamp).await.unwrap();
    let cancel = cancelled(&inventory, order_id);

    handle(&inventory, &cancel).await;

    assert_eq!(
        (inventory.stock(lamp).await, inventory.stock(desk).await),
        (5, 1)
    );
    assert_eq!(
        reserved(&inventory, order_id).await,
        sorted([
            (lamp, 2, ReservationStatus::Released),
            (desk, 1, ReservationStatus::Released)
        ])
    );
    let (product, status) = inventory.service.get_product(lamp).await.unwrap();
    assert_eq!(
        (status, product.unwrap().stock().get()),
        (CacheStatus::Miss, 5)
    );
    // The same message again, and a second cancellation: nothing more comes back.
    handle(&inventory, &cancel).await;
    handle(&inventory, &cancelled(&inventory, order_id)).await;
    assert_eq!(
        (inventory.stock(lamp).await, inventory.stock(desk).await),
        (5, 1)
    );
    // Releasing answers nothing: the order side already knows.
    assert!(publish(&inventory.outbox).await.is_empty());
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_shipment_consumes_the_reservations_without_touching_the_stock() {
    let (inventory, lamp, desk, order_id) = reserved_order().await;
    let ship = shipped(&inventory, order_id);

    handle(&inventory, &ship).await;
    handle(&inventory, &ship).await;

    assert_eq!(
        (inventory.stock(lamp).await, inventory.stock(desk).await),
        (3, 0)
    );
    assert_eq!(
        reserved(&inventory, order_id).await,
        sorted([
            (lamp, 2, ReservationStatus::Consumed),
            (desk, 1, ReservationStatus::Consumed)
        ])
    );
    // A delivery changes nothing here either.
    let delivered = message(&OrderDeliveredV1 { order_id }, &inventory.clock);
    handle(&inventory, &delivered).await;
    assert_eq!(inventory.stock(lamp).await, 3);
    assert!(publish(&inventory.outbox).await.is_empty());
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_cancel_after_the_shipment_releases_nothing() {
    let (inventory, lamp, desk, order_id) = reserved_order().await;
    handle(&inventory, &shipped(&inventory, order_id)).await;

    handle(&inventory, &cancelled(&inventory, order_id)).await;

    assert_eq!(
        (inventory.stock(lamp).await, inventory.stock(desk).await),
        (3, 0)
    );
    assert!(
        reserved(&inventory, order_id)
            .await
            .iter()
            .all(|r| r.2 == ReservationStatus::Consumed)
    );
    assert!(!inventory.is_tombstoned(order_id).await);
    inventory.assert_units_conserved().await;
}

#[tokio::test]
async fn a_cancel_before_any_reservation_makes_a_late_order_created_reserve_and_answer_nothing() {
    let inventory = Inventory::new(manual_clock()).await;
    let lamp = inventory.product("Lamp", "10.00", 5).await;
    let order_id = OrderId::new();

    handle(&inventory, &cancelled(&inventory, order_id)).await;
    assert!(inventory.is_tombstoned(order_id).await);
    handle(&inventory, &created(&inventory, order_id, &[(lamp, 2)])).await;

    assert_eq!(inventory.stock(lamp).await, 5);
    assert!(inventory.reservations(order_id).await.is_empty());
    assert!(publish(&inventory.outbox).await.is_empty());
    // Another order for the same product is reserved as usual.
    let other = OrderId::new();
    handle(&inventory, &created(&inventory, other, &[(lamp, 2)])).await;
    assert_eq!(inventory.stock(lamp).await, 3);
    inventory.assert_units_conserved().await;
}
