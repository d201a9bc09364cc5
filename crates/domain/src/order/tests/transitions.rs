//! Status changes through the aggregate.

use super::*;

#[test]
fn every_allowed_transition_succeeds_through_the_aggregate() {
    for from in OrderStatus::ALL {
        for &to in from.allowed_targets() {
            let mut order = order_in(from);
            let version = order.version();
            let t = apply(&mut order, to).unwrap();
            assert_eq!((t.from, t.to), (from, to));
            assert_eq!(order.status(), to);
            assert_eq!(order.version(), version + 1);
            assert_eq!(t.version, version + 1);
            assert_eq!(
                order.take_events(),
                vec![OrderEvent::StatusChanged {
                    order_id: order.id(),
                    transition: t,
                    shipment: (to == Shipped).then(shipment),
                }]
            );
        }
    }
}

#[test]
fn every_refused_transition_is_an_error_and_changes_nothing() {
    for from in OrderStatus::ALL {
        for to in OrderStatus::ALL {
            if from.can_transition_to(to) {
                continue;
            }
            let mut order = order_in(from);
            let before = order.clone();
            let err = apply(&mut order, to).unwrap_err();
            assert_eq!(err, InvalidTransition { from, to });
            assert_eq!(err.allowed(), from.allowed_targets());
            assert_eq!(order, before, "{from} -> {to} must not change the order");
        }
    }
}

#[test]
fn cancel_is_refused_once_shipped() {
    let mut order = order_in(Shipped);
    assert_eq!(
        order.cancel(Utc::now()),
        Err(InvalidTransition {
            from: Shipped,
            to: Cancelled
        })
    );
}

#[test]
fn a_rejection_keeps_its_reason() {
    let mut order = order_in(Pending);
    order
        .reject(RejectionReason::InsufficientStock, Utc::now())
        .unwrap();
    assert_eq!(
        order.rejection_reason(),
        Some(RejectionReason::InsufficientStock)
    );
}

#[test]
fn shipping_keeps_the_carrier_and_tracking_number() {
    let mut order = order_in(Confirmed);
    order.ship(shipment(), Utc::now()).unwrap();
    assert_eq!(order.shipment().map(Shipment::carrier), Some("DHL"));
    assert_eq!(
        order.shipment().map(Shipment::tracking_number),
        Some("JD0146")
    );
}
