//! The status machine on its own: the table, terminals, client actions and names.

use super::*;

#[test]
fn the_transition_table_is_exactly_the_documented_one() {
    let allowed = [
        (Pending, Confirmed),
        (Pending, Rejected),
        (Pending, Cancelled),
        (Confirmed, Shipped),
        (Confirmed, Cancelled),
        (Shipped, Delivered),
    ];
    for from in OrderStatus::ALL {
        for to in OrderStatus::ALL {
            assert_eq!(
                from.can_transition_to(to),
                allowed.contains(&(from, to)),
                "{from} -> {to}"
            );
        }
    }
}

#[test]
fn terminal_statuses_are_immutable() {
    for s in [Delivered, Rejected, Cancelled] {
        assert!(s.is_terminal());
    }
    for s in [Pending, Confirmed, Shipped] {
        assert!(!s.is_terminal());
    }
}

#[test]
fn allowed_actions_follow_the_transition_table() {
    assert_eq!(Pending.allowed_actions(), ["cancel", "update"]);
    assert_eq!(Confirmed.allowed_actions(), ["ship", "cancel", "update"]);
    assert_eq!(Shipped.allowed_actions(), ["deliver"]);
    for s in [Delivered, Rejected, Cancelled] {
        assert!(s.allowed_actions().is_empty());
    }
}

#[test]
fn statuses_and_reasons_round_trip_through_their_names() {
    for s in OrderStatus::ALL {
        assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
    }
    assert_eq!(OrderStatus::parse("PENDING"), None);
    for r in [
        RejectionReason::InsufficientStock,
        RejectionReason::UnknownProduct,
        RejectionReason::Timeout,
    ] {
        assert_eq!(RejectionReason::parse(r.as_str()), Some(r));
    }
}
