//! What happened to an order, as the aggregate records it.
//!
//! Each event carries everything the application layer needs to write the order's history row
//! and its integration message, so nothing has to be rebuilt from the order afterwards.

use chrono::{DateTime, Utc};

use super::details::Shipment;
use super::items::OrderLine;
use super::status::{OrderStatus, RejectionReason};
use crate::ids::OrderId;

/// A status change that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Status before.
    pub from: OrderStatus,
    /// Status after.
    pub to: OrderStatus,
    /// Why, for rejections.
    pub reason: Option<RejectionReason>,
    /// When.
    pub at: DateTime<Utc>,
    /// The order's version after the change.
    pub version: u32,
}

/// What happened to an order, recorded by the aggregate for the application layer to publish
/// and to write to the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// The order was placed: version 1, status pending.
    Placed {
        /// The order.
        order_id: OrderId,
        /// Product and quantity of each item, in item order.
        lines: Vec<OrderLine>,
        /// When it was placed.
        at: DateTime<Utc>,
    },
    /// The order changed status. `shipment` is set for the change to `shipped`.
    StatusChanged {
        /// The order.
        order_id: OrderId,
        /// The change.
        transition: Transition,
        /// Carrier and tracking number, for the change to `shipped` only.
        shipment: Option<Shipment>,
    },
    /// The shipping address and/or note changed; the status stayed.
    DetailsUpdated {
        /// The order.
        order_id: OrderId,
        /// The status it stayed in.
        status: OrderStatus,
        /// The order's version after the change.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
}
