//! Layered configuration with the `config` crate: the service's defaults (a TOML document
//! compiled into the binary), then an optional file named by `APP_CONFIG_FILE`, then
//! environment variables `APP__SECTION__KEY` (for example `APP__DATABASE__URL`).
//! The setting structs shared by both services live here.

use std::time::Duration;

use anyhow::Context;
use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Loads `T` from `defaults`, `APP_CONFIG_FILE` and `APP__*` variables.
pub fn load<T: DeserializeOwned>(defaults: &str) -> anyhow::Result<T> {
    let mut builder = Config::builder().add_source(File::from_str(defaults, FileFormat::Toml));
    if let Ok(path) = std::env::var("APP_CONFIG_FILE") {
        builder = builder.add_source(File::with_name(&path).required(true));
    }
    builder
        .add_source(
            Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        )
        .build()
        .context("failed to read the configuration")?
        .try_deserialize()
        .context("invalid configuration")
}

/// Loads `T` from `defaults` alone, ignoring files and the environment (tests start here).
pub fn load_defaults<T: DeserializeOwned>(defaults: &str) -> anyhow::Result<T> {
    Config::builder()
        .add_source(File::from_str(defaults, FileFormat::Toml))
        .build()
        .context("failed to read the default configuration")?
        .try_deserialize()
        .context("invalid default configuration")
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Interface to listen on.
    pub host: String,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// HTTP worker threads (default: [`HttpSettings::default_workers`]).
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Milliseconds between readiness turning false and the server ceasing to accept.
    pub readiness_drain_ms: u64,
    /// Connection limits and browser-facing policy.
    #[serde(flatten)]
    pub limits: HttpLimits,
}

/// The `[http]` keys that bound what one client can hold or send, and the CORS policy.
///
/// Bounds actix-http has no setting for, at their fixed values: a request head larger than
/// 128 KiB or with more than 96 headers closes the connection (the head is parsed in a
/// buffer of that size), so `max_header_bytes` is the effective, lower, limit.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpLimits {
    /// Milliseconds a client gets to send a whole request head (line and headers) after
    /// connecting or after its previous answer; past that the connection is closed with 408.
    /// Slowloris-style clients trickling headers hold a connection no longer than this.
    pub request_head_timeout_ms: u64,
    /// Milliseconds a request's body may take to arrive, from the head on (413-sized bodies
    /// are refused earlier); past that the request fails with 408.
    pub body_timeout_ms: u64,
    /// Milliseconds given to a client to close its side once the server closed its own.
    pub disconnect_timeout_ms: u64,
    /// Seconds an idle keep-alive connection is kept open (0 closes after each answer).
    pub keep_alive_secs: u64,
    /// Open connections per worker; past that the worker stops accepting until one closes.
    pub max_connections: usize,
    /// Total bytes of header names and values a request may carry (431 beyond).
    pub max_header_bytes: usize,
    /// Origins allowed to call the API from a browser (`https://app.example.com`). Empty: no
    /// CORS headers at all, so browsers keep the same-origin policy.
    pub cors_allowed_origins: Vec<String>,
}

impl HttpSettings {
    /// HTTP workers when none are configured: one per two cores (at least one). Each worker is
    /// a thread with its own runtime, beside the service's runtime, which runs the consumers,
    /// the relay and the group commit on every core; more workers only add thread switches.
    /// On 2 cores, one worker served `GET /orders/{id}` about 15 % faster than two, and
    /// `POST /orders` as fast or faster.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }
}

/// `[rate_limit]`: requests each caller may make, per route class (see
/// `http::rate_limit`).
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Off: every request goes through (load generators turn it off).
    pub enabled: bool,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` names the client; from any other peer
    /// the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// `GET` and `HEAD`.
    pub reads: ClassLimit,
    /// Every other method.
    pub writes: ClassLimit,
    /// `/admin/*`, the dead-letter endpoints included.
    pub admin: ClassLimit,
}

/// One route class's quota: a bucket of `burst` requests refilled at `per_second`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ClassLimit {
    /// Sustained requests per second (at least 1).
    pub per_second: u32,
    /// Requests that may arrive at once after a quiet spell (at least 1).
    pub burst: u32,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `mysql://user:password@host:port/database`: a secret, as it carries the password
    /// (`Debug` prints `[REDACTED]`).
    pub url: SecretString,
    /// Pool size.
    pub max_connections: u32,
    /// Milliseconds to wait for a pooled connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// Create the database when missing (handy locally; off where it is provisioned).
    pub create_if_missing: bool,
}

/// `[redis]`
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port/db`: a secret, as it may carry a password.
    pub url: SecretString,
    /// Prefix of every key this service writes.
    pub key_prefix: String,
    /// Bound of any one Redis call, in milliseconds.
    pub timeout_ms: u64,
    /// Pooled connections.
    pub pool_size: usize,
    /// Lifetime of a cached product, in seconds (±10 % jitter).
    pub ttl_secs: u64,
    /// Lifetime of a cached "no such product", in seconds.
    pub negative_ttl_secs: u64,
}

/// `[amqp]`
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// `amqp://user:password@host:port/vhost` (`%2f` for the default vhost): a secret, as it
    /// carries the password.
    pub url: SecretString,
    /// Prefix of every exchange and queue name (isolates environments and tests).
    pub prefix: String,
    /// Unacknowledged deliveries per consumer (at least `batch_size * (concurrency + 1)`, so
    /// that a freed slot finds a batch waiting).
    pub prefetch: u16,
    /// Deliveries handed to the handler at once (applied in one transaction).
    pub batch_size: usize,
    /// Batches handled at the same time.
    pub concurrency: usize,
    /// Redeliveries of a failing message before it is dead-lettered (the quorum queue's
    /// `x-delivery-limit`).
    pub delivery_limit: u32,
    /// Pause before a failed message goes back to the queue, in milliseconds.
    pub retry_delay_ms: u64,
    /// How long the relay waits for a publisher confirm, in milliseconds.
    pub confirm_timeout_ms: u64,
}

impl AmqpSettings {
    /// How the consumer feeds its handler.
    pub fn dispatch(&self) -> ports::messaging::Dispatch {
        ports::messaging::Dispatch {
            batch_size: self.batch_size.max(1),
            concurrency: self.concurrency.max(1),
        }
    }
}

/// `[outbox]`
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxSettings {
    /// Rows published per relay pass.
    pub batch_size: u32,
    /// Relay passes running at once.
    pub relay_concurrency: usize,
    /// How often the relay looks for rows the hand-over did not deliver, in milliseconds.
    pub poll_interval_ms: u64,
    /// How old a row must be before the relay claims it from the table, in milliseconds:
    /// until then the process that committed it publishes it from memory.
    pub claim_after_ms: u64,
    /// Hours published rows are kept before being purged.
    pub retention_hours: i64,
}

impl OutboxSettings {
    /// Options for [`ports::relay::run_relay`].
    pub fn relay_options(&self) -> ports::relay::RelayOptions {
        ports::relay::RelayOptions {
            batch_size: self.batch_size,
            concurrency: self.relay_concurrency.max(1),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            claim_after: Duration::from_millis(self.claim_after_ms),
            retention: chrono::Duration::hours(self.retention_hours),
            ..ports::relay::RelayOptions::default()
        }
    }
}

/// `[idempotency]`
#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    /// Hours an `Idempotency-Key` and its answer are kept.
    pub retention_hours: u64,
    /// Seconds a request holds its key; past that, a run that died is taken over by a retry.
    pub lease_secs: u64,
}

/// `[sweeper]`: orders the inventory never answered.
#[derive(Debug, Clone, Deserialize)]
pub struct SweeperSettings {
    /// Seconds between sweeps.
    pub interval_secs: u64,
    /// Seconds an order may stay `pending` before its `order.created` goes out again.
    pub pending_deadline_secs: u64,
    /// Re-emissions before the order is rejected with reason `timeout`.
    pub max_reemits: u32,
}

impl SweeperSettings {
    /// Options for [`ports::ordering::OrderService::run_sweeper`].
    pub fn options(&self) -> ports::ordering::SweeperOptions {
        ports::ordering::SweeperOptions {
            interval: Duration::from_secs(self.interval_secs),
            pending_deadline: Duration::from_secs(self.pending_deadline_secs),
            max_reemits: self.max_reemits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_connection_password() {
        let database = DatabaseSettings {
            url: "mysql://app:s3cret@db:3306/orders".into(),
            max_connections: 1,
            acquire_timeout_ms: 1,
            create_if_missing: false,
        };
        assert!(!format!("{database:?}").contains("s3cret"));
    }
}
