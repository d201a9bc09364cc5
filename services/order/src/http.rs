//! The inbound HTTP adapter of the order service, one job per file:
//! - [`orders`]: place and read orders (create, get, list, list by product, history).
//! - [`changes`]: change an order (cancel, delete, ship, deliver, update) through one guarded,
//!   idempotent change.
//! - [`admin`]: operations (the price cache warm-up).
//! - `parse`: request bodies and headers parsed into domain requests.
//! - `errors`: the use cases' errors mapped to API errors.
//! - [`dto`]: request and response bodies; [`openapi`]: the generated document.

use std::sync::Arc;

use adapters::sql::SqlOrderStore;
use ports::ordering::{OrderService, ProductCatalog};

pub mod admin;
pub mod changes;
pub mod dto;
mod errors;
pub mod openapi;
pub mod orders;
mod parse;

/// The order use cases as wired in both compositions (the catalogue differs: HTTP to the
/// product service behind Redis, or in-process behind a memory cache).
pub type Orders = OrderService<SqlOrderStore, Arc<dyn ProductCatalog>>;
