#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

//! Black-box tests: both services on port 0 against real MariaDB, Redis and RabbitMQ, each
//! test isolated by its own databases, exchange/queue prefix and Redis key prefix.

mod contracts;
mod docs;
mod flow;
mod messaging;
mod pagination;
mod products;
mod validation;
