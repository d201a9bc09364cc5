//! Shipping address, note and shipment: their checks, and changing them through the aggregate.

use super::*;

/// A confirmed order with both an address and a note, events taken.
fn detailed_order() -> Order {
    let mut order = order_in(Confirmed);
    let details = OrderDetails {
        shipping_address: Some(address("London")),
        note: Some(note("leave at the door")),
    };
    order.update_details(details, Utc::now()).unwrap();
    order.take_events();
    order
}

#[test]
fn details_change_until_the_order_ships() {
    for status in [Pending, Confirmed] {
        let mut order = order_in(status);
        let before = order.version();
        let note = OrderNote::parse("leave at the door").unwrap();
        let details = OrderDetails {
            shipping_address: None,
            note: Some(note.clone()),
        };
        assert_eq!(order.update_details(details, Utc::now()), Ok(before + 1));
        assert_eq!(order.details().note.as_ref(), Some(&note));
        assert_eq!(order.status(), status);
    }
    for status in [Shipped, Delivered, Rejected, Cancelled] {
        let mut order = order_in(status);
        let before = order.clone();
        assert_eq!(
            order.update_details(OrderDetails::default(), Utc::now()),
            Err(NotEditable { status })
        );
        assert_eq!(order, before);
    }
}

#[test]
fn addresses_notes_and_shipments_are_checked() {
    let fields = ShippingAddressFields {
        name: "Ada Lovelace".into(),
        line1: "12 St James's Square".into(),
        line2: Some("  ".into()),
        city: "London".into(),
        region: None,
        postal_code: "SW1Y 4JH".into(),
        country: "GB".into(),
    };
    let address = ShippingAddress::parse(fields.clone()).unwrap();
    assert_eq!(
        address.fields().line2,
        None,
        "a blank optional line is dropped"
    );
    let bad = ShippingAddressFields {
        name: " ".into(),
        country: "gbr".into(),
        ..fields
    };
    let errors = ShippingAddress::parse(bad).unwrap_err();
    let failing: Vec<&str> = errors.iter().map(|e| e.field).collect();
    assert_eq!(
        failing,
        ["shipping_address.name", "shipping_address.country"]
    );
    assert!(OrderNote::parse(&"x".repeat(501)).is_err());
    assert!(Shipment::parse("", &"9".repeat(65)).unwrap_err().len() == 2);
}

#[test]
fn a_patch_merges_field_by_field() {
    let details = OrderDetails {
        shipping_address: Some(address("London")),
        note: Some(note("leave at the door")),
    };
    assert_eq!(details.patched(DetailsPatch::default()), details);
    let patch = DetailsPatch {
        shipping_address: Some(Some(address("Paris"))),
        note: Some(None),
    };
    assert_eq!(
        details.patched(patch),
        OrderDetails {
            shipping_address: Some(address("Paris")),
            note: None,
        }
    );
    let empty = OrderDetails::default();
    let patch = DetailsPatch {
        shipping_address: None,
        note: Some(Some(note("ring twice"))),
    };
    assert_eq!(
        empty.patched(patch),
        OrderDetails {
            shipping_address: None,
            note: Some(note("ring twice")),
        }
    );
}

#[test]
fn an_empty_patch_keeps_both_fields_but_still_bumps_the_version() {
    let mut order = detailed_order();
    let before = order.clone();
    let version = order.edit_details(DetailsPatch::default(), Utc::now());
    assert_eq!(version, Ok(before.version() + 1));
    assert_eq!(order.version(), before.version() + 1);
    assert_eq!(order.details(), before.details());
    assert_eq!(order.status(), Confirmed);
}

#[test]
fn a_null_clears_a_field() {
    let mut order = detailed_order();
    let patch = DetailsPatch {
        shipping_address: Some(None),
        note: Some(None),
    };
    order.edit_details(patch, Utc::now()).unwrap();
    assert_eq!(order.details(), &OrderDetails::default());
}

#[test]
fn a_value_replaces_a_field() {
    let mut order = detailed_order();
    let patch = DetailsPatch {
        shipping_address: Some(Some(address("Paris"))),
        note: Some(Some(note("ring twice"))),
    };
    order.edit_details(patch, Utc::now()).unwrap();
    assert_eq!(order.details().shipping_address, Some(address("Paris")));
    assert_eq!(order.details().note, Some(note("ring twice")));
}

#[test]
fn a_field_left_out_keeps_its_value() {
    let mut order = detailed_order();
    let patch = DetailsPatch {
        shipping_address: None,
        note: Some(Some(note("ring twice"))),
    };
    order.edit_details(patch, Utc::now()).unwrap();
    assert_eq!(order.details().shipping_address, Some(address("London")));
    assert_eq!(order.details().note, Some(note("ring twice")));

    let patch = DetailsPatch {
        shipping_address: Some(Some(address("Paris"))),
        note: None,
    };
    order.edit_details(patch, Utc::now()).unwrap();
    assert_eq!(order.details().shipping_address, Some(address("Paris")));
    assert_eq!(order.details().note, Some(note("ring twice")));
}

#[test]
fn edit_details_is_refused_once_shipped_and_records_nothing() {
    for status in [Shipped, Delivered, Rejected, Cancelled] {
        let mut order = order_in(status);
        let before = order.clone();
        let patch = DetailsPatch {
            shipping_address: Some(Some(address("Paris"))),
            note: Some(None),
        };
        assert_eq!(
            order.edit_details(patch, Utc::now()),
            Err(NotEditable { status })
        );
        assert_eq!(
            order, before,
            "a refused edit must not change a {status} order"
        );
        assert!(order.take_events().is_empty());
    }
}
