//! What every composition root shares at run time: background tasks tied to one shutdown
//! token, serving HTTP until a signal, the command line of the service binaries, and logs.
//!
//! Layout:
//! - [`service`]: the adapters every service takes ([`ServiceAdapters`]) and the relay,
//!   consumer, purger and HTTP server every service runs on them.
//! - [`tasks`]: [`Background`] tasks, a [`Running`] service, [`serve`], [`shutdown_signal`].
//! - [`cli`] (`http-client`, for `healthcheck`): the subcommands both service binaries share
//!   (`serve`, `migrate`, `openapi`, `healthcheck`).
//! - [`telemetry`]: JSON logs through tracing.

#[cfg(feature = "http-client")]
pub mod cli;
pub mod service;
pub mod tasks;
pub mod telemetry;

pub use service::{Listening, ServiceAdapters, ServiceOptions};
pub use tasks::{Background, Running, serve, shutdown_signal};
