//! Who may do what to whose orders, through the order use cases: a customer places orders for
//! itself and sees and changes only its own (another customer's order is "not found"); only
//! an admin ships, delivers and sees every order.

use domain::Role;
use ports::PageRequest;
use ports::ordering::Cause;
use ports::ordering::{ChangeOrderError, OrderCommand, OrderFilter, PlaceOrderError};

use crate::support::{FakeCatalog, Shop, admin, customer, line, manual_clock, placing};

fn page() -> PageRequest {
    PageRequest::new(100, None).expect("a page")
}

#[tokio::test]
async fn a_customer_sees_and_changes_only_its_own_orders() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let (alice, bob) = (customer("alice"), customer("bob"));
    let mut request = placing(vec![line(ids[0], 1)]);
    request.caller = alice.clone();
    let order = shop.orders.place_order(request).await.expect("placed");
    assert_eq!(order.customer_id().map(|c| c.as_str()), Some("alice"));

    let id = order.id();
    assert_eq!(
        shop.orders.find_order(id, &alice).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(shop.orders.find_order(id, &bob).await.unwrap(), None);
    assert!(shop.orders.history(id, &bob).await.unwrap().is_none());
    assert_eq!(
        shop.orders
            .history(id, &alice)
            .await
            .unwrap()
            .map(|h| h.len()),
        Some(1)
    );

    let all = OrderFilter::default();
    let mine = shop.orders.list_orders(&all, page(), &alice).await.unwrap();
    assert_eq!(mine.items, vec![order.clone()]);
    let theirs = shop.orders.list_orders(&all, page(), &bob).await.unwrap();
    assert!(theirs.items.is_empty(), "{theirs:?}");
    let snooping = OrderFilter {
        customer_id: Some(alice.subject().clone()),
        ..OrderFilter::default()
    };
    let snooped = shop
        .orders
        .list_orders(&snooping, page(), &bob)
        .await
        .unwrap();
    assert!(
        snooped.items.is_empty(),
        "a filter on another customer finds nothing"
    );

    let cancel = shop
        .orders
        .change_order(id, None, OrderCommand::Cancel, Cause::Request(None), &bob)
        .await
        .unwrap_err();
    assert!(
        matches!(cancel, ChangeOrderError::NotFound(found) if found == id),
        "{cancel:?}"
    );
    assert_eq!(shop.order(id).await, order, "bob's cancel changed nothing");
    let cancelled = shop
        .orders
        .change_order(id, None, OrderCommand::Cancel, Cause::Request(None), &alice)
        .await
        .expect("alice cancels her own order");
    assert_eq!(cancelled.status(), domain::OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_customer_may_not_ship_deliver_or_order_for_someone_else() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let alice = customer("alice");
    let mut request = placing(vec![line(ids[0], 1)]);
    request.caller = alice.clone();
    request.customer_id = Some(customer("bob").subject().clone());
    let refused = shop.orders.place_order(request).await.unwrap_err();
    assert!(
        matches!(refused, PlaceOrderError::NotYourCustomerId(_)),
        "{refused:?}"
    );

    let mut request = placing(vec![line(ids[0], 1)]);
    request.caller = alice.clone();
    let order = shop.orders.place_order(request).await.expect("placed");
    let shipment = domain::Shipment::parse("DHL", "123").expect("a shipment");
    for command in [OrderCommand::Ship(shipment), OrderCommand::Deliver] {
        let refused = shop
            .orders
            .change_order(order.id(), None, command, Cause::Request(None), &alice)
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, ChangeOrderError::Forbidden(f) if f.role == Role::Customer),
            "{refused:?}"
        );
    }
    assert_eq!(shop.order(order.id()).await, order);
}

#[tokio::test]
async fn an_admin_sees_every_order_and_orders_for_whom_it_names() {
    let (catalog, ids) = FakeCatalog::with(&[("Widget", "1.00")]);
    let shop = Shop::new(catalog, manual_clock()).await;
    let mut request = placing(vec![line(ids[0], 1)]);
    request.caller = customer("alice");
    let alices = shop.orders.place_order(request).await.expect("placed");
    let mut request = placing(vec![line(ids[0], 1)]);
    request.customer_id = Some(customer("bob").subject().clone());
    let bobs = shop
        .orders
        .place_order(request)
        .await
        .expect("placed by an admin for bob");
    assert_eq!(bobs.customer_id().map(|c| c.as_str()), Some("bob"));
    let everything = shop
        .orders
        .list_orders(&OrderFilter::default(), page(), &admin())
        .await
        .unwrap();
    assert_eq!(everything.items.len(), 2);
    assert!(
        shop.orders
            .find_order(alices.id(), &admin())
            .await
            .unwrap()
            .is_some(),
        "an admin reads any order"
    );
}
