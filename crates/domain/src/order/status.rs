//! Where an order is in its life, the one transition table, and what a client may still do.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, waiting for the inventory's answer.
    Pending,
    /// Stock is reserved.
    Confirmed,
    /// Stock could not be reserved (terminal).
    Rejected,
    /// Cancelled by the customer or the system (terminal).
    Cancelled,
    /// Handed to a carrier.
    Shipped,
    /// Received by the customer (terminal).
    Delivered,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Rejected,
        OrderStatus::Cancelled,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ];

    /// The one transition table: the statuses reachable in one step from `self`.
    pub const fn allowed_targets(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[Confirmed, Rejected, Cancelled],
            Confirmed => &[Shipped, Cancelled],
            Shipped => &[Delivered],
            Rejected | Cancelled | Delivered => &[],
        }
    }

    /// Whether one step may lead from `self` to `to`.
    pub fn can_transition_to(self, to: OrderStatus) -> bool {
        self.allowed_targets().contains(&to)
    }

    /// Whether no transition leaves this status.
    pub fn is_terminal(self) -> bool {
        self.allowed_targets().is_empty()
    }

    /// The wire and storage name (`"pending"`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
        }
    }

    /// Parses a wire or storage name.
    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }

    /// Whether shipping address and note may still change (until it ships).
    pub fn is_editable(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Confirmed)
    }

    /// What a client may still do with an order in this status: `cancel`, `ship`,
    /// `deliver`, `update`.
    pub fn allowed_actions(self) -> Vec<&'static str> {
        let mut actions: Vec<&'static str> = self
            .allowed_targets()
            .iter()
            .filter_map(|t| match t {
                OrderStatus::Cancelled => Some("cancel"),
                OrderStatus::Shipped => Some("ship"),
                OrderStatus::Delivered => Some("deliver"),
                // Confirmation and rejection come from the inventory, not from clients.
                _ => None,
            })
            .collect();
        if self.is_editable() {
            actions.push("update");
        }
        actions
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    /// At least one product had fewer units on hand than ordered.
    InsufficientStock,
    /// At least one product no longer exists in the inventory.
    UnknownProduct,
    /// The inventory did not answer before the order's deadline.
    Timeout,
}

impl RejectionReason {
    /// The wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionReason::InsufficientStock => "insufficient_stock",
            RejectionReason::UnknownProduct => "unknown_product",
            RejectionReason::Timeout => "timeout",
        }
    }

    /// Parses a wire or storage name.
    pub fn parse(input: &str) -> Option<Self> {
        [Self::InsufficientStock, Self::UnknownProduct, Self::Timeout]
            .into_iter()
            .find(|r| r.as_str() == input)
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status change the transition table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct InvalidTransition {
    /// The order's current status.
    pub from: OrderStatus,
    /// The refused target.
    pub to: OrderStatus,
}

impl InvalidTransition {
    /// The targets that are still allowed from the current status.
    pub fn allowed(&self) -> &'static [OrderStatus] {
        self.from.allowed_targets()
    }
}
