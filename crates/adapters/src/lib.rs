//! Adapters: the technologies behind the ports, one folder and one cargo feature each, so a
//! composition links only what it uses (the standalone build has neither lapin nor redis).
//!
//! Layout:
//! - [`sql`] (`sql`): sea-orm stores for orders, products, the outbox, the inbox and the
//!   idempotency keys, on MySQL or SQLite, and each database's migrations.
//! - [`rabbitmq`] (`rabbitmq`): topology, publisher (confirms + mandatory), consumer and
//!   dead-letter access (lapin).
//! - [`redis`] (`redis`): the Redis cache (deadpool-redis), where an outage is a miss.
//! - [`memory`] (`memory`): the in-process bus, the moka cache and the in-process product
//!   catalogue of the standalone composition.
//! - [`http`] (`http`): inbound actix helpers shared by both services (problem+json errors,
//!   bodies, parameters, health, idempotency, dead-letter endpoints, the server); with
//!   `http-client`, the product catalogue client behind retries and a circuit breaker.
//! - [`runtime`] (`http`): background tasks, serving until a signal, the service binaries'
//!   command line, logs.
//! - [`observe`]: Prometheus metrics: the catalogue, the recorder, what the adapters record.
//! - [`telemetry`]: JSON logs, OTLP traces and the W3C trace context across services.
//! - [`settings`]: layered configuration (`config` crate, `APP__` environment overrides).
//! - [`fault`]: fault points for the chaos harness (compiled only with `fault-points`).

pub mod fault;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "memory")]
pub mod memory;
pub mod observe;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "http")]
pub mod runtime;
pub mod settings;
#[cfg(feature = "sql")]
pub mod sql;
pub mod telemetry;
