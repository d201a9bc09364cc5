//! The order aggregate and its status machine.
//!
//! ```text
//! pending --qty_confirmed--> confirmed --ship--> shipped --deliver--> delivered
//!    |  \--qty_failed------> rejected
//!    \---cancel---> cancelled <---cancel--- confirmed
//! ```
//! `delivered`, `rejected` and `cancelled` are terminal. Every change goes through one
//! transition table ([`OrderStatus::allowed_targets`]); an illegal move is an
//! [`InvalidTransition`], never a silent no-op.
//!
//! Layout: `status` (the machine), `items` (lines and price snapshots), `details` (address,
//! note, shipment and the PATCH merge rule), `events` (what the aggregate records) and
//! `aggregate` ([`Order`] itself).

mod aggregate;
mod details;
mod events;
mod items;
mod status;

#[cfg(test)]
mod tests;

pub use aggregate::{Order, OrderSnapshot};
pub use details::{
    DetailError, DetailsPatch, NotEditable, OrderDetails, OrderNote, Shipment, ShippingAddress,
    ShippingAddressFields,
};
pub use events::{OrderEvent, Transition};
pub use items::{
    MAX_ITEMS_PER_ORDER, NewOrderItem, OrderError, OrderItem, OrderLine, validate_lines,
};
pub use status::{InvalidTransition, OrderStatus, RejectionReason};
