//! Redis (deadpool-redis): the cache of the distributed composition, where an outage is a miss.
//!
//! Layout:
//! - [`cache`]: [`RedisCache`], every call bounded by a timeout and skipped while a breaker
//!   is open.

pub mod cache;

use std::time::Duration;

pub use cache::{RedisCache, RedisOptions};

impl crate::settings::RedisSettings {
    /// Options for [`RedisCache`].
    pub fn options(&self) -> RedisOptions {
        RedisOptions {
            url: self.url.clone(),
            key_prefix: self.key_prefix.clone(),
            op_timeout: Duration::from_millis(self.timeout_ms),
            pool_size: self.pool_size,
        }
    }
}

/// `/health`'s probe of Redis: optional, reads go to the database while it is down.
#[cfg(feature = "http")]
pub fn health_check(cache: &RedisCache) -> crate::http::health::HealthCheck {
    let cache = cache.clone();
    crate::http::health::HealthCheck::optional("redis", move || {
        let cache = cache.clone();
        async move { cache.ping().await }
    })
}
