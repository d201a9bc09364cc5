//! Placing an order and reading one back from storage.

use super::*;
use crate::money::MoneyError;

#[test]
fn the_total_is_computed_from_the_snapshots() {
    let order = Order::place(
        OrderId::new(),
        None,
        vec![item("699.99", 2), item("0.10", 3)],
        Currency::USD,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(order.total(), usd("1400.28"));
    assert_eq!(order.items()[0].line_total(), usd("1399.98"));
    assert_eq!(order.status(), Pending);
    assert_eq!(order.version(), 1);
}

#[test]
fn item_lists_are_validated() {
    let place = |items| Order::place(OrderId::new(), None, items, Currency::USD, Utc::now());
    assert_eq!(place(vec![]), Err(OrderError::NoItems));
    let many: Vec<_> = (0..101).map(|_| item("1.00", 1)).collect();
    assert_eq!(place(many), Err(OrderError::TooManyItems(101)));
    let hundred: Vec<_> = (0..100).map(|_| item("1.00", 1)).collect();
    assert!(place(hundred).is_ok());
    let a = item("1.00", 1);
    let dup = vec![a.clone(), a.clone()];
    assert_eq!(place(dup), Err(OrderError::DuplicateProduct(a.product_id)));
}

#[test]
fn prices_in_another_currency_are_refused() {
    let mut foreign = item("1.00", 1);
    foreign.unit_price = Money::parse("1.00", Currency::parse("EUR").unwrap()).unwrap();
    assert!(matches!(
        Order::place(
            OrderId::new(),
            None,
            vec![foreign],
            Currency::USD,
            Utc::now()
        ),
        Err(OrderError::Money(MoneyError::CurrencyMismatch(_, _)))
    ));
}

#[test]
fn a_restored_order_must_match_its_stored_total() {
    let order = order_in(Confirmed);
    let snapshot = |total_minor| OrderSnapshot {
        total_minor,
        ..snapshot_of(&order)
    };
    assert_eq!(Order::restore(snapshot(100)).unwrap(), order);
    assert!(matches!(
        Order::restore(snapshot(99)),
        Err(OrderError::Corrupt(_))
    ));
}
