//! Direct database access: creating and dropping the run's databases, and counting the orders
//! still `pending` in an order database (MySQL or the standalone system's SQLite file), which
//! is how settling is timed without loading the API under test.

use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

async fn execute(server_url: &str, sql: &str) -> anyhow::Result<()> {
    let conn = connect(server_url).await?;
    conn.execute_unprepared(sql)
        .await
        .with_context(|| format!("failed: {sql}"))?;
    conn.close().await.ok();
    Ok(())
}

/// `CREATE DATABASE name` on the server of `server_url`.
pub async fn create_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    execute(
        server_url,
        &format!("CREATE DATABASE IF NOT EXISTS `{name}`"),
    )
    .await
}

/// `DROP DATABASE name` on the server of `server_url`.
pub async fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    execute(server_url, &format!("DROP DATABASE IF EXISTS `{name}`")).await
}

/// Counts the `pending` orders of one order database.
#[derive(Debug)]
pub struct PendingProbe {
    conn: DatabaseConnection,
}

impl PendingProbe {
    /// A probe of the order database at `url` (`mysql://.../db` or `sqlite://path`).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            conn: connect(url).await?,
        })
    }

    /// Orders `pending` now.
    pub async fn pending(&self) -> anyhow::Result<u64> {
        let sql = "SELECT COUNT(*) FROM orders WHERE status = 'pending'";
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.conn.get_database_backend(),
                sql,
            ))
            .await
            .context("failed to count the pending orders")?
            .context("no row from COUNT(*)")?;
        Ok(u64::try_from(row.try_get_by_index::<i64>(0)?).unwrap_or(0))
    }

    /// Waits until no order is pending: the time it took from `since`, or `None` when some
    /// still were after `cap` (also measured from `since`).
    pub async fn wait_settled(
        &self,
        since: Instant,
        cap: Duration,
    ) -> anyhow::Result<Option<Duration>> {
        loop {
            if self.pending().await? == 0 {
                return Ok(Some(since.elapsed()));
            }
            if since.elapsed() >= cap {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The connection (the bulk loader writes through it).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }
}
