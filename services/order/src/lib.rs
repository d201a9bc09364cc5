//! The order service: takes orders priced server-side from the product catalogue (through a
//! cache-aside), stores each with its `order.created` event in one transaction, and moves it
//! to `confirmed` or `rejected` when the inventory answers.
//!
//! Layout:
//! - [`app`]: the service built from its adapters ([`build`]), called by every composition.
//! - [`http`]: the HTTP handlers, their bodies ([`dto`]) and the generated document
//!   ([`openapi`]).
//! - [`settings`]: configuration (`config/default.toml`, `APP__*` overrides).
//! - [`distributed`] (feature `distributed`): the composition root on MySQL, Redis and
//!   RabbitMQ, behind the `order-service` binary.

pub mod app;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod http;
pub mod settings;

pub use app::{OrderAdapters, OrderConfig, SERVICE, build};
pub use http::{Orders, dto, openapi};
pub use settings::Settings;
