//! What every composition root shares at run time: background tasks tied to one shutdown
//! token, serving HTTP until a signal, the command line of the service binaries, and logs.
//!
//! Layout:
//! - [`service`]: the adapters every service takes ([`ServiceAdapters`]) and the relay,
//!   consumer, purger and HTTP server every service runs on them.
//! - [`tasks`]: [`Background`] tasks, a [`Running`] service, [`serve`], [`shutdown_signal`].
//! - [`cli`] (`http-client`, for `healthcheck`): the subcommands both service binaries share
//!   (`serve`, `migrate`, `openapi`, `healthcheck`).
//! - `telemetry`: [`crate::telemetry`], logs and traces.

#[cfg(feature = "http-client")]
pub mod cli;
pub mod service;
pub mod tasks;
/// Logs and traces ([`crate::telemetry`]), where the composition roots look for them.
pub use crate::telemetry;

pub use service::{Listening, ServiceAdapters, ServiceOptions};
pub use tasks::{Background, Running, serve, shutdown_signal};
