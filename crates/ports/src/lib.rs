//! Ports and the application services that drive them: the core of both services.
//!
//! Each bounded context has a folder with its driven ports (the traits adapters implement),
//! its requests, its use cases and the router of its inbound messages; what both contexts
//! share sits at the top. Nothing in this crate knows a technology: adapters (MySQL,
//! RabbitMQ, Redis, HTTP...) implement the traits, and the service crates wire adapters into
//! the use cases.
//!
//! Layout:
//! - [`ordering`]: the order service's context: ports, requests, use cases, the sweeper,
//!   inbound messages, the catalogue cache.
//! - [`inventory`]: the product service's context: ports, requests, use cases, reservations,
//!   inbound messages, the product cache.
//! - Shared by both:
//!   - [`events`]: the versioned wire contracts (envelope, payloads, routing keys) and
//!     [`events::OutboxMessage`], the unit the outbox stores and the relay publishes.
//!   - [`messaging`]: what a consumer hands to a handler and what the handler answers (ack,
//!     retry, dead-letter), the publisher and dead-letter ports.
//!   - [`store`]: shared persistence types: errors, pages, the outbox port.
//!   - [`cache`]: the key-value cache port (Redis, memory), where an outage is a miss.
//!   - [`idempotency`]: the idempotency-key port and its purger.
//!   - [`clock`]: the clock port.
//!   - [`relay`]: the outbox relay loop.
//!   - [`metrics`]: the business facts the use cases count (orders placed, confirmed...).
//!   - [`trace`]: the W3C trace context an event carries from its cause to its effects.
//!
//! With the `mocks` feature every port has a mockall mock (`MockOrderStore`...).

pub mod cache;
pub mod clock;
pub mod events;
pub mod idempotency;
pub mod inventory;
pub mod messaging;
pub mod metrics;
pub mod ordering;
pub mod relay;
pub mod store;
pub mod trace;

pub use cache::Cache;
pub use clock::{Clock, ManualClock, SystemClock};
pub use events::OutboxMessage;
pub use messaging::{
    DeadLetters, EventPublisher, HandleOutcome, InboundMessage, MessageHandler, MessageSource,
    PublishError,
};
pub use relay::OutboxSignal;
pub use store::{Page, PageRequest, StoreError};
pub use trace::TraceContext;
