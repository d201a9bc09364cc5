//! The order service's configuration (see `config/default.toml` for every key and default).

use adapters::http::auth::AuthSettings;
use adapters::settings::{
    AmqpSettings, DatabaseSettings, HttpSettings, IdempotencySettings, OutboxSettings,
    RateLimitSettings, RedisSettings, SweeperSettings,
};
use serde::Deserialize;

/// Every setting of the order service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// ISO 4217 currency of every price.
    pub currency: String,
    /// `[http]`
    pub http: HttpSettings,
    /// `[rate_limit]`
    pub rate_limit: RateLimitSettings,
    /// `[database]`
    pub database: DatabaseSettings,
    /// `[redis]`
    pub redis: RedisSettings,
    /// `[amqp]`
    pub amqp: AmqpSettings,
    /// `[outbox]`
    pub outbox: OutboxSettings,
    /// `[idempotency]`
    pub idempotency: IdempotencySettings,
    /// `[auth]`
    pub auth: AuthSettings,
    /// `[sweeper]`
    pub sweeper: SweeperSettings,
    /// `[product_service]`
    pub product_service: ProductServiceSettings,
}

/// `[product_service]`: the HTTP peer that prices orders.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductServiceSettings {
    /// Base URL, e.g. `http://product-service:3000`.
    pub url: String,
    /// Milliseconds to open a connection.
    pub connect_timeout_ms: u64,
    /// Milliseconds for a whole call.
    pub timeout_ms: u64,
}

impl Settings {
    /// Defaults, then `APP_CONFIG_FILE`, then `APP__*` environment variables.
    pub fn load() -> anyhow::Result<Self> {
        adapters::settings::load(include_str!("../config/default.toml"))
    }

    /// The defaults alone (what tests start from).
    pub fn defaults() -> anyhow::Result<Self> {
        adapters::settings::load_defaults(include_str!("../config/default.toml"))
    }
}
