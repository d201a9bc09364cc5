//! Integration tests of the RabbitMQ adapter against a real broker.
//!
//! The broker is read from `TEST_AMQP_URL` (set by `make test`, which starts one). Every test
//! declares its own topology under a unique prefix and deletes it at the end, so tests run in
//! parallel on one broker.
//!
//! Layout: `helpers` (broker fixture, scripted handler, TCP proxy to cut connections),
//! `topology`, `publisher`, `consumer`, `broker_users` (the services' own users and what the
//! broker refuses them).

mod broker_users;
mod consumer;
mod helpers;
mod publisher;
mod topology;
