//! The [`IdempotencyStore`] contract: insert-first claims, replays, mismatches, leases that a
//! retry takes over when the first run died, release after a server error, expiry and purge.

use std::time::Duration;

use ports::idempotency::{Claim, IdempotencyStore, StoredResponse};

const LEASE: Duration = Duration::from_secs(30);
const RETENTION: Duration = Duration::from_secs(3600);
const SHORT: Duration = Duration::from_millis(50);

fn key(name: &str) -> String {
    format!("contract-{name}-{}", uuid::Uuid::now_v7())
}

async fn claim(
    store: &dyn IdempotencyStore,
    key: &str,
    fingerprint: &str,
    lease: Duration,
    retention: Duration,
) -> Claim {
    store
        .claim(key, fingerprint, lease, retention)
        .await
        .expect("idempotency store: claim must succeed")
}

/// Runs every rule against `store` (which may hold other keys).
pub async fn idempotency_store_contract(store: &dyn IdempotencyStore) {
    // First use, then the same request while it runs, then another request under the key.
    let k = key("first");
    let Claim::Fresh { resource_id } = claim(store, &k, "fp-a", LEASE, RETENTION).await else {
        panic!("idempotency store: the first claim of a key must be Fresh");
    };
    assert_eq!(
        claim(store, &k, "fp-a", LEASE, RETENTION).await,
        Claim::InProgress,
        "idempotency store: a claim while the first run holds the key must be InProgress"
    );
    assert_eq!(
        claim(store, &k, "fp-b", LEASE, RETENTION).await,
        Claim::Mismatch,
        "idempotency store: a claim with another fingerprint must be Mismatch"
    );

    // Completed: the same request replays the stored answer exactly.
    let answer = StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), format!("/orders/{resource_id}")),
        ],
        body: format!("{{\"id\":\"{resource_id}\"}}"),
    };
    store
        .complete(&k, &answer)
        .await
        .expect("idempotency store: complete must succeed");
    assert_eq!(
        claim(store, &k, "fp-a", LEASE, RETENTION).await,
        Claim::Replay(answer.clone()),
        "idempotency store: a completed key must replay its answer exactly"
    );
    assert_eq!(
        claim(store, &k, "fp-b", LEASE, RETENTION).await,
        Claim::Mismatch,
        "idempotency store: a completed key with another fingerprint must be Mismatch"
    );

    // Released after a server error: the key is free again.
    let k = key("released");
    claim(store, &k, "fp", LEASE, RETENTION).await;
    store
        .release(&k)
        .await
        .expect("idempotency store: release must succeed");
    assert!(
        matches!(
            claim(store, &k, "fp", LEASE, RETENTION).await,
            Claim::Fresh { .. }
        ),
        "idempotency store: a released key must be claimable again"
    );

    // A run that died: once its lease ends, a retry takes over with the same resource id.
    let k = key("lease");
    let Claim::Fresh { resource_id: first } = claim(store, &k, "fp", SHORT, RETENTION).await else {
        panic!("idempotency store: the first claim of a key must be Fresh");
    };
    tokio::time::sleep(SHORT * 3).await;
    assert_eq!(
        claim(store, &k, "fp", LEASE, RETENTION).await,
        Claim::Fresh { resource_id: first },
        "idempotency store: a claim after the lease ended must take over, keeping the resource id"
    );
    assert_eq!(
        claim(store, &k, "fp", LEASE, RETENTION).await,
        Claim::InProgress,
        "idempotency store: the takeover holds the key again"
    );

    // Expiry: an expired key is new again, and the purge removes expired keys only.
    let k = key("expired");
    claim(store, &k, "fp", LEASE, SHORT).await;
    store
        .complete(&k, &answer)
        .await
        .expect("idempotency store: complete must succeed");
    let kept = key("kept");
    claim(store, &kept, "fp", LEASE, RETENTION).await;
    let purged = key("purged");
    claim(store, &purged, "fp", LEASE, SHORT).await;
    tokio::time::sleep(SHORT * 3).await;
    assert!(
        matches!(
            claim(store, &k, "fp", LEASE, RETENTION).await,
            Claim::Fresh { .. }
        ),
        "idempotency store: an expired key must be claimable as new, not replayed"
    );
    let removed = store
        .purge_expired()
        .await
        .expect("idempotency store: purge must succeed");
    assert!(
        removed >= 1,
        "idempotency store: the purge must remove expired keys"
    );
    assert!(
        matches!(
            claim(store, &purged, "fp", LEASE, RETENTION).await,
            Claim::Fresh { .. }
        ),
        "idempotency store: a purged key is gone"
    );
    assert_eq!(
        claim(store, &kept, "fp", LEASE, RETENTION).await,
        Claim::InProgress,
        "idempotency store: the purge must keep keys that have not expired"
    );
}
