//! Resilience around the product catalogue: bounded retries with exponential backoff and
//! jitter for its reads (they are idempotent), and a circuit breaker (failsafe) so that a sick
//! product service makes order intake fail fast instead of waiting on it.
//!
//! The breaker opens when fewer than half of the calls of the last 30 seconds succeeded (at
//! least 10 calls), or after 5 failures in a row; it stays open for a jittered 2 to 30 seconds
//! (growing while failures go on), then lets one probe call through (half-open); a success
//! closes it. While it is open, calls fail at once with [`CatalogError::Suspended`].
//!
//! Prices already in the cache keep serving while the breaker is open: the cache sits in
//! front of this wrapper, so an order whose products are all cached is priced without a call.
//! A cached price is at most one TTL old, and `product.updated` evicts it sooner.

use crate::observe::BreakerGauge;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use failsafe::backoff::{self, EqualJittered};
use failsafe::failure_policy::{
    self, ConsecutiveFailures, FailurePolicy, OrElse, SuccessRateOverTimeWindow,
};
use failsafe::{Config, StateMachine};
use tracing::warn;

use domain::ProductId;
use ports::ordering::{CatalogError, CatalogProduct, ProductCatalog};

type Policy = OrElse<SuccessRateOverTimeWindow<EqualJittered>, ConsecutiveFailures<EqualJittered>>;

/// Retry and breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct ResilienceOptions {
    /// Attempts after the first one.
    pub retries: usize,
    /// Pause before the first retry (doubling, with jitter).
    pub first_backoff: Duration,
    /// Failures in a row that open the breaker.
    pub consecutive_failures: u32,
    /// Shortest time the breaker stays open.
    pub open_min: Duration,
    /// Longest time the breaker stays open.
    pub open_max: Duration,
}

impl Default for ResilienceOptions {
    fn default() -> Self {
        Self {
            retries: 2,
            first_backoff: Duration::from_millis(50),
            consecutive_failures: 5,
            open_min: Duration::from_secs(2),
            open_max: Duration::from_secs(30),
        }
    }
}

/// A [`ProductCatalog`] with retries and a circuit breaker in front of another.
pub struct ResilientCatalog<P> {
    inner: P,
    breaker: StateMachine<Policy, BreakerGauge>,
    retry: ExponentialBuilder,
}

impl<P> std::fmt::Debug for ResilientCatalog<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResilientCatalog")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<P: ProductCatalog> ResilientCatalog<P> {
    /// Wraps `inner`.
    pub fn new(inner: P, options: ResilienceOptions) -> Self {
        let open = backoff::equal_jittered(options.open_min, options.open_max);
        let policy = failure_policy::success_rate_over_time_window(
            0.5,
            10,
            Duration::from_secs(30),
            open.clone(),
        )
        .or_else(failure_policy::consecutive_failures(
            options.consecutive_failures,
            open,
        ));
        Self {
            inner,
            breaker: Config::new()
                .failure_policy(policy)
                .instrument(BreakerGauge::closed("product_catalog"))
                .build(),
            retry: ExponentialBuilder::default()
                .with_min_delay(options.first_backoff)
                .with_max_times(options.retries)
                .with_jitter(),
        }
    }

    /// Whether calls go through (the breaker is closed or half-open).
    pub fn is_available(&self) -> bool {
        self.breaker.is_call_permitted()
    }

    async fn attempt(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
        if !self.breaker.is_call_permitted() {
            return Err(CatalogError::Suspended);
        }
        let result = self.inner.find_many(ids).await;
        match &result {
            Ok(_) => self.breaker.on_success(),
            Err(CatalogError::Unavailable(_)) => self.breaker.on_error(),
            Err(CatalogError::Suspended) => {}
        }
        result
    }
}

#[async_trait]
impl<P: ProductCatalog> ProductCatalog for ResilientCatalog<P> {
    async fn find_many(&self, ids: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
        (|| self.attempt(ids))
            .retry(self.retry)
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, CatalogError::Unavailable(_)))
            .notify(|e, pause| {
                warn!(error = ?e, pause_ms = pause.as_millis() as u64, "product catalogue call failed; retrying");
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails its first `failures` calls, then answers.
    struct Flaky {
        failures: usize,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl ProductCatalog for Flaky {
        async fn find_many(&self, _: &[ProductId]) -> Result<Vec<CatalogProduct>, CatalogError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                Err(CatalogError::Unavailable(anyhow::anyhow!(
                    "connection refused"
                )))
            } else {
                Ok(Vec::new())
            }
        }
    }

    fn flaky(failures: usize) -> ResilientCatalog<Flaky> {
        ResilientCatalog::new(
            Flaky {
                failures,
                calls: AtomicUsize::new(0),
            },
            ResilienceOptions {
                first_backoff: Duration::from_millis(1),
                ..ResilienceOptions::default()
            },
        )
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried() {
        let catalog = flaky(2);
        assert!(catalog.find_many(&[ProductId::new()]).await.is_ok());
        assert_eq!(catalog.inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let catalog = flaky(usize::MAX);
        assert!(matches!(
            catalog.find_many(&[ProductId::new()]).await,
            Err(CatalogError::Unavailable(_))
        ));
        assert_eq!(
            catalog.inner.calls.load(Ordering::SeqCst),
            3,
            "one call and two retries"
        );
    }

    #[tokio::test]
    async fn repeated_failures_open_the_breaker_and_calls_then_fail_fast() {
        let catalog = flaky(usize::MAX);
        // Two requests of three attempts each: five failures in a row open the breaker.
        for _ in 0..2 {
            let _ = catalog.find_many(&[ProductId::new()]).await;
        }
        assert!(!catalog.is_available());
        let before = catalog.inner.calls.load(Ordering::SeqCst);
        let started = std::time::Instant::now();
        assert!(matches!(
            catalog.find_many(&[ProductId::new()]).await,
            Err(CatalogError::Suspended)
        ));
        assert!(started.elapsed() < Duration::from_millis(50), "fails fast");
        assert_eq!(
            catalog.inner.calls.load(Ordering::SeqCst),
            before,
            "an open breaker does not call the product service"
        );
    }
}
