//! Persistence types shared by both services.

use async_trait::async_trait;
use uuid::Uuid;

use crate::events::OutboxMessage;
use domain::MessageId;

/// A storage failure. Adapters translate the constraint violations a caller can act on into
/// the operation's own error types; everything else lands here with context.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached in time (pool exhausted, connection refused,
    /// timeout): worth retrying later.
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The row to insert exists already (same primary key).
    #[error("already stored")]
    Duplicate,
    /// Any other failure.
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Marks a [`StoreError::Unavailable`] caused by lock contention (a deadlock victim, a lock
/// wait that timed out, a busy SQLite database): the database rolled the transaction back,
/// and running it again will most likely succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contention;

impl std::fmt::Display for Contention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the transaction lost a lock conflict")
    }
}

impl StoreError {
    /// Whether the failure was lock contention (see [`Contention`]).
    pub fn is_contention(&self) -> bool {
        matches!(self, StoreError::Unavailable(e) if e.downcast_ref::<Contention>().is_some())
    }
}

/// Runs of one transaction when the first ones lose lock conflicts.
const CONTENTION_ATTEMPTS: u32 = 3;

/// Runs `transaction` again (up to [`CONTENTION_ATTEMPTS`] runs in all, 10 then 20 ms apart)
/// while it fails with a lock conflict (`conflict` picks the [`StoreError`] out of the use
/// case's error): the database rolled the losing run back whole, so running it again is safe,
/// and the client is told to retry only if the conflicts persist.
pub async fn retry_on_contention<T, E, F, Fut>(
    what: &'static str,
    conflict: fn(&E) -> Option<&StoreError>,
    mut transaction: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Err(e)
                if attempt < CONTENTION_ATTEMPTS
                    && conflict(&e).is_some_and(StoreError::is_contention) =>
            {
                tracing::debug!(attempt, what, "retried after a lock conflict");
                tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Most entries a page may hold.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Entries per page when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// A keyset page request: up to `limit` entries strictly after the entry `after` in the
/// listing's order (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    after: Option<Uuid>,
}

impl PageRequest {
    /// A page of `limit` entries (1..=[`MAX_PAGE_SIZE`]) after `after`; `None` when out of
    /// range.
    pub fn new(limit: u32, after: Option<Uuid>) -> Option<Self> {
        (1..=MAX_PAGE_SIZE)
            .contains(&limit)
            .then_some(Self { limit, after })
    }

    /// Entries wanted.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The last id of the previous page.
    pub fn after(&self) -> Option<Uuid> {
        self.after
    }
}

/// One page of a keyset listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The entries, newest first.
    pub items: Vec<T>,
    /// The id to continue after, when more entries follow.
    pub next_after: Option<Uuid>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in listing order: the extra row only
    /// says that another page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, id_of: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_after = if more { rows.last().map(&id_of) } else { None };
        Self {
            items: rows,
            next_after,
        }
    }

    /// Converts the entries, keeping the continuation.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_after: self.next_after,
        }
    }
}

/// Unpublished outbox rows claimed by one relay pass. Rows stay locked against other relays
/// (replicas) until the batch commits or is dropped.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OutboxBatch: Send {
    /// The claimed messages, in outbox order.
    fn messages(&self) -> &[OutboxMessage];
    /// Marks messages as published. Call only for messages the broker confirmed.
    async fn mark_published(&mut self, ids: &[MessageId]) -> Result<(), StoreError>;
    /// Releases the claim and makes the marks durable.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The outbox as the relay sees it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Claims up to `limit` unpublished messages that occurred at least `min_age` ago, oldest
    /// first, skipping rows another relay holds. An empty batch means there is nothing to
    /// publish right now. (Younger rows belong to the process that committed them, which
    /// publishes them from the [`crate::OutboxSignal`] hand-over.)
    async fn claim(
        &self,
        limit: u32,
        min_age: chrono::Duration,
    ) -> Result<Box<dyn OutboxBatch>, StoreError>;
    /// Marks messages as published outside any claim: those the relay published from the
    /// hand-over. Call only for messages the broker confirmed.
    async fn mark_published(&self, ids: &[MessageId]) -> Result<(), StoreError>;
    /// Deletes messages published more than `older_than` ago; returns how many.
    async fn purge_published(&self, older_than: chrono::Duration) -> Result<u64, StoreError>;
    /// Number of messages not yet published (for health and tests).
    async fn pending(&self) -> Result<u64, StoreError>;
    /// How many messages are not yet published and when the oldest of them occurred (`None`
    /// when all are published), in one read (for `/metrics`).
    async fn backlog(&self) -> Result<(u64, Option<chrono::DateTime<chrono::Utc>>), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert!(PageRequest::new(0, None).is_none());
        assert!(PageRequest::new(101, None).is_none());
        assert_eq!(PageRequest::new(100, None).map(|p| p.limit()), Some(100));
    }

    #[test]
    fn a_page_continues_only_when_an_extra_row_was_found() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let full = Page::from_rows(ids.clone(), 2, |u| *u);
        assert_eq!(full.items, ids[..2]);
        assert_eq!(full.next_after, Some(ids[1]));
        let last = Page::from_rows(ids[..2].to_vec(), 2, |u| *u);
        assert_eq!(last.next_after, None);
    }
}
