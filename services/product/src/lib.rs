//! The product service: owns products and stock, reserves stock for orders all-or-nothing
//! when `order.created` arrives and answers `order.qty_confirmed` or `order.qty_failed`
//! through its outbox, releases the reservations of a cancelled order once (`order.cancelled`)
//! and consumes those of a shipped one (`order.shipped`). Its API creates, reads and changes
//! products (`product.created`, `product.updated` through the outbox) and adjusts their stock.
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
