//! Test harness for black-box tests, in both compositions.
//!
//! [`spawn_system`] starts both services in-process on port 0 against real MariaDB/MySQL,
//! Redis and RabbitMQ, each test with its own databases, exchange/queue prefix and Redis key
//! prefix, so tests run in parallel without seeing each other. The servers come from
//! `make test` (see `deploy/local-infra/`), which exports `TEST_MYSQL_URL`, `TEST_REDIS_URL`
//! and `TEST_AMQP_URL`; a missing variable is a loud failure, never a skipped test. When it
//! also exports the services' own broker users (`TEST_AMQP_ORDER_URL`, `TEST_AMQP_PRODUCT_URL`),
//! each service connects as its user, so the whole flow proves their permissions suffice.
//! [`spawn_standalone`] starts the standalone composition (SQLite, in-process bus, memory
//! caches) on free ports with its own data directory. Both return a [`TestSystem`], so each
//! black-box test runs against both.
//!
//! Layout:
//! - [`auth`]: the test key every system trusts, and tokens (admin by default on
//!   [`TestSystem::http`]; customers, expired, wrong audience, foreign key).
//! - `infra.rs`: [`Infra`], where the servers are, and the services' [`ServiceUsers`].
//! - `isolation.rs`: [`Isolation`], each test's own names, and the settings pointed at them
//!   ([`product_settings`], [`order_settings`], [`standalone_settings`]).
//! - `spawn.rs`: [`spawn_system`], [`spawn_system_with`], [`spawn_standalone`], and the
//!   [`ServiceHandle`] of a service running in the test process.
//! - `system.rs`: [`TestSystem`], a running system ([`Endpoint`]s, [`Backend`]), and stopping it.
//! - `endpoints.rs`: requests to the APIs and their [`Reply`], helpers per endpoint.
//! - `database.rs`: reading the services' databases directly ([`scalar_i64`]).
//! - `messaging.rs`: injecting messages and dead letters, reading dead letters.
//! - `cache.rs`: reading the product cache.
//! - `poll.rs`: [`eventually`].
//! - [`contracts`]: the port contract suites.

pub mod auth;
mod cache;
pub mod contracts;
mod database;
mod endpoints;
mod infra;
mod isolation;
mod messaging;
pub mod otlp;
mod poll;
mod spawn;
mod system;

pub use database::scalar_i64;
pub use endpoints::Reply;
pub use infra::{Infra, ServiceUsers};
pub use isolation::{Isolation, order_settings, product_settings, standalone_settings};
pub use poll::eventually;
pub use spawn::{
    ServiceHandle, spawn_standalone, spawn_standalone_with, spawn_system, spawn_system_with,
};
pub use system::{Backend, Endpoint, TestSystem};

/// The current time at the precision storage keeps, from the system clock (what the services
/// run on).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use ports::Clock;
    ports::SystemClock.now()
}
