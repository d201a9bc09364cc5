//! The Redis [`CacheFixture`]: [`RedisCache`]s under a per-test key prefix, and one pointed at
//! a server that is not there.

use std::sync::Arc;
use std::time::Duration;

use super::cache::CacheFixture;
use crate::{Infra, Isolation};
use adapters::redis::{RedisCache, RedisOptions};
use ports::Cache;

/// Bound of every Redis call in the contract tests; well under the outage bound.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);

/// Caches on the test Redis, keyed `t{id}:contract:{namespace}:`. Every entry the suite
/// writes expires within a minute, so nothing needs cleaning up.
#[derive(Debug, Clone)]
pub struct RedisCaches {
    url: String,
    prefix: String,
}

impl RedisCaches {
    /// Caches of this test.
    pub fn new(infra: &Infra, iso: &Isolation) -> Self {
        Self {
            url: infra.redis_url.clone(),
            prefix: format!("t{}:contract:", iso.id),
        }
    }
}

impl CacheFixture for RedisCaches {
    fn cache(&self, namespace: &str) -> Arc<dyn Cache> {
        Arc::new(
            RedisCache::new(&RedisOptions {
                url: self.url.clone().into(),
                key_prefix: format!("{}{namespace}:", self.prefix),
                op_timeout: OP_TIMEOUT,
                pool_size: 4,
            })
            .expect("a valid Redis configuration"),
        )
    }
}

/// A [`RedisCache`] pointed at a port nothing listens on (connections are refused).
pub fn unreachable_redis_cache() -> RedisCache {
    RedisCache::new(&RedisOptions {
        url: "redis://127.0.0.1:1".into(),
        key_prefix: "contract:outage:".to_owned(),
        op_timeout: OP_TIMEOUT,
        pool_size: 2,
    })
    .expect("a valid Redis configuration")
}
