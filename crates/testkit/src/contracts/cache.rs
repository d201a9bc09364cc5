//! The cache contract ([`Cache`]), and the outage contract for caches that can be down.

use std::sync::Arc;
use std::time::Duration;

use ports::Cache;

/// What the cache suite runs against.
pub trait CacheFixture: Send + Sync {
    /// A cache whose keys live in `namespace` (a key prefix): caches of two namespaces never
    /// see each other's keys, caches of the same namespace share them.
    fn cache(&self, namespace: &str) -> Arc<dyn Cache>;
}

/// Lifetime of the entries the suite expects to see expire.
pub const SHORT_TTL: Duration = Duration::from_millis(300);
/// Lifetime of the entries the suite expects to stay (and that clean up after it).
pub const LONG_TTL: Duration = Duration::from_secs(60);
/// How long every call of a cache whose server is down may take, at most.
pub const OUTAGE_BOUND: Duration = Duration::from_secs(2);

/// Runs every rule of the cache contract against `fixture`; panics on the first broken one.
pub async fn cache_contract<F: CacheFixture + ?Sized>(fixture: &F) {
    let cache = fixture.cache("main");
    misses_are_none(cache.as_ref()).await;
    set_then_get_in_key_order(cache.as_ref()).await;
    delete_removes(cache.as_ref()).await;
    entries_expire_after_their_ttl(cache.as_ref()).await;
    namespaces_do_not_collide(fixture).await;
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|k| (*k).to_owned()).collect()
}

fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn some(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

async fn misses_are_none(cache: &dyn Cache) {
    assert_eq!(
        cache.get_many(&keys(&["missing"])).await,
        vec![None],
        "cache: get of a missing key must be None"
    );
    assert!(
        cache.get_many(&[]).await.is_empty(),
        "cache: get_many of no keys must be empty"
    );
}

async fn set_then_get_in_key_order(cache: &dyn Cache) {
    let json = r#"{"state":"found","name":"Tasse à café ☕","price_minor":1999}"#;
    cache
        .set_many(&entries(&[("a", "1"), ("b", json)]), LONG_TTL)
        .await;
    assert_eq!(
        cache.get_many(&keys(&["b", "nope", "a"])).await,
        some(&[Some(json), None, Some("1")]),
        "cache: get_many must answer in key order, values exactly as set, None for misses"
    );
    cache.set_many(&entries(&[("a", "2")]), LONG_TTL).await;
    assert_eq!(
        cache.get_many(&keys(&["a"])).await,
        some(&[Some("2")]),
        "cache: set must overwrite an existing entry"
    );
    cache.set_many(&[], LONG_TTL).await;
}

async fn delete_removes(cache: &dyn Cache) {
    cache
        .set_many(&entries(&[("gone", "x"), ("kept", "y")]), LONG_TTL)
        .await;
    cache.delete(&keys(&["gone", "never-set"])).await;
    cache.delete(&[]).await;
    assert_eq!(
        cache.get_many(&keys(&["gone", "kept"])).await,
        some(&[None, Some("y")]),
        "cache: delete must remove the given keys and only them"
    );
}

async fn entries_expire_after_their_ttl(cache: &dyn Cache) {
    let written = tokio::time::Instant::now();
    cache.set_many(&entries(&[("short", "s")]), SHORT_TTL).await;
    cache.set_many(&entries(&[("long", "l")]), LONG_TTL).await;
    let fresh = cache.get_many(&keys(&["short", "long"])).await;
    // Only checked when the machine was quick enough for the entry not to have expired yet.
    if written.elapsed() < SHORT_TTL / 2 {
        assert_eq!(
            fresh,
            some(&[Some("s"), Some("l")]),
            "cache: an entry must be readable before its TTL passes"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        cache.get_many(&keys(&["short", "long"])).await,
        some(&[None, Some("l")]),
        "cache: an entry must be gone once its TTL ({SHORT_TTL:?}) passed, while an entry with a \
         longer TTL stays"
    );
}

async fn namespaces_do_not_collide<F: CacheFixture + ?Sized>(fixture: &F) {
    let (one, two) = (fixture.cache("one"), fixture.cache("two"));
    let one_again = fixture.cache("one");
    one.set_many(&entries(&[("shared", "one")]), LONG_TTL).await;
    assert_eq!(
        two.get_many(&keys(&["shared"])).await,
        vec![None],
        "cache: a key set in one namespace must not be visible in another"
    );
    two.set_many(&entries(&[("shared", "two")]), LONG_TTL).await;
    assert_eq!(
        one_again.get_many(&keys(&["shared"])).await,
        some(&[Some("one")]),
        "cache: setting a key in another namespace must not overwrite it (and caches of one \
         namespace share their keys)"
    );
    two.delete(&keys(&["shared"])).await;
    assert_eq!(
        (
            one.get_many(&keys(&["shared"])).await,
            two.get_many(&keys(&["shared"])).await
        ),
        (some(&[Some("one")]), vec![None]),
        "cache: deleting a key in one namespace must not delete it in another"
    );
}

/// The outage contract: `cache` points at a server that is down. Reads are all misses, writes
/// are no-ops, nothing panics, and each call answers within [`OUTAGE_BOUND`], several times in
/// a row (a broken connection must not stall later calls).
pub async fn cache_outage_contract(cache: &dyn Cache) {
    for round in 0..3 {
        let values = bounded("get_many", cache.get_many(&keys(&["a", "b", "c"]))).await;
        assert_eq!(
            values,
            vec![None, None, None],
            "cache outage: get_many must answer one miss per key (round {round})"
        );
        bounded(
            "set_many",
            cache.set_many(&entries(&[("a", "1"), ("b", "2")]), LONG_TTL),
        )
        .await;
        bounded("delete", cache.delete(&keys(&["a"]))).await;
        assert_eq!(
            bounded("get_many", cache.get_many(&keys(&["a"]))).await,
            vec![None],
            "cache outage: a write during an outage must not be read back"
        );
    }
}

async fn bounded<T>(call: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(OUTAGE_BOUND, future).await {
        Ok(value) => value,
        Err(_) => panic!(
            "cache outage: {call} must answer within {OUTAGE_BOUND:?} when the server is down"
        ),
    }
}
