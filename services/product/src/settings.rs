//! The product service's configuration (see `config/default.toml` for every key and default).

use adapters::http::auth::AuthSettings;
use adapters::settings::{
    AmqpSettings, DatabaseSettings, HttpSettings, IdempotencySettings, OutboxSettings,
    RateLimitSettings, RedisSettings,
};
use serde::Deserialize;

/// Every setting of the product service.
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
