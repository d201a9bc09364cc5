//! The order service: takes orders priced server-side from the product catalogue (through a
//! Redis cache-aside), stores each with its `order.created` event in one transaction, and moves
//! it to `confirmed` or `rejected` when the inventory answers.
//!
//! Layout:
//! - [`settings`]: configuration (`config/default.toml`, `APP__*` overrides).
//! - [`startup`]: the composition root: [`build`] makes an [`Application`].
//! - [`api`]: HTTP handlers; [`dto`]: their bodies; [`openapi`]: the generated document.

pub mod api;
pub mod dto;
pub mod openapi;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::{Application, build};
