//! Placing an order, and the inventory's answers to it.

use domain::{OrderId, OrderStatus, RejectionReason};
use ports::HandleOutcome;
use ports::events::{
    OrderCreatedV1, OrderQtyConfirmedV1, OrderQtyFailedV1, OrderedItemV1, OutboxMessage,
};
use ports::ordering::{
    CatalogError, Cause, OrderCommand, OrderFilter, PlaceOrderError, ProductCatalog,
    created_message_id,
};
use ports::{InboundMessage, MessageHandler, PageRequest};

use crate::support::{
    FakeCatalog, Shop, admin, deliver, line, manual_clock, message, placing, publish,
    shop_and_inventory, the_only, usd,
};

/// Asserts that the shop holds no order and enqueued nothing.
async fn assert_nothing_written<C: ProductCatalog>(shop: &Shop<C>) {
    let all = PageRequest::new(100, None).expect("a page");
    let orders = shop
        .orders
        .list_orders(&OrderFilter::default(), all, &admin())
        .await
        .expect("list orders");
    assert!(orders.items.is_empty(), "{orders:?}");
    assert!(publish(&shop.outbox).await.is_empty());
}

fn confirmation(shop: &Shop<impl ProductCatalog>, order_id: OrderId) -> OutboxMessage {
    message(&OrderQtyConfirmedV1 { order_id }, &shop.clock)
}

fn failure(shop: &Shop<impl ProductCatalog>, order_id: OrderId, reason: &str) -> OutboxMessage {
    message(
        &OrderQtyFailedV1 {
            order_id,
            reason: reason.into(),
            failing_items: vec![],
        },
        &shop.clock,
    )
}

#[tokio::test]
async fn placing_an_order_stores_it_priced_from_the_catalogue_with_its_history_and_one_event() {
    let (shop, inventory) = shop_and_inventory().await;
    let laptop = inventory.product("Laptop", "699.99", 10).await;

    let placed = shop.place(vec![line(laptop, 2)]).await;

    assert_eq!(placed.total(), usd("1399.98"));
    assert_eq!(placed.items()[0].product_name(), "Laptop");
    assert_eq!(placed.items()[0].unit_price(), usd("699.99"));
    assert_eq!(placed.status(), OrderStatus::Pending);
    assert_eq!(shop.order(placed.id()).await, placed);
    let history = shop
        .orders
        .history(placed.id(), &admin())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].seq, history[0].from, history[0].to),
        (1, None, OrderStatus::Pending)
    );
    assert_eq!(history[0].cause, "request:req-1");
    let outbox = publish(&shop.outbox).await;
    let created: OrderCreatedV1 = the_only(&outbox);
    assert_eq!(outbox[0].id, created_message_id(placed.id()));
    assert_eq!(created.order_id, placed.id());
    assert_eq!(
        created.items,
        vec![OrderedItemV1 {
            product_id: laptop,
            quantity: 2
        }]
    );
    // Pricing reads the catalogue; the stock is the inventory's business, later.
    assert_eq!(inventory.stock(laptop).await, 10);
}

#[tokio::test]
async fn an_order_with_an_unknown_product_names_it_and_writes_nothing() {
    let (shop, inventory) = shop_and_inventory().await;
    let known = inventory.product("Known", "1.00", 5).await;
    let unknown = domain::ProductId::new();

    let err = shop
        .orders
        .place_order(placing(vec![line(known, 1), line(unknown, 1)]))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, PlaceOrderError::UnknownProducts(ids) if ids == &vec![unknown]),
        "{err:?}"
    );
    assert_nothing_written(&shop).await;
}

#[tokio::test]
async fn a_catalogue_outage_fails_the_order_and_writes_nothing() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    catalog.go_down();
    let shop = Shop::new(catalog, manual_clock()).await;

    let err = shop
        .orders
        .place_order(placing(vec![line(ids[0], 1)]))
        .await
        .unwrap_err();

    assert!(
        matches!(err, PlaceOrderError::Catalog(CatalogError::Unavailable(_))),
        "{err:?}"
    );
    assert_nothing_written(&shop).await;
}

#[tokio::test]
async fn a_confirmation_moves_a_pending_order_to_confirmed_once() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let order = shop.place(vec![line(ids[0], 1)]).await;
    publish(&shop.outbox).await;
    let confirmed = confirmation(&shop, order.id());

    assert_eq!(deliver(&shop.orders, &confirmed).await, HandleOutcome::Ack);

    let stored = shop.order(order.id()).await;
    assert_eq!(
        (stored.status(), stored.version()),
        (OrderStatus::Confirmed, 2)
    );
    let history = shop
        .orders
        .history(order.id(), &admin())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[1].seq, history[1].from, history[1].to),
        (2, Some(OrderStatus::Pending), OrderStatus::Confirmed)
    );
    assert_eq!(history[1].cause, format!("message:{}", confirmed.id));
    // A confirmation stays inside the order service.
    assert!(publish(&shop.outbox).await.is_empty());
    // Another confirmation of the same order (a second message) changes nothing either.
    let again = confirmation(&shop, order.id());
    assert_eq!(deliver(&shop.orders, &again).await, HandleOutcome::Ack);
    assert_eq!(shop.order(order.id()).await, stored);
    assert_eq!(shop.history_len(order.id()).await, 2);
}

#[tokio::test]
async fn a_redelivered_answer_is_acknowledged_without_effect() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let order = shop.place(vec![line(ids[0], 1)]).await;
    let rejected = failure(&shop, order.id(), "insufficient_stock");
    assert_eq!(deliver(&shop.orders, &rejected).await, HandleOutcome::Ack);
    let after_first = shop.order(order.id()).await;

    shop.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(deliver(&shop.orders, &rejected).await, HandleOutcome::Ack);

    assert_eq!(shop.order(order.id()).await, after_first);
    assert_eq!(shop.history_len(order.id()).await, 2);
}

#[tokio::test]
async fn a_confirmation_after_a_cancel_never_revives_the_order() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let order = shop.place(vec![line(ids[0], 1)]).await;
    let cancelled = shop
        .orders
        .change_order(
            order.id(),
            None,
            OrderCommand::Cancel,
            Cause::Request(None),
            &admin(),
        )
        .await
        .unwrap();

    let late = confirmation(&shop, order.id());
    assert_eq!(deliver(&shop.orders, &late).await, HandleOutcome::Ack);

    assert_eq!(shop.order(order.id()).await, cancelled);
    assert_eq!(shop.history_len(order.id()).await, 2);
}

#[tokio::test]
async fn a_failure_answer_rejects_the_order_with_its_reason() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    for (reason, expected) in [
        ("insufficient_stock", RejectionReason::InsufficientStock),
        ("unknown_product", RejectionReason::UnknownProduct),
    ] {
        let order = shop.place(vec![line(ids[0], 1)]).await;
        publish(&shop.outbox).await;

        let answer = failure(&shop, order.id(), reason);
        assert_eq!(deliver(&shop.orders, &answer).await, HandleOutcome::Ack);

        let stored = shop.order(order.id()).await;
        assert_eq!(stored.status(), OrderStatus::Rejected);
        assert_eq!(stored.rejection_reason(), Some(expected));
        let history = shop
            .orders
            .history(order.id(), &admin())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(history[1].reason.as_deref(), Some(reason));
        // Nothing was reserved, so there is nothing to release: no order.cancelled.
        assert!(publish(&shop.outbox).await.is_empty());
    }
}

#[tokio::test]
async fn a_malformed_or_unexpected_message_is_dead_lettered_untouched() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let order = shop.place(vec![line(ids[0], 1)]).await;
    let malformed = InboundMessage {
        trace: None,
        message_id: None,
        routing_key: "order.qty_confirmed".into(),
        body: b"{oops".to_vec(),
        redelivered: false,
    };
    let unexpected = InboundMessage {
        routing_key: "order.created".into(),
        ..malformed.clone()
    };
    for msg in [malformed, unexpected] {
        let outcome = shop.orders.handle(&msg).await;
        assert!(
            matches!(outcome, HandleOutcome::DeadLetter(_)),
            "{outcome:?}"
        );
    }
    // An answer about an order this service never placed cannot be applied either.
    let stray = confirmation(&shop, OrderId::new());
    let outcome = deliver(&shop.orders, &stray).await;
    assert!(
        matches!(outcome, HandleOutcome::DeadLetter(_)),
        "{outcome:?}"
    );
    assert_eq!(shop.order(order.id()).await, order);
}
