//! Relational storage through sea-orm: connection, migrations, the order and product stores,
//! the outbox, the inbox and the idempotency keys. The SQL stays MySQL-compatible (MariaDB
//! runs the tests); SQLite serves the standalone composition with the same code.
//!
//! Layout:
//! - [`migrations`]: the schema, one file per database plus the tables both share.
//! - [`entities`]: the sea-orm entities.
//! - `orders`, `products`, `outbox`, `idempotency`: the stores ([`SqlOrderStore`],
//!   [`SqlProductStore`], [`SqlOutboxStore`], [`SqlIdempotencyStore`]).
//! - `tx`: the transaction both services' stores share (inbox, buffered outbox).
//! - Here: connecting and error classification.

pub mod entities;
mod idempotency;
pub mod migrations;
mod orders;
mod outbox;
mod products;
mod tx;

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use secrecy::{ExposeSecret, SecretString};

use ports::{OutboxSignal, StoreError};

pub use idempotency::SqlIdempotencyStore;
pub use migrations::{OrderMigrator, ProductMigrator};
pub use orders::SqlOrderStore;
pub use outbox::SqlOutboxStore;
pub use products::SqlProductStore;
pub(crate) use tx::{SqlTx, enqueue};

impl crate::settings::DatabaseSettings {
    /// Pool options for [`connect`].
    pub fn options(&self) -> DbOptions {
        DbOptions {
            url: self.url.clone(),
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
        }
    }
}

/// Opens the pool (creating the database first when configured to) and applies `M`'s
/// pending migrations.
pub async fn open_database<M: sea_orm_migration::MigratorTrait>(
    settings: &crate::settings::DatabaseSettings,
) -> anyhow::Result<DatabaseConnection> {
    if settings.create_if_missing {
        ensure_database(settings.url.expose_secret()).await?;
    }
    let conn = connect(&settings.options()).await?;
    M::up(&conn, None)
        .await
        .context("failed to apply the database migrations")?;
    Ok(conn)
}

/// Opens `connections` read-only connections to the SQLite file of `settings` (already
/// migrated by [`open_database`]), for the reads that need no transaction; `None` when the
/// database is not an SQLite file (a server pool serves reads and writes alike, and an
/// in-memory SQLite database exists only on its one connection).
///
/// Why: an SQLite database has one writer, so [`connect`] gives it one connection, and every
/// read used to queue behind whatever transaction held it (a placement, a consumer's batch).
/// In WAL mode readers never wait for the writer nor it for them: each read sees the last
/// commit, as a read on a server pool does.
pub async fn open_readers(
    settings: &crate::settings::DatabaseSettings,
    connections: u32,
) -> anyhow::Result<Option<DatabaseConnection>> {
    if !is_sqlite(settings.url.expose_secret())
        || sqlite_path(settings.url.expose_secret()).is_none()
    {
        return Ok(None);
    }
    let mut opt = ConnectOptions::new(settings.url.expose_secret());
    opt.connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .sqlx_logging(false)
        .max_connections(connections.max(1))
        .min_connections(connections.max(1))
        .idle_timeout(None)
        .max_lifetime(None)
        // sqlx runs each SQLite connection on a thread of its own, and every command is a
        // round trip to that thread: a ping on checkout doubled the cost of a point read, and
        // a file connection has no peer that could have dropped it.
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(|o| {
            // The writer's connection chose WAL (it is a property of the file); a read-only
            // connection may not change the journal mode, so it sets none.
            o.read_only(true)
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(5))
        });
    let readers = Database::connect(opt).await.with_context(|| {
        format!(
            "failed to open read connections to {}",
            redact(settings.url.expose_secret())
        )
    })?;
    Ok(Some(readers))
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Connection URL (`mysql://user:pass@host:port/db`), a secret.
    pub url: SecretString,
    /// Upper bound of open connections.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before failing fast.
    pub acquire_timeout: Duration,
}

/// How long a pooled server connection may sit idle before it is pinged on checkout.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Prepared statements kept per server connection (sqlx's default is 100). The multi-row
/// statements of the group commit and of the consumers' batches come in many shapes; with the
/// default cache they were evicted all the time, and sqlx closes an evicted statement with a
/// `COM_STMT_CLOSE`, which the server does not answer. sqlx does not set `TCP_NODELAY`, so the
/// next command then waited for the delayed ACK of that close: POST /orders had a p99 of about
/// 200 ms, and orders confirmed at 500/s a p99 of 490 ms. With 400 it was 66 ms and 80 ms. The
/// server's `max_prepared_stmt_count` (16,382 by default) must cover 400 × the pool size of
/// every replica.
const STATEMENT_CACHE: usize = 400;

/// Whether `url` names an SQLite database (`sqlite://path` or `sqlite::memory:`).
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Opens a bounded pool. Connects eagerly so that a wrong URL fails at startup.
///
/// SQLite (the standalone composition) gets one connection: SQLite has a single writer
/// anyway, and one connection makes every transaction strictly serial, with no "database is
/// locked" retries; reads go to [`open_readers`]' pool. The connection is never recycled, so
/// an in-memory database lives as long as the pool.
///
/// Durability: WAL journaling with `synchronous = NORMAL`. A commit is written to the WAL
/// before it returns, so it survives a crash of the process (what the chaos harness does);
/// the WAL is synced to disk at each checkpoint, not at each commit, so a power loss or OS
/// crash may lose the last commits (never corrupt the file). `FULL` would fsync every
/// commit and cap intake at the disk's fsync rate.
pub async fn connect(options: &DbOptions) -> anyhow::Result<DatabaseConnection> {
    let mut opt = ConnectOptions::new(options.url.expose_secret());
    opt.connect_timeout(Duration::from_secs(5))
        .acquire_timeout(options.acquire_timeout)
        .sqlx_logging(false);
    if is_sqlite(options.url.expose_secret()) {
        opt.max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // No ping on checkout: see `open_readers`.
            .test_before_acquire(false)
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .foreign_keys(true)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
            });
    } else {
        // A ping on every checkout would add a round trip to each statement batch (about four
        // per order); only a connection idle long enough to have been dropped by the server
        // or a proxy is tested. A connection broken while in use fails its statement, which
        // the callers already answer as an unavailable database.
        opt.max_connections(options.max_connections)
            .min_connections(1)
            .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
            .map_sqlx_mysql_opts(|o| o.statement_cache_capacity(STATEMENT_CACHE));
    }
    Database::connect(opt).await.with_context(|| {
        format!(
            "failed to connect to the database at {}",
            redact(options.url.expose_secret())
        )
    })
}

/// Creates the database named in `url` when missing (the server must allow it), then
/// returns. Used by tests and first starts; production databases are usually provisioned.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    if is_sqlite(url) {
        // SQLite creates the file on connect; only its folder must exist.
        if let Some(dir) = sqlite_path(url).and_then(|p| p.parent().map(ToOwned::to_owned))
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        return Ok(());
    }
    let (server, name) = url
        .rsplit_once('/')
        .filter(|(_, name)| !name.is_empty())
        .with_context(|| format!("database URL {} names no database", redact(url)))?;
    let name = name.split('?').next().unwrap_or(name);
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("database name `{name}` must be letters, digits and underscores");
    }
    let db = Database::connect(
        ConnectOptions::new(format!("{server}/"))
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .with_context(|| {
        format!(
            "failed to connect to the database server at {}",
            redact(server)
        )
    })?;
    db.execute_unprepared(&format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .await
    .with_context(|| format!("failed to create database {name}"))?;
    db.close().await.ok();
    Ok(())
}

/// The file of an SQLite URL (`sqlite://data/orders.db?mode=rwc` → `data/orders.db`), or
/// `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

/// Checks that the database answers (for `/health`).
pub async fn ping(db: &DatabaseConnection) -> anyhow::Result<()> {
    db.ping().await.context("database ping failed")
}

/// `/health`'s probe of a database: critical, the service cannot work without it.
#[cfg(feature = "http")]
pub fn health_check(db: &DatabaseConnection) -> crate::http::health::HealthCheck {
    let db = db.clone();
    crate::http::health::HealthCheck::critical("database", move || {
        let db = db.clone();
        async move { ping(&db).await }
    })
}

/// `mysql://user:secret@host/db` → `mysql://user:***@host/db`: URLs are logged, secrets never.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Whether the database failed for a reason that passes: the server is unreachable, restarting
/// or out of connections, the connection broke, or the statement lost a deadlock or a lock wait.
/// A request answers those with `503` and `Retry-After`, a consumer retries the message; any
/// other error is a bug or bad data.
/// A deadlock (1213, SQLSTATE 40001), a lock wait timeout (1205) or a busy or locked SQLite
/// database (5, 6): the transaction was rolled back for a conflict, not for a broken database.
fn is_contention(e: &DbErr) -> bool {
    let (DbErr::Exec(r) | DbErr::Query(r)) = e else {
        return false;
    };
    let sea_orm::RuntimeErr::SqlxError(err) = r else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db) = err.as_ref() else {
        return false;
    };
    db.code()
        .as_deref()
        .is_some_and(|c| matches!(c, "40001" | "5" | "6"))
        || db
            .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| matches!(m.number(), 1205 | 1213))
}

fn is_transient(e: &DbErr) -> bool {
    let runtime = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    let sea_orm::RuntimeErr::SqlxError(err) = runtime else {
        return false;
    };
    match err.as_ref() {
        sea_orm::sqlx::Error::Io(_)
        | sea_orm::sqlx::Error::Tls(_)
        | sea_orm::sqlx::Error::PoolTimedOut
        | sea_orm::sqlx::Error::PoolClosed
        | sea_orm::sqlx::Error::WorkerCrashed => true,
        sea_orm::sqlx::Error::Database(db) => {
            let code = db.code();
            // SQLSTATE class 08: connection exception; 40001: deadlock (serialization
            // failure); 5 and 6: SQLITE_BUSY and SQLITE_LOCKED.
            code.as_deref()
                .is_some_and(|c| c.starts_with("08") || matches!(c, "40001" | "5" | "6"))
                || db
                    .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|m| MYSQL_TRANSIENT.contains(&m.number()))
        }
        _ => false,
    }
}

/// MySQL error numbers that pass: too many connections (1040), server shutting down (1053),
/// lock wait timeout (1205), deadlock (1213), connection killed (1927).
const MYSQL_TRANSIENT: [u16; 5] = [1040, 1053, 1205, 1213, 1927];

pub(crate) fn store_err(e: DbErr, what: &'static str) -> StoreError {
    if matches!(
        e,
        DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout)
    ) {
        crate::observe::pool_acquire_timeout();
    }
    if is_contention(&e) {
        StoreError::Unavailable(
            anyhow::Error::new(e)
                .context(what)
                .context(ports::store::Contention),
        )
    } else if is_transient(&e) {
        StoreError::Unavailable(anyhow::Error::new(e).context(what))
    } else {
        StoreError::Unknown(anyhow::Error::new(e).context(what))
    }
}

pub(crate) fn to_naive(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc()
}

pub(crate) fn to_utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt row: {what}"))
}

/// The `db_pool_*` gauges of one pool, read at scrape.
#[derive(Debug, Clone)]
pub struct PoolSampler {
    /// The pool.
    pub db: DatabaseConnection,
    /// Its `pool` label (`order`, `product`, `order-readers`...).
    pub name: &'static str,
}

#[async_trait::async_trait]
impl crate::observe::Sampler for PoolSampler {
    async fn sample(&self) {
        let (size, idle, max) = match self.db.get_database_backend() {
            sea_orm::DbBackend::MySql => {
                let pool = self.db.get_mysql_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            sea_orm::DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => return,
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        crate::observe::pool(self.name, size.saturating_sub(idle), idle, max);
    }
}

/// The pool's acquire timeout: how long a caller waits at most for a connection.
pub(crate) fn acquire_timeout(db: &DatabaseConnection) -> Duration {
    match db.get_database_backend() {
        sea_orm::DbBackend::MySql => db
            .get_mysql_connection_pool()
            .options()
            .get_acquire_timeout(),
        sea_orm::DbBackend::Sqlite => db
            .get_sqlite_connection_pool()
            .options()
            .get_acquire_timeout(),
        _ => Duration::from_secs(30),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/orders.db?mode=rwc"),
            Some("data/orders.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("mysql://db/orderdb"), None);
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact("mysql://app:s3cret@db:3306/orderdb"),
            "mysql://app:***@db:3306/orderdb"
        );
        assert_eq!(redact("mysql://db/orderdb"), "mysql://db/orderdb");
    }

    fn sqlx(e: sea_orm::sqlx::Error) -> sea_orm::RuntimeErr {
        sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e))
    }

    #[test]
    fn a_lost_or_refused_connection_is_unavailable_and_a_bad_statement_is_not() {
        let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for passes in [
            DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout),
            DbErr::Exec(sqlx(sea_orm::sqlx::Error::Io(refused()))),
            DbErr::Query(sqlx(sea_orm::sqlx::Error::Io(refused()))),
            DbErr::Query(sqlx(sea_orm::sqlx::Error::PoolTimedOut)),
        ] {
            let shown = passes.to_string();
            assert!(
                matches!(store_err(passes, "test"), StoreError::Unavailable(_)),
                "{shown}"
            );
        }
        for fails in [
            DbErr::Query(sqlx(sea_orm::sqlx::Error::RowNotFound)),
            DbErr::Exec(sqlx(sea_orm::sqlx::Error::Protocol("garbage".into()))),
            DbErr::Custom("a bug".into()),
        ] {
            let shown = fails.to_string();
            assert!(
                matches!(store_err(fails, "test"), StoreError::Unknown(_)),
                "{shown}"
            );
        }
    }
}
