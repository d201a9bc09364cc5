//! The product service: owns products and stock, reserves stock for orders all-or-nothing
//! when `order.created` arrives and answers `order.qty_confirmed` or `order.qty_failed`
//! through its outbox, releases the reservations of a cancelled order once (`order.cancelled`)
//! and consumes those of a shipped one (`order.shipped`). Its API creates, reads and changes
//! products (`product.created`, `product.updated` through the outbox) and adjusts their stock.
//!
//! Layout:
//! - [`app`]: the service built from its adapters ([`build`]), called by every composition.
//! - [`http`]: the HTTP handlers, their bodies ([`dto`]) and the generated document
//!   ([`openapi`]).
//! - [`settings`]: configuration (`config/default.toml`, `APP__*` overrides).
//! - [`distributed`] (feature `distributed`): the composition root on MySQL, Redis and
//!   RabbitMQ, behind the `product-service` binary.

pub mod app;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod http;
pub mod settings;

pub use app::{Built, ProductAdapters, ProductConfig, SERVICE, build};
pub use http::{Products, dto, openapi};
pub use settings::Settings;
