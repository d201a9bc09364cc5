//! Configuration of the standalone system (see `config/default.toml` for every key).

use std::path::PathBuf;

use adapters::http::auth::AuthSettings;
use adapters::settings::{
    HttpLimits, IdempotencySettings, OutboxSettings, RateLimitSettings, SweeperSettings,
};
use serde::Deserialize;

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Interface both APIs listen on.
    pub host: String,
    /// Port of the order API (0 picks a free one).
    pub order_port: u16,
    /// Port of the product API (0 picks a free one).
    pub product_port: u16,
    /// HTTP worker threads per API (default: one per two cores, as for the services).
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Milliseconds between readiness turning false and the servers ceasing to accept.
    pub readiness_drain_ms: u64,
    /// Connection limits and CORS, the same for both APIs.
    #[serde(flatten)]
    pub limits: HttpLimits,
}

/// `[cache]`
#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// Entries per cache.
    pub capacity: u64,
    /// Lifetime of a cached product, in seconds (±10 % jitter).
    pub ttl_secs: u64,
    /// Lifetime of a cached "no such product", in seconds.
    pub negative_ttl_secs: u64,
}

/// `[bus]`
#[derive(Debug, Clone, Deserialize)]
pub struct BusSettings {
    /// Redeliveries of a failing message before it is dead-lettered.
    pub delivery_limit: u32,
    /// Pause before a failed message is redelivered, in milliseconds.
    pub retry_delay_ms: u64,
    /// How long the relay waits for a message to be handled, in milliseconds.
    pub confirm_timeout_ms: u64,
    /// Messages handed to a service's handler at once (applied in one transaction).
    pub batch_size: usize,
    /// Batches each service handles at the same time.
    pub concurrency: usize,
}

impl BusSettings {
    /// How each service's consumer feeds its handler.
    pub fn dispatch(&self) -> ports::messaging::Dispatch {
        ports::messaging::Dispatch {
            batch_size: self.batch_size.max(1),
            concurrency: self.concurrency.max(1),
        }
    }
}

/// Every setting of the standalone system.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// ISO 4217 currency.
    pub currency: String,
    /// Folder of the SQLite databases.
    pub data_dir: PathBuf,
    /// Keep the data in memory instead.
    pub in_memory: bool,
    /// `[http]`
    pub http: HttpSettings,
    /// `[rate_limit]`: each API keeps its own buckets.
    pub rate_limit: RateLimitSettings,
    /// `[cache]`
    pub cache: CacheSettings,
    /// `[bus]`
    pub bus: BusSettings,
    /// `[outbox]`
    pub outbox: OutboxSettings,
    /// `[idempotency]`
    pub idempotency: IdempotencySettings,
    /// `[sweeper]`
    pub sweeper: SweeperSettings,
    /// `[auth]`: with no key configured, the system signs and verifies with a key of its own
    /// (see [`crate::tokens`]).
    pub auth: AuthSettings,
}

const DEFAULTS: &str = include_str!("../config/default.toml");

impl Settings {
    /// Defaults, then `APP_CONFIG_FILE`, then `APP__*` environment variables.
    pub fn load() -> anyhow::Result<Self> {
        adapters::settings::load(DEFAULTS)
    }

    /// The defaults alone (what tests start from).
    pub fn defaults() -> anyhow::Result<Self> {
        adapters::settings::load_defaults(DEFAULTS)
    }

    /// Applies command-line flags; returns `Ok(false)` when `--help` was asked.
    pub fn apply_args(&mut self, args: impl IntoIterator<Item = String>) -> anyhow::Result<bool> {
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))
            };
            match arg.as_str() {
                "--data-dir" => self.data_dir = value("--data-dir")?.into(),
                "--in-memory" => self.in_memory = true,
                "--host" => self.http.host = value("--host")?,
                "--order-port" => self.http.order_port = value("--order-port")?.parse()?,
                "--product-port" => self.http.product_port = value("--product-port")?.parse()?,
                "-h" | "--help" => return Ok(false),
                other => anyhow::bail!("unknown argument `{other}`\n{USAGE}"),
            }
        }
        Ok(true)
    }
}

/// Command-line help.
pub const USAGE: &str = "usage: standalone [--data-dir DIR] [--in-memory] [--host HOST] [--order-port PORT] [--product-port PORT]
  --data-dir DIR        where the SQLite databases live (default ./data; survives restarts)
  --in-memory           keep everything in memory (forgotten on exit)
  --host HOST           interface to listen on (default 127.0.0.1)
  --order-port PORT     order API port (default 8080; 0 picks a free one)
  --product-port PORT   product API port (default 3000; 0 picks a free one)
Every setting can also come from APP__* environment variables (see config/default.toml).";
