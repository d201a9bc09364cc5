//! The inbound HTTP adapter of the product service, one job per file:
//! - [`products`]: create, read, list and update products.
//! - [`stock`]: adjust a product's stock, list and read its adjustments.
//! - `parse`: request bodies, headers and query values parsed into domain requests.
//! - `errors`: the use cases' errors mapped to API errors.
//! - [`dto`]: request and response bodies; [`openapi`]: the generated document.

use std::sync::Arc;

use adapters::sql::SqlProductStore;
use domain::Currency;
use ports::Cache;
use ports::inventory::ProductService;

pub mod dto;
mod errors;
pub mod openapi;
mod parse;
pub mod products;
pub mod stock;

/// The product use cases as wired in both compositions (the cache differs: Redis or memory).
pub type Products = ProductService<SqlProductStore, Arc<dyn Cache>>;

/// The deployment currency, shared with the handlers.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentCurrency(pub Currency);
