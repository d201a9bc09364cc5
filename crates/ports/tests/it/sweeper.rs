//! The stuck-order sweeper, with time moved by the manual clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Elapsed;

use domain::{Order, OrderStatus, RejectionReason};
use ports::HandleOutcome;
use ports::events::{OrderCancelledV1, OrderCreatedV1, OrderQtyConfirmedV1};
use ports::ordering::{SWEEPER, SweepReport, created_message_id};

use crate::support::{
    FakeCatalog, Shop, admin, deliver, line, manual_clock, message, publish, the_only,
};

const DEADLINE: Duration = Duration::from_secs(60);

/// A shop with one pending order whose `order.created` was published.
async fn pending_order() -> (Shop<Arc<FakeCatalog>>, Order, String) {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let order = shop.place(vec![line(ids[0], 2)]).await;
    let published = publish(&shop.outbox).await;
    let _: OrderCreatedV1 = the_only(&published);
    (shop, order, published[0].payload.clone())
}

async fn sweep(shop: &Shop<Arc<FakeCatalog>>, max_reemits: u32) -> SweepReport {
    shop.orders
        .sweep_stuck_orders(DEADLINE, max_reemits)
        .await
        .expect("sweep")
}

/// Asserts that the outbox holds, again, exactly the order's original `order.created`.
async fn assert_reemitted(shop: &Shop<Arc<FakeCatalog>>, order: &Order, original: &str) {
    let published = publish(&shop.outbox).await;
    let created: OrderCreatedV1 = the_only(&published);
    assert_eq!(created.order_id, order.id());
    assert_eq!(published[0].id, created_message_id(order.id()));
    assert_eq!(published[0].payload, original);
}

#[tokio::test]
async fn an_order_within_its_deadline_is_left_alone() {
    let (shop, order, _) = pending_order().await;
    shop.clock.advance(Elapsed::seconds(59));

    assert_eq!(sweep(&shop, 3).await, SweepReport::default());

    assert_eq!(shop.order(order.id()).await, order);
    assert!(publish(&shop.outbox).await.is_empty());
}

#[tokio::test]
async fn a_stuck_order_gets_its_very_order_created_again() {
    let (shop, order, original) = pending_order().await;
    shop.clock.advance(Elapsed::seconds(61));

    let report = sweep(&shop, 3).await;

    assert_eq!(report.reemitted, vec![order.id()]);
    assert!(report.timed_out.is_empty());
    assert_reemitted(&shop, &order, &original).await;
    // Still pending, unchanged: a re-emission is not a change of the order.
    assert_eq!(shop.order(order.id()).await, order);
    assert_eq!(shop.history_len(order.id()).await, 1);
}

#[tokio::test]
async fn a_re_emitted_order_waits_another_deadline() {
    let (shop, order, original) = pending_order().await;
    shop.clock.advance(Elapsed::seconds(61));
    assert_eq!(sweep(&shop, 3).await.reemitted, vec![order.id()]);
    publish(&shop.outbox).await;

    // The second re-emission is due two deadlines after the placement, not before.
    shop.clock.advance(Elapsed::seconds(58));
    assert_eq!(sweep(&shop, 3).await, SweepReport::default());
    assert!(publish(&shop.outbox).await.is_empty());

    shop.clock.advance(Elapsed::seconds(2));
    assert_eq!(sweep(&shop, 3).await.reemitted, vec![order.id()]);
    assert_reemitted(&shop, &order, &original).await;
}

#[tokio::test]
async fn past_its_re_emissions_a_stuck_order_is_rejected_and_cancelled() {
    let (shop, order, _) = pending_order().await;
    for _ in 0..2 {
        shop.clock.advance(Elapsed::seconds(61));
        assert_eq!(sweep(&shop, 2).await.reemitted, vec![order.id()]);
        publish(&shop.outbox).await;
    }

    shop.clock.advance(Elapsed::seconds(61));
    let report = sweep(&shop, 2).await;

    assert_eq!(report.timed_out, vec![order.id()]);
    assert!(report.reemitted.is_empty());
    let stored = shop.order(order.id()).await;
    assert_eq!(stored.status(), OrderStatus::Rejected);
    assert_eq!(stored.rejection_reason(), Some(RejectionReason::Timeout));
    let history = shop
        .orders
        .history(order.id(), &admin())
        .await
        .unwrap()
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.cause.as_str(), last.reason.as_deref()),
        (SWEEPER, Some("timeout"))
    );
    // The inventory may have reserved late: order.cancelled tells it to release.
    let cancelled: OrderCancelledV1 = the_only(&publish(&shop.outbox).await);
    assert_eq!(
        (cancelled.order_id, cancelled.reason.as_str()),
        (order.id(), "timeout")
    );
    // A rejected order is no longer stuck.
    shop.clock.advance(Elapsed::minutes(10));
    assert_eq!(sweep(&shop, 2).await, SweepReport::default());
    assert!(publish(&shop.outbox).await.is_empty());
}

#[tokio::test]
async fn an_answered_order_is_never_swept() {
    let (shop, order, _) = pending_order().await;
    let confirmed = message(
        &OrderQtyConfirmedV1 {
            order_id: order.id(),
        },
        &shop.clock,
    );
    assert_eq!(deliver(&shop.orders, &confirmed).await, HandleOutcome::Ack);
    let before = shop.order(order.id()).await;

    shop.clock.advance(Elapsed::minutes(10));
    assert_eq!(sweep(&shop, 0).await, SweepReport::default());

    assert_eq!(shop.order(order.id()).await, before);
    assert!(publish(&shop.outbox).await.is_empty());
}
