#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

//! Black-box tests, each run against both compositions: the two services on port 0 against
//! real MariaDB, Redis and RabbitMQ (each test with its own databases, exchange/queue prefix
//! and Redis key prefix), and the standalone process (its own data directory); plus the port
//! contract suites against every adapter.

/// Runs a black-box test `async fn name(sys: TestSystem)` against both compositions:
/// `name::distributed` (the services over MariaDB, Redis and RabbitMQ) and
/// `name::standalone` (one process on SQLite, the in-process bus and memory caches).
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn distributed() {
                super::$name(testkit::spawn_system().await).await
            }

            #[tokio::test]
            async fn standalone() {
                super::$name(testkit::spawn_standalone().await).await
            }
        }
    };
}

mod access;
mod contracts;
mod docs;
mod flow;
mod lifecycle;
mod limits;
mod messaging;
mod pagination;
mod product_management;
mod products;
mod random;
mod resilience;
mod validation;
