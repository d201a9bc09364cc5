//! The inventory context: the product service's ports and the use cases that drive them:
//! products, stock and reservations.
//!
//! Layout:
//! - [`ports`]: what the use cases need from outside: product, stock and reservation storage
//!   (with its transaction), and its read models.
//! - [`requests`]: the commands they accept, and the errors they answer with.
//! - [`service`]: the use cases behind the API: create, change, read, adjust stock.
//! - [`reservations`]: the use cases behind order events: reserve, release, consume.
//! - [`events`]: the integration messages the inventory publishes, one builder each.
//! - [`messages`]: inbound events to use cases.
//! - [`cache`]: cache-aside for product reads.

pub mod cache;
pub mod events;
pub mod messages;
pub mod ports;
pub mod requests;
pub mod reservations;
pub mod service;

#[cfg(test)]
mod tests;

pub use cache::{CachePolicy, CacheStatus, ProductCache};
pub use messages::{CONSUMER, ROUTING_KEYS};
pub use ports::{InventoryTx, ProductStore, Reservation, ReservationStatus, StockAdjustment};
#[cfg(any(test, feature = "mocks"))]
pub use ports::{MockInventoryTx, MockProductStore};
pub use requests::{AdjustStock, AdjustStockError, NewProduct, ProductChange, UpdateProductError};
pub use service::ProductService;
