//! The integration messages of the inventory, one builder per event.

use chrono::{DateTime, Utc};

use crate::events::{
    FailedItemV1, OrderQtyConfirmedV1, OrderQtyFailedV1, OutboxMessage, ProductCreatedV1,
    ProductSnapshotV1, ProductUpdatedV1,
};
use domain::{OrderId, Product, RejectionReason, Shortage};

/// A product as other services may cache it.
fn snapshot(product: &Product) -> ProductSnapshotV1 {
    ProductSnapshotV1 {
        product_id: product.id(),
        name: product.name().as_str().to_owned(),
        price: product.price().to_string(),
        currency: product.price().currency().code().to_owned(),
        version: product.version(),
    }
}

/// `product.created`, at the product's creation time.
pub fn product_created(product: &Product) -> OutboxMessage {
    OutboxMessage::new(&ProductCreatedV1(snapshot(product)), product.created_at())
}

/// `product.updated`, at the product's last change.
pub fn product_updated(product: &Product) -> OutboxMessage {
    OutboxMessage::new(&ProductUpdatedV1(snapshot(product)), product.updated_at())
}

/// `order.qty_confirmed`: every line of the order is reserved.
pub fn qty_confirmed(order_id: OrderId, at: DateTime<Utc>) -> OutboxMessage {
    OutboxMessage::new(&OrderQtyConfirmedV1 { order_id }, at)
}

/// `order.qty_failed`: nothing was reserved, for `reason`, because of `shortages`.
pub fn qty_failed(
    order_id: OrderId,
    reason: RejectionReason,
    shortages: &[Shortage],
    at: DateTime<Utc>,
) -> OutboxMessage {
    let failed = OrderQtyFailedV1 {
        order_id,
        reason: reason.as_str().to_owned(),
        failing_items: shortages
            .iter()
            .map(|s| FailedItemV1 {
                product_id: s.product_id,
                requested: s.requested,
                available: s.available,
            })
            .collect(),
    };
    OutboxMessage::new(&failed, at)
}
