//! The idempotency-key port: a request carrying `Idempotency-Key` runs at most once; a retry
//! with the same key and the same request gets the first answer again.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::store::StoreError;

/// A response kept for replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers worth replaying (content type, location, ETag).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// What a key's claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use of the key (or a retry after the first run died): run the request. The
    /// resource id is reserved for this key, stable across such retries, so a request that
    /// creates something can detect that it already did.
    Fresh {
        /// Id to give what the request creates.
        resource_id: Uuid,
    },
    /// The key answered before: send this again.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// A request with the key is still running.
    InProgress,
}

/// Idempotency records. Insert-first: the claim is written before the request runs.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for a request with this `fingerprint`. A claim holds for `lease` (a claim
    /// whose lease ran out belonged to a run that died, and can be taken over); the record
    /// is kept for `retention`.
    async fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        lease: Duration,
        retention: Duration,
    ) -> Result<Claim, StoreError>;
    /// Stores the response of a claimed key.
    async fn complete(&self, key: &str, response: &StoredResponse) -> Result<(), StoreError>;
    /// Gives a claimed key back unanswered (after a server error: the client may retry).
    async fn release(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes expired records; returns how many.
    async fn purge_expired(&self) -> Result<u64, StoreError>;
}

/// Purges expired keys from `store` every `every` until `shutdown`; a failed purge is logged
/// and the next one tries again.
pub async fn run_purger(
    store: std::sync::Arc<dyn IdempotencyStore>,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        match store.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired idempotency keys purged"),
            Err(e) => {
                tracing::warn!(error = %format!("{:#}", anyhow::Error::from(e)), "idempotency purge failed")
            }
        }
    }
}
