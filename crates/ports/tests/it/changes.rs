//! Changes clients ask of an order: cancel, ship, deliver, edit its details; with If-Match
//! and idempotency keys.

use domain::{
    DetailsPatch, OrderDetails, OrderId, OrderNote, OrderStatus, ProductId, Shipment,
    ShippingAddress, ShippingAddressFields,
};
use ports::HandleOutcome;
use ports::events::{OrderCancelledV1, OrderDeliveredV1, OrderQtyConfirmedV1, OrderShippedV1};
use ports::ordering::{Cause, ChangeOrderError, DETAILS_UPDATED, OrderCommand, ProductCatalog};

use crate::support::{
    FakeCatalog, Shop, admin, deliver, line, manual_clock, message, placing, publish, the_only,
};

#[tokio::test]
async fn an_idempotent_retry_answers_the_same_order_without_a_second_change() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let order = shop.place(vec![line(ids[0], 1)]).await;
    publish(&shop.outbox).await;
    let ops = admin();
    let cancel = || {
        shop.orders.change_order(
            order.id(),
            Some(1),
            OrderCommand::Cancel,
            Cause::IdempotentRequest("k1".into()),
            &ops,
        )
    };
    let first = cancel().await.unwrap();

    shop.clock.advance(chrono::Duration::seconds(5));
    // Its If-Match is stale by now, yet it is the same request: the same answer.
    let retry = cancel().await.unwrap();

    assert_eq!(retry, first);
    assert_eq!(
        (first.status(), first.version()),
        (OrderStatus::Cancelled, 2)
    );
    assert_eq!(shop.history_len(order.id()).await, 2);
    let cancelled: OrderCancelledV1 = the_only(&publish(&shop.outbox).await);
    assert_eq!(
        (cancelled.order_id, cancelled.reason.as_str()),
        (order.id(), "customer")
    );
}

#[tokio::test]
async fn a_reused_request_id_never_suppresses_a_change() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let mut request = placing(vec![line(ids[0], 1)]);
    request.cause = Cause::Request(Some("abc".into()));
    let order = shop.orders.place_order(request).await.unwrap();
    publish(&shop.outbox).await;

    let cancelled = shop
        .orders
        .change_order(
            order.id(),
            None,
            OrderCommand::Cancel,
            Cause::Request(Some("abc".into())),
            &admin(),
        )
        .await
        .unwrap();

    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    let history = shop
        .orders
        .history(order.id(), &admin())
        .await
        .unwrap()
        .unwrap();
    let causes: Vec<&str> = history.iter().map(|h| h.cause.as_str()).collect();
    assert_eq!(causes, ["request:abc", "request:abc"]);
    let _: OrderCancelledV1 = the_only(&publish(&shop.outbox).await);
}

/// A shipped order (version 3), with its shipment and its `order.shipped` published.
async fn shipped_order(shop: &Shop<impl ProductCatalog>, product: ProductId) -> OrderId {
    let order = shop.place(vec![line(product, 1)]).await;
    let confirmed = message(
        &OrderQtyConfirmedV1 {
            order_id: order.id(),
        },
        &shop.clock,
    );
    assert_eq!(deliver(&shop.orders, &confirmed).await, HandleOutcome::Ack);
    publish(&shop.outbox).await;
    let shipment = Shipment::parse("DHL", "1").expect("a valid shipment");
    let shipped = shop
        .orders
        .change_order(
            order.id(),
            Some(2),
            OrderCommand::Ship(shipment),
            Cause::Request(None),
            &admin(),
        )
        .await
        .expect("ship the order");
    assert_eq!(
        (shipped.status(), shipped.version()),
        (OrderStatus::Shipped, 3)
    );
    let announced: OrderShippedV1 = the_only(&publish(&shop.outbox).await);
    assert_eq!(
        (
            announced.carrier.as_str(),
            announced.tracking_number.as_str()
        ),
        ("DHL", "1")
    );
    order.id()
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_changes_nothing() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let id = shipped_order(&shop, ids[0]).await;
    let before = shop.order(id).await;

    let err = shop
        .orders
        .change_order(
            id,
            Some(1),
            OrderCommand::Deliver,
            Cause::Request(None),
            &admin(),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, ChangeOrderError::Stale { current_version: 3 }),
        "{err:?}"
    );
    assert_eq!(shop.order(id).await, before);
    assert!(publish(&shop.outbox).await.is_empty());
}

#[tokio::test]
async fn an_action_the_status_refuses_is_not_allowed_and_names_what_is() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let id = shipped_order(&shop, ids[0]).await;
    let before = shop.order(id).await;

    let err = shop
        .orders
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
        matches!(
            &err,
            ChangeOrderError::NotAllowed { action: "cancel", status: OrderStatus::Shipped, allowed_actions }
                if allowed_actions == &vec!["deliver"]
        ),
        "{err:?}"
    );
    assert_eq!(shop.order(id).await, before);
    assert!(publish(&shop.outbox).await.is_empty());
    // What is allowed goes through, and is announced.
    let delivered = shop
        .orders
        .change_order(
            id,
            Some(3),
            OrderCommand::Deliver,
            Cause::Request(None),
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(delivered.status(), OrderStatus::Delivered);
    let announced: OrderDeliveredV1 = the_only(&publish(&shop.outbox).await);
    assert_eq!(announced.order_id, id);
}

#[tokio::test]
async fn a_details_update_merges_the_patch_into_the_details() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let address = |city: &str| {
        ShippingAddress::parse(ShippingAddressFields {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: city.into(),
            postal_code: "12345".into(),
            country: "DE".into(),
            ..Default::default()
        })
        .unwrap()
    };
    let note = |text: &str| Some(OrderNote::parse(text).unwrap());
    let mut request = placing(vec![line(ids[0], 1)]);
    request.details = OrderDetails {
        shipping_address: Some(address("Berlin")),
        note: note("ring twice"),
    };
    let order = shop.orders.place_order(request).await.unwrap();
    publish(&shop.outbox).await;
    let ops = admin();
    let update = |patch| {
        shop.orders.change_order(
            order.id(),
            None,
            OrderCommand::UpdateDetails(patch),
            Cause::Request(None),
            &ops,
        )
    };

    // The address is left out (kept); the note gets a new value.
    update(DetailsPatch {
        shipping_address: None,
        note: Some(note("leave at the door")),
    })
    .await
    .unwrap();
    let stored = shop.order(order.id()).await;
    assert_eq!(stored.details().shipping_address, Some(address("Berlin")));
    assert_eq!(stored.details().note, note("leave at the door"));

    // The address is null (cleared); the note is left out (kept).
    update(DetailsPatch {
        shipping_address: Some(None),
        note: None,
    })
    .await
    .unwrap();
    let stored = shop.order(order.id()).await;
    assert_eq!(stored.details().shipping_address, None);
    assert_eq!(stored.details().note, note("leave at the door"));
    assert_eq!(
        (stored.status(), stored.version()),
        (OrderStatus::Pending, 3)
    );

    let history = shop
        .orders
        .history(order.id(), &admin())
        .await
        .unwrap()
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.from, last.to, last.reason.as_deref()),
        (
            Some(OrderStatus::Pending),
            OrderStatus::Pending,
            Some(DETAILS_UPDATED)
        )
    );
    // Details stay inside the order service.
    assert!(publish(&shop.outbox).await.is_empty());
}
