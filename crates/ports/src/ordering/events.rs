//! What an order's recorded events become: one history row each, and the integration message
//! of those that other services must hear about. One builder per event, so that the history
//! and the outbox can never tell different stories.

use chrono::{DateTime, Utc};

use domain::{MessageId, Order, OrderEvent, OrderId, OrderLine, OrderStatus, RejectionReason};

use super::ports::{HistoryEntry, NewOrder, OrderTx};
use crate::events::{
    OrderCancelledV1, OrderCreatedV1, OrderDeliveredV1, OrderShippedV1, OrderedItemV1,
    OutboxMessage,
};
use crate::store::StoreError;

/// Cause recorded in the history for changes by the sweeper.
pub const SWEEPER: &str = "sweeper";

/// Reason recorded in the history for a details update (a row whose status stays).
pub const DETAILS_UPDATED: &str = "details_updated";

/// The message id of an order's `order.created`: its own id, so that a re-emission is the same
/// message (deduplicated by the inventory's inbox).
pub fn created_message_id(order_id: OrderId) -> MessageId {
    MessageId::from_uuid(order_id.as_uuid())
}

/// An order's `order.created`, with the order id as message id: placement and the sweeper's
/// re-emission send the very same message.
pub fn order_created(order_id: OrderId, lines: &[OrderLine], at: DateTime<Utc>) -> OutboxMessage {
    let created = OrderCreatedV1 {
        order_id,
        items: lines
            .iter()
            .map(|l| OrderedItemV1 {
                product_id: l.product_id,
                quantity: l.quantity.get(),
            })
            .collect(),
    };
    OutboxMessage::with_id(created_message_id(order_id), &created, at)
}

/// The `order.created` of a stored order (for a re-emission).
pub fn order_created_again(order: &Order) -> OutboxMessage {
    let lines: Vec<OrderLine> = order
        .items()
        .iter()
        .map(|i| OrderLine {
            product_id: i.product_id(),
            quantity: i.quantity(),
        })
        .collect();
    order_created(order.id(), &lines, order.created_at())
}

/// The history row of an event, with what caused it.
pub fn history_entry(event: &OrderEvent, cause: &str) -> HistoryEntry {
    match event {
        OrderEvent::Placed { order_id, at, .. } => HistoryEntry {
            order_id: *order_id,
            seq: 1,
            from: None,
            to: OrderStatus::Pending,
            reason: None,
            cause: cause.to_owned(),
            at: *at,
        },
        OrderEvent::StatusChanged {
            order_id,
            transition: t,
            ..
        } => HistoryEntry {
            order_id: *order_id,
            seq: t.version,
            from: Some(t.from),
            to: t.to,
            reason: t.reason.map(|r| r.as_str().to_owned()),
            cause: cause.to_owned(),
            at: t.at,
        },
        OrderEvent::DetailsUpdated {
            order_id,
            status,
            version,
            at,
        } => HistoryEntry {
            order_id: *order_id,
            seq: *version,
            from: Some(*status),
            to: *status,
            reason: Some(DETAILS_UPDATED.to_owned()),
            cause: cause.to_owned(),
            at: *at,
        },
    }
}

/// The integration message of an event, when other services must hear about it: placement
/// (`order.created`), a cancellation or a timeout (`order.cancelled`, so that the inventory
/// releases what it reserved), a shipment and a delivery. Confirmations, other rejections and
/// details updates stay inside the order service.
pub fn integration_message(event: &OrderEvent) -> Option<OutboxMessage> {
    match event {
        OrderEvent::Placed {
            order_id,
            lines,
            at,
        } => Some(order_created(*order_id, lines, *at)),
        OrderEvent::StatusChanged {
            order_id,
            transition: t,
            shipment,
        } => {
            let order_id = *order_id;
            match (t.to, t.reason) {
                (OrderStatus::Cancelled, _) => Some(cancelled(order_id, "customer", t.at)),
                (OrderStatus::Rejected, Some(RejectionReason::Timeout)) => {
                    Some(cancelled(order_id, "timeout", t.at))
                }
                (OrderStatus::Shipped, _) => shipment.as_ref().map(|s| {
                    OutboxMessage::new(
                        &OrderShippedV1 {
                            order_id,
                            carrier: s.carrier().to_owned(),
                            tracking_number: s.tracking_number().to_owned(),
                        },
                        t.at,
                    )
                }),
                (OrderStatus::Delivered, _) => {
                    Some(OutboxMessage::new(&OrderDeliveredV1 { order_id }, t.at))
                }
                (OrderStatus::Pending | OrderStatus::Confirmed | OrderStatus::Rejected, _) => None,
            }
        }
        OrderEvent::DetailsUpdated { .. } => None,
    }
}

fn cancelled(order_id: OrderId, reason: &str, at: DateTime<Utc>) -> OutboxMessage {
    OutboxMessage::new(
        &OrderCancelledV1 {
            order_id,
            reason: reason.to_owned(),
        },
        at,
    )
}

/// A placed order with the history rows and messages of what it recorded, with `cause`.
pub fn new_order(mut order: Order, cause: &str) -> NewOrder {
    let events = order.take_events();
    NewOrder {
        history: events.iter().map(|e| history_entry(e, cause)).collect(),
        messages: events.iter().filter_map(integration_message).collect(),
        order,
    }
}

/// Writes what `order` recorded since it was loaded or placed, in `tx`: a history row per
/// event, with `cause`, and each event's integration message.
pub async fn record(
    tx: &mut dyn OrderTx,
    order: &mut Order,
    cause: &str,
) -> Result<(), StoreError> {
    for event in order.take_events() {
        tx.append_history(&history_entry(&event, cause)).await?;
        if let Some(message) = integration_message(&event) {
            tx.enqueue(&message).await?;
        }
    }
    Ok(())
}
