//! Inbound HTTP (actix-web), shared by both services: errors, bodies, parameters, health,
//! idempotency, the dead-letter admin endpoints and the server itself; and, with the
//! `http-client` feature, the outbound product catalogue client.
//!
//! Layout:
//! - [`problem`]: [`ApiError`] renders RFC 9457 `application/problem+json` with a stable
//!   `code` and, for validation failures, one entry per failing field.
//! - [`extract`]: [`JsonBody`] and [`RawBody`]; type errors name the field path
//!   (`items[1].quantity`); [`configure_extractors`] makes actix's own errors problem+json.
//! - [`params`]: `If-Match`/ETags, path ids, the opaque keyset [`Cursor`], page sizes.
//! - [`health`]: dependency probes aggregated into `GET /health`, and readiness.
//! - [`auth`]: bearer JWTs verified into the [`domain::Caller`]; `401`/`403` answers.
//! - [`methods`]: `405` with `Allow`, from the service's OpenAPI document.
//! - [`idempotency`]: unsafe requests run at most once per `Idempotency-Key`.
//! - [`dead_letters`]: the admin endpoints over a service's dead-letter queue.
//! - [`rate_limit`]: per-caller request quotas by route class (`429` with `Retry-After`).
//! - [`security`]: security headers, header-size and body-time limits, CORS.
//! - [`server`]: binding and building a service's HTTP server.
//! - [`catalog_client`], [`resilience`] (`http-client`): the product service's API as the
//!   order service's catalogue, with timeouts, retries and a circuit breaker.

pub mod auth;
#[cfg(feature = "http-client")]
pub mod catalog_client;
pub mod dead_letters;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod methods;
pub mod observe;
pub mod params;
pub mod problem;
pub mod rate_limit;
#[cfg(feature = "http-client")]
pub mod resilience;
pub mod security;
pub mod server;

pub use extract::{
    JsonBody, RawBody, configure_extractors, json_body, not_found, optional_json_body, parse_json,
};
pub use params::{Cursor, etag, if_match, page_request, parse_id, precondition_failed};
pub use problem::{ApiError, FieldError, MAX_BODY_BYTES, PROBLEM_JSON, Problem};
pub use server::{bind, http_server};
