//! The use cases on the adapters the contract suites prove: each service's SQL store on its
//! own SQLite database in memory, the in-process cache and catalogue, and a manual clock.
//! Each test drives a use case (or delivers a message) and checks what it achieved through the
//! ports: the stored order or product, its history, the outbox, the reservations, the cache.
//! Failures these adapters cannot produce are injected with mocks in the unit tests next to
//! the use cases (`src/ordering/tests.rs`, `src/inventory/tests.rs`).
//!
//! Layout: `support` (fixtures); `access` (whose orders a caller sees and changes); `batches` (messages handed over together, on both sides);
//! the order service: `ordering` (placing an order, the
//! inventory's answers), `changes` (what clients change), `sweeper` (stuck orders), `catalog`
//! (the cached catalogue); the product service: `reservations` (its answers to order events),
//! `products` (products, stock adjustments, the product cache); `relay` (the outbox relay:
//! the hand-over and the claim).

mod access;
mod batches;
mod catalog;
mod changes;
mod ordering;
mod products;
mod relay;
mod reservations;
mod support;
mod sweeper;
