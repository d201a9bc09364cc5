//! Driven ports, integration-event contracts, and the use cases that are generic over them.
//!
//! Adapters (MySQL, RabbitMQ, Redis, HTTP...) implement the traits here; services wire the
//! adapters into the use cases. Nothing in this crate knows a technology.
//!
//! Layout:
//! - [`events`]: the versioned wire contracts (envelope, payloads, routing keys) and
//!   [`events::OutboxMessage`], the unit the outbox stores and the relay publishes.
//! - [`messaging`]: what a consumer hands to a handler and what the handler answers
//!   (ack, retry, dead-letter), and the publisher port.
//! - [`store`]: shared persistence types: errors, pages, the outbox port.
//! - [`cache`]: the key-value cache port (Redis, memory), where an outage is a miss.
//! - [`idempotency`]: the idempotency-key records.
//! - [`orders`]: the order service's ports and use cases.
//! - [`inventory`]: the product service's ports and use cases.
//!
//! With the `mocks` feature every port has a mockall mock (`MockOrderStore`...).

pub mod cache;
pub mod events;
pub mod idempotency;
pub mod inventory;
pub mod messaging;
pub mod orders;
pub mod store;

pub use cache::Cache;
pub use events::OutboxMessage;
pub use messaging::{
    DeadLetters, EventPublisher, HandleOutcome, InboundMessage, MessageHandler, PublishError,
};
pub use store::{Page, PageRequest, StoreError};

/// The current time at the precision storage keeps (microseconds), so a value read back
/// equals the value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
