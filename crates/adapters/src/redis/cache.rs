//! The Redis cache. Every call is bounded by a short timeout; a failure or timeout is a miss
//! (reads) or a skipped write, logged and counted, never an error for the caller: Redis only
//! accelerates, the database stays the source of truth. After 3 failures in a row the cache
//! is skipped altogether for a while (1 s, doubling up to 10 s, then one probe call), so a
//! Redis that hangs costs requests nothing instead of a timeout each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use failsafe::StateMachine;
use failsafe::backoff::{self, Exponential};
use failsafe::failure_policy::{self, ConsecutiveFailures};
use secrecy::{ExposeSecret, SecretString};
use tracing::warn;

use ports::Cache;

/// Redis connection settings.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db`.
    pub url: SecretString,
    /// Prepended to every key, so services and tests sharing a Redis never collide.
    pub key_prefix: String,
    /// Upper bound for any one call, pool wait included.
    pub op_timeout: Duration,
    /// Pooled connections (each multiplexes many calls).
    pub pool_size: usize,
}

/// A [`Cache`] in Redis.
#[derive(Clone)]
pub struct RedisCache {
    pool: Pool,
    prefix: Arc<str>,
    timeout: Duration,
    failures: Arc<AtomicU64>,
    breaker: StateMachine<ConsecutiveFailures<Exponential>, crate::observe::BreakerGauge>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Builds the pool. Connections open lazily, so a Redis that is down at startup does not
    /// stop the service; it just runs uncached.
    pub fn new(options: &RedisOptions) -> anyhow::Result<Self> {
        let mut config = Config::from_url(options.url.expose_secret());
        config.pool = Some(PoolConfig {
            max_size: options.pool_size,
            timeouts: Timeouts {
                wait: Some(options.op_timeout),
                create: Some(options.op_timeout),
                recycle: Some(options.op_timeout),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .context("invalid Redis configuration")?;
        Ok(Self {
            pool,
            prefix: options.key_prefix.clone().into(),
            timeout: options.op_timeout,
            failures: Arc::new(AtomicU64::new(0)),
            breaker: failsafe::Config::new()
                .failure_policy(failure_policy::consecutive_failures(
                    3,
                    backoff::exponential(Duration::from_secs(1), Duration::from_secs(10)),
                ))
                .instrument(crate::observe::BreakerGauge::closed("redis"))
                .build(),
        })
    }

    /// Calls that failed or timed out since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Checks that Redis answers `PING` in time (for `/health`); bypasses the breaker, so
    /// health sees a recovery as soon as it happens.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.call(|mut conn| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
        })
        .await
        .context("redis ping failed")
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A cache call through the breaker: refused at once while it is open.
    async fn run<T, F, Fut>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.is_call_permitted() {
            anyhow::bail!("Redis skipped after repeated failures");
        }
        let result = self.call(f).await;
        match &result {
            Ok(_) => self.breaker.on_success(),
            Err(_) => self.breaker.on_error(),
        }
        result
    }

    async fn call<T, F, Fut>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let call = async {
            let conn = self.pool.get().await.context("no Redis connection")?;
            f(conn).await.context("Redis command failed")
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!(
                "Redis call timed out after {:?}",
                self.timeout
            )),
        }
    }

    fn failed(&self, op: &str, e: &anyhow::Error) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        warn!(op, error = %format!("{e:#}"), "cache bypassed");
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>> {
        if keys.is_empty() {
            return Vec::new();
        }
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        match self
            .run(|mut conn| async move { conn.mget::<_, Vec<Option<String>>>(full).await })
            .await
        {
            Ok(values) if values.len() == keys.len() => values,
            Ok(_) => {
                self.failed("mget", &anyhow::anyhow!("MGET answered the wrong count"));
                ports::metrics::cache_lookups("redis", "bypass", keys.len());
                vec![None; keys.len()]
            }
            Err(e) => {
                // Redis down or its breaker open: the lookups go around the cache (the
                // caller counts them as misses too).
                self.failed("mget", &e);
                ports::metrics::cache_lookups("redis", "bypass", keys.len());
                vec![None; keys.len()]
            }
        }
    }

    async fn set_many(&self, entries: &[(String, String)], ttl: Duration) {
        if entries.is_empty() {
            return;
        }
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let mut pipe = redis::pipe();
        for (key, value) in entries {
            pipe.cmd("SET")
                .arg(self.key(key))
                .arg(value)
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        if let Err(e) = self
            .run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
            .await
        {
            self.failed("set", &e);
        }
    }

    async fn delete(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        if let Err(e) = self
            .run(|mut conn| async move { conn.del::<_, ()>(full).await })
            .await
        {
            self.failed("delete", &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A server that accepts connections and never answers: a hung Redis.
    async fn hung_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        format!("redis://{address}")
    }

    #[tokio::test]
    async fn a_hung_redis_is_skipped_after_a_few_timeouts() {
        let cache = RedisCache::new(&RedisOptions {
            url: hung_server().await.into(),
            key_prefix: "t:".into(),
            op_timeout: Duration::from_millis(100),
            pool_size: 2,
        })
        .unwrap();
        let keys = ["k".to_owned()];
        for _ in 0..3 {
            assert_eq!(cache.get_many(&keys).await, vec![None]);
        }
        let started = Instant::now();
        for _ in 0..20 {
            assert_eq!(
                cache.get_many(&keys).await,
                vec![None],
                "a skipped cache is a miss"
            );
        }
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "skipped calls cost nothing: {:?} for 20",
            started.elapsed()
        );
        assert!(
            cache.ping().await.is_err(),
            "health still asks Redis itself"
        );
    }
}
