//! The ordering context: the order service's ports and the use cases that drive them.
//!
//! Layout:
//! - [`ports`]: what the use cases need from outside: order storage (with its transaction)
//!   and the product catalogue.
//! - [`requests`]: the commands and queries they accept, and the errors they answer with.
//! - [`service`]: the use cases: place, read, list, change, warm the catalogue.
//! - [`events`]: the order's recorded events as history rows and integration messages.
//! - [`messages`]: inbound events (the inventory's answers, product changes) to use cases.
//! - [`sweeper`]: orders stuck in `pending`, nudged and finally timed out.
//! - [`cache`]: cache-aside in front of the catalogue.

pub mod cache;
pub mod events;
pub mod messages;
pub mod ports;
pub mod requests;
pub mod service;
pub mod sweeper;

#[cfg(test)]
mod tests;

pub use cache::CachedCatalog;
pub use events::{DETAILS_UPDATED, SWEEPER, created_message_id};
pub use messages::{CONSUMER, ROUTING_KEYS};
pub use ports::{
    CatalogError, CatalogProduct, HistoryEntry, NewOrder, OrderFilter, OrderStore, OrderTx,
    ProductCatalog,
};
#[cfg(any(test, feature = "mocks"))]
pub use ports::{MockOrderStore, MockOrderTx, MockProductCatalog};
pub use requests::{
    Cause, ChangeOrderError, OrderCommand, PlaceOrder, PlaceOrderError, ReadOrdersError,
};
pub use service::OrderService;
pub use sweeper::{SweepReport, SweeperOptions};
