//! The in-memory cache of the standalone composition (moka): the same [`Cache`] port as Redis,
//! with per-entry expiry and a bounded size. It cannot be "down", so it never misses for that
//! reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;

use ports::Cache;

#[derive(Clone)]
struct Entry {
    value: Arc<str>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _at: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _at: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A [`Cache`] in process memory.
#[derive(Clone)]
pub struct MemoryCache {
    entries: moka::future::Cache<String, Entry>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl MemoryCache {
    /// A cache of at most `capacity` entries (least recently used ones go first).
    pub fn new(capacity: u64) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get_many(&self, keys: &[String]) -> Vec<Option<String>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.entries.get(key).await.map(|e| e.value.to_string()));
        }
        values
    }

    async fn set_many(&self, entries: &[(String, String)], ttl: Duration) {
        for (key, value) in entries {
            self.entries
                .insert(
                    key.clone(),
                    Entry {
                        value: value.as_str().into(),
                        ttl,
                    },
                )
                .await;
        }
    }

    async fn delete(&self, keys: &[String]) {
        for key in keys {
            self.entries.invalidate(key).await;
        }
    }
}
