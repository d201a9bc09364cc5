//! The events the aggregate records for the application layer.

use super::*;

#[test]
fn placing_records_placed_with_the_lines_in_item_order() {
    let items = vec![item("2.00", 3), item("1.00", 1), item("5.00", 2)];
    let expected_lines: Vec<OrderLine> = items
        .iter()
        .map(|i| OrderLine {
            product_id: i.product_id,
            quantity: i.quantity,
        })
        .collect();
    let id = OrderId::new();
    let now = Utc::now();
    let mut order = Order::place(id, None, items, Currency::USD, now).unwrap();
    assert_eq!(
        order.take_events(),
        vec![OrderEvent::Placed {
            order_id: id,
            lines: expected_lines,
            at: now,
        }]
    );
}

#[test]
fn each_transition_records_exactly_one_status_changed_with_its_transition() {
    for from in OrderStatus::ALL {
        for &to in from.allowed_targets() {
            let mut order = order_in(from);
            let transition = apply(&mut order, to).unwrap();
            let events = order.take_events();
            assert_eq!(events.len(), 1, "{from} -> {to}");
            let OrderEvent::StatusChanged {
                order_id,
                transition: recorded,
                ..
            } = &events[0]
            else {
                panic!("{from} -> {to} recorded {:?}", events[0]);
            };
            assert_eq!(*order_id, order.id());
            assert_eq!(*recorded, transition);
            assert_eq!((recorded.from, recorded.to), (from, to));
            assert_eq!(recorded.version, order.version());
        }
    }
}

#[test]
fn a_rejection_records_its_reason() {
    let mut order = order_in(Pending);
    let now = Utc::now();
    order.reject(RejectionReason::Timeout, now).unwrap();
    assert_eq!(
        order.take_events(),
        vec![OrderEvent::StatusChanged {
            order_id: order.id(),
            transition: Transition {
                from: Pending,
                to: Rejected,
                reason: Some(RejectionReason::Timeout),
                at: now,
                version: 2,
            },
            shipment: None,
        }]
    );
}

#[test]
fn shipping_records_the_shipment() {
    let mut order = order_in(Confirmed);
    let transition = order.ship(shipment(), Utc::now()).unwrap();
    assert_eq!(
        order.take_events(),
        vec![OrderEvent::StatusChanged {
            order_id: order.id(),
            transition,
            shipment: Some(shipment()),
        }]
    );
}

#[test]
fn only_shipping_carries_a_shipment() {
    for from in OrderStatus::ALL {
        for &to in from.allowed_targets() {
            let mut order = order_in(from);
            apply(&mut order, to).unwrap();
            for event in order.take_events() {
                if let OrderEvent::StatusChanged { shipment, .. } = event {
                    assert_eq!(shipment.is_some(), to == Shipped, "{from} -> {to}");
                }
            }
        }
    }
}

#[test]
fn a_refused_transition_records_nothing() {
    let mut order = order_in(Shipped);
    assert!(order.cancel(Utc::now()).is_err());
    assert!(order.take_events().is_empty());
}

#[test]
fn updating_details_records_details_updated() {
    let mut order = order_in(Confirmed);
    let now = Utc::now();
    let version = order.update_details(OrderDetails::default(), now).unwrap();
    assert_eq!(
        order.take_events(),
        vec![OrderEvent::DetailsUpdated {
            order_id: order.id(),
            status: Confirmed,
            version,
            at: now,
        }]
    );
}

#[test]
fn editing_details_records_details_updated() {
    let mut order = order_in(Pending);
    let now = Utc::now();
    let patch = DetailsPatch {
        shipping_address: None,
        note: Some(Some(note("ring twice"))),
    };
    let version = order.edit_details(patch, now).unwrap();
    assert_eq!(version, 2);
    assert_eq!(
        order.take_events(),
        vec![OrderEvent::DetailsUpdated {
            order_id: order.id(),
            status: Pending,
            version,
            at: now,
        }]
    );
}

#[test]
fn restoring_records_nothing() {
    for status in OrderStatus::ALL {
        let order = order_in(status);
        let mut restored = Order::restore(snapshot_of(&order)).unwrap();
        assert!(restored.take_events().is_empty(), "{status}");
    }
}

#[test]
fn setting_the_placed_details_records_nothing_more() {
    let details = OrderDetails {
        shipping_address: Some(address("London")),
        note: None,
    };
    let mut order = order_in(Pending).with_details(details);
    assert!(order.take_events().is_empty());
    assert_eq!(order.version(), 1);
}

#[test]
fn take_events_hands_them_over_once_and_clears() {
    let mut order = Order::place(
        OrderId::new(),
        None,
        vec![item("1.00", 1)],
        Currency::USD,
        Utc::now(),
    )
    .unwrap();
    order.confirm(Utc::now()).unwrap();
    let events = order.take_events();
    assert_eq!(events.len(), 2);
    assert!(matches!(events[0], OrderEvent::Placed { .. }));
    assert!(matches!(events[1], OrderEvent::StatusChanged { .. }));
    assert!(order.take_events().is_empty());
    order.cancel(Utc::now()).unwrap();
    assert_eq!(order.take_events().len(), 1);
}
