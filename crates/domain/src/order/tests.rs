//! Fixtures shared by the order's tests; the tests themselves live in `tests/`, one file per
//! concern.

use chrono::Utc;

use super::*;
use crate::ids::{OrderId, ProductId};
use crate::money::{Currency, Money};
use crate::quantity::Quantity;
use OrderStatus::*;

mod details;
mod events;
mod placing;
mod status;
mod transitions;

fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

fn item(price: &str, qty: i64) -> NewOrderItem {
    NewOrderItem {
        product_id: ProductId::new(),
        product_name: "Widget".into(),
        unit_price: usd(price),
        quantity: Quantity::new(qty).unwrap(),
    }
}

fn shipment() -> Shipment {
    Shipment::parse("DHL", "JD0146").unwrap()
}

fn address(city: &str) -> ShippingAddress {
    ShippingAddress::parse(ShippingAddressFields {
        name: "Ada Lovelace".into(),
        line1: "12 St James's Square".into(),
        line2: None,
        city: city.into(),
        region: None,
        postal_code: "SW1Y 4JH".into(),
        country: "GB".into(),
    })
    .unwrap()
}

fn note(text: &str) -> OrderNote {
    OrderNote::parse(text).unwrap()
}

/// A freshly placed order walked to `status`, with its events already taken.
fn order_in(status: OrderStatus) -> Order {
    let mut order = Order::place(
        OrderId::new(),
        None,
        vec![item("1.00", 1)],
        Currency::USD,
        Utc::now(),
    )
    .unwrap();
    let now = Utc::now();
    match status {
        Pending => {}
        Confirmed => {
            order.confirm(now).unwrap();
        }
        Rejected => {
            order
                .reject(RejectionReason::InsufficientStock, now)
                .unwrap();
        }
        Cancelled => {
            order.cancel(now).unwrap();
        }
        Shipped => {
            order.confirm(now).unwrap();
            order.ship(shipment(), now).unwrap();
        }
        Delivered => {
            order.confirm(now).unwrap();
            order.ship(shipment(), now).unwrap();
            order.deliver(now).unwrap();
        }
    }
    order.take_events();
    order
}

/// Asks the aggregate for the one step to `to`, through the method a caller would use.
fn apply(order: &mut Order, to: OrderStatus) -> Result<Transition, InvalidTransition> {
    let now = Utc::now();
    match to {
        Confirmed => order.confirm(now),
        Rejected => order.reject(RejectionReason::InsufficientStock, now),
        Cancelled => order.cancel(now),
        Shipped => order.ship(shipment(), now),
        Delivered => order.deliver(now),
        Pending => Err(InvalidTransition {
            from: order.status(),
            to: Pending,
        }),
    }
}

/// What storage would hold for `order`.
fn snapshot_of(order: &Order) -> OrderSnapshot {
    OrderSnapshot {
        id: order.id(),
        customer_id: order.customer_id().cloned(),
        items: order
            .items()
            .iter()
            .map(|i| NewOrderItem {
                product_id: i.product_id(),
                product_name: i.product_name().into(),
                unit_price: i.unit_price(),
                quantity: i.quantity(),
            })
            .collect(),
        currency: order.currency(),
        total_minor: order.total().minor(),
        status: order.status(),
        rejection_reason: order.rejection_reason(),
        details: order.details().clone(),
        shipment: order.shipment().cloned(),
        version: order.version(),
        created_at: order.created_at(),
        updated_at: order.updated_at(),
    }
}
