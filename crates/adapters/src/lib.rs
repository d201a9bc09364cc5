//! Adapters: the technologies behind the ports.
//!
//! Layout:
//! - [`db`]: sea-orm stores for orders, products, the outbox and the inbox, and migrations.
//! - [`amqp`]: RabbitMQ topology, publisher (confirms + mandatory) and consumer (lapin).
//! - [`redis_cache`]: the Redis cache (deadpool-redis), where an outage is a miss.
//! - [`cli`]: the subcommands both binaries share.
//! - [`bus`]: the in-process event bus of the standalone composition.
//! - [`local_catalog`]: the product catalogue read in-process (standalone).
//! - [`memory_cache`]: the in-memory cache (moka) of the standalone composition.
//! - [`catalog_client`]: the HTTP product catalogue the order service reads prices from.
//! - [`relay`]: the outbox relay task.
//! - [`resilience`]: retries and a circuit breaker around the product catalogue.
//! - [`runtime`]: background tasks sharing one shutdown token, signal handling, serving.
//! - [`http`]: inbound actix helpers shared by both services: problem+json errors, JSON
//!   bodies with per-field errors, cursors, health.
//! - [`settings`]: layered configuration (`config` crate, `APP__` environment overrides).
//! - [`telemetry`]: JSON logs through tracing.
//! - [`fault`]: fault points for the chaos harness (compiled only with `fault-points`).
//! - [`wiring`]: composition steps both services share (database, messaging, health).

pub mod amqp;
pub mod bus;
pub mod catalog_client;
pub mod cli;
pub mod db;
pub mod fault;
pub mod http;
pub mod local_catalog;
pub mod memory_cache;
pub mod redis_cache;
pub mod relay;
pub mod resilience;
pub mod runtime;
pub mod settings;
pub mod telemetry;
pub mod wiring;
