//! The cache port. The cache is only an accelerator: the database is the source of truth, and
//! a cache outage must never fail a request.

use std::time::Duration;

use async_trait::async_trait;

/// A string key-value cache with per-entry expiry. Implementations apply their configured key
/// prefix, bound every call by a short timeout, and treat every failure as a miss (or a no-op
/// for writes), logging and counting it instead of returning it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The values of `keys`, in order; `None` for a miss (or an outage). One round trip.
    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>>;
    /// Stores entries that expire after `ttl`. One round trip.
    async fn set_many(&self, entries: &[(String, String)], ttl: Duration);
    /// Removes entries (after the data behind them changed).
    async fn delete(&self, keys: &[String]);
}

#[async_trait]
impl<T: Cache + ?Sized> Cache for std::sync::Arc<T> {
    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>> {
        (**self).get_many(keys).await
    }
    async fn set_many(&self, entries: &[(String, String)], ttl: Duration) {
        (**self).set_many(entries, ttl).await
    }
    async fn delete(&self, keys: &[String]) {
        (**self).delete(keys).await
    }
}

/// Adds up to ±10 % of `ttl`, chosen from `seed`, so entries written together do not all
/// expire at once.
pub fn jittered(ttl: Duration, seed: u64) -> Duration {
    let span = ttl.as_millis() as u64 / 5;
    if span == 0 {
        return ttl;
    }
    let offset = seed % (span + 1);
    ttl - Duration::from_millis(span / 2) + Duration::from_millis(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let ttl = Duration::from_secs(300);
        for seed in [0, 1, 7, 59_999, 60_000, u64::MAX] {
            let j = jittered(ttl, seed);
            assert!(
                j >= Duration::from_secs(270) && j <= Duration::from_secs(330),
                "{j:?}"
            );
        }
    }
}
