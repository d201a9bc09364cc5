//! Invariants read from the services' own databases (and their dead-letter endpoints) after a
//! scenario: nothing acknowledged is lost or doubled, every acknowledged order settles, stock
//! never goes negative and is conserved, reservations match the confirmed orders, each order is
//! decided once, the outboxes drain, and the dead-letter queues hold what was expected.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

/// Figures and violations of one scenario.
#[derive(Debug, Default)]
pub struct Verdict {
    /// `(name, value)` in the order they were measured.
    pub figures: Vec<(String, String)>,
    /// What did not hold.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Records a figure.
    pub fn figure(&mut self, name: &str, value: impl std::fmt::Display) {
        self.figures.push((name.to_owned(), value.to_string()));
    }

    /// A recorded figure, or `-`.
    pub fn get(&self, name: &str) -> &str {
        self.figures
            .iter()
            .find(|(n, _)| n == name)
            .map_or("-", |(_, v)| v.as_str())
    }

    /// Records a violation unless `holds`.
    pub fn require(&mut self, holds: bool, what: impl FnOnce() -> String) {
        if !holds {
            self.violations.push(what());
        }
    }

    /// Renders the figures and violations.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.figures {
            let _ = writeln!(out, "    {name:<34} {value}");
        }
        for v in &self.violations {
            let _ = writeln!(out, "    VIOLATION: {v}");
        }
        out
    }
}

/// The two databases of one scenario, read through one connection to the server.
#[derive(Debug)]
pub struct Databases {
    conn: DatabaseConnection,
    /// Order service database name.
    pub orders: String,
    /// Product service database name.
    pub products: String,
}

impl Databases {
    /// Connects to the server behind `mysql_url` (no database).
    pub async fn connect(mysql_url: &str, orders: &str, products: &str) -> anyhow::Result<Self> {
        let conn = Database::connect(mysql_url)
            .await
            .context("cannot connect to MySQL to check the invariants")?;
        Ok(Self {
            conn,
            orders: orders.to_owned(),
            products: products.to_owned(),
        })
    }

    /// Replaces `{o}` and `{p}` by the database names.
    fn sql(&self, template: &str) -> String {
        template
            .replace("{o}", &format!("`{}`", self.orders))
            .replace("{p}", &format!("`{}`", self.products))
    }

    /// A query returning one integer.
    pub async fn scalar(&self, template: &str) -> anyhow::Result<i64> {
        let sql = self.sql(template);
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.conn.get_database_backend(),
                &sql,
            ))
            .await
            .with_context(|| format!("query failed: {sql}"))?
            .with_context(|| format!("no row: {sql}"))?;
        Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
    }

    /// A query returning `(text, integer)` rows.
    pub async fn pairs(&self, template: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let sql = self.sql(template);
        let rows = self
            .conn
            .query_all_raw(Statement::from_string(
                self.conn.get_database_backend(),
                &sql,
            ))
            .await
            .with_context(|| format!("query failed: {sql}"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index::<Option<String>>(0)?.unwrap_or_default(),
                    r.try_get_by_index::<i64>(1)?,
                ))
            })
            .collect()
    }

    /// Waits until no order is `pending`; the time it took, or `None` after `bound`.
    pub async fn wait_settled(&self, bound: Duration) -> anyhow::Result<Option<Duration>> {
        let started = Instant::now();
        loop {
            let pending = self
                .scalar("SELECT COUNT(*) FROM {o}.orders WHERE status = 'pending'")
                .await?;
            if pending == 0 {
                return Ok(Some(started.elapsed()));
            }
            if started.elapsed() >= bound {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Orders by status (and rejection reason).
    pub async fn statuses(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        Ok(self
            .pairs(
                "SELECT CONCAT(status, COALESCE(CONCAT(':', rejection_reason), '')), \
                 CAST(COUNT(*) AS SIGNED) FROM {o}.orders GROUP BY 1",
            )
            .await?
            .into_iter()
            .collect())
    }
}

/// What a scenario expects of the end state.
#[derive(Debug)]
pub struct Expect<'a> {
    /// Acknowledged `(customer, order id)` pairs.
    pub acked: &'a [(String, String)],
    /// Initial stock of every product the scenario created.
    pub initial_stock: &'a BTreeMap<String, i64>,
    /// An order may be `pending` this long.
    pub order_deadline: Duration,
    /// An outbox row may stay unpublished this long.
    pub outbox_bound: Duration,
    /// Message ids expected in the order service's dead-letter queue.
    pub order_dead_letters: &'a [String],
    /// Message ids expected in the product service's dead-letter queue.
    pub product_dead_letters: &'a [String],
}

/// Checks every invariant and records the figures.
pub async fn verify(
    dbs: &Databases,
    http: &reqwest::Client,
    order_url: &str,
    product_url: &str,
    expect: &Expect<'_>,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    // Acknowledged orders: stored, once, and settled or still within their deadline.
    let stored: BTreeMap<String, i64> = dbs
        .pairs(
            "SELECT customer_id, CAST(COUNT(*) AS SIGNED) FROM {o}.orders \
             WHERE customer_id IS NOT NULL GROUP BY customer_id",
        )
        .await?
        .into_iter()
        .collect();
    let ids: BTreeMap<String, i64> = dbs
        .pairs("SELECT HEX(id), CAST(1 AS SIGNED) FROM {o}.orders")
        .await?
        .into_iter()
        .collect();
    let lost: Vec<&String> = expect
        .acked
        .iter()
        .filter(|(_, id)| !ids.contains_key(&hex(id)))
        .map(|(_, id)| id)
        .collect();
    let duplicates: i64 = stored.values().map(|n| n - 1).sum();
    verdict.figure("acknowledged orders lost", lost.len());
    verdict.figure("duplicate orders", duplicates);
    verdict.require(lost.is_empty(), || {
        format!(
            "{} acknowledged orders are not stored, e.g. {:?}",
            lost.len(),
            lost.first()
        )
    });
    verdict.require(duplicates == 0, || {
        format!("{duplicates} orders stored twice")
    });
    let overdue = dbs
        .scalar(&format!(
            "SELECT COUNT(*) FROM {{o}}.orders WHERE status = 'pending' \
             AND created_at < UTC_TIMESTAMP(6) - INTERVAL {} SECOND",
            expect.order_deadline.as_secs()
        ))
        .await?;
    verdict.require(overdue == 0, || {
        format!("{overdue} orders still pending past their deadline")
    });

    // Stock: never negative, conserved (initial = on hand + held by active or consumed
    // reservations), and the reservations are exactly the confirmed orders' items.
    let on_hand: BTreeMap<String, i64> = dbs
        .pairs("SELECT HEX(id), stock FROM {p}.products")
        .await?
        .into_iter()
        .collect();
    let held: BTreeMap<String, i64> = dbs
        .pairs(
            "SELECT HEX(product_id), \
             CAST(SUM(quantity) AS SIGNED) FROM {p}.stock_reservations \
             WHERE status IN ('active', 'consumed') GROUP BY product_id",
        )
        .await?
        .into_iter()
        .collect();
    let mut unconserved = Vec::new();
    for (product, initial) in expect.initial_stock {
        let stock = on_hand.get(&hex(product)).copied().unwrap_or(-1);
        let reserved = held.get(&hex(product)).copied().unwrap_or(0);
        verdict.require(stock >= 0, || format!("product {product}: stock {stock}"));
        if stock + reserved != *initial {
            unconserved.push(format!(
                "product {product}: initial {initial} != stock {stock} + reserved {reserved}"
            ));
        }
    }
    verdict.figure(
        "products conserved",
        format!(
            "{}/{}",
            expect.initial_stock.len() - unconserved.len(),
            expect.initial_stock.len()
        ),
    );
    verdict.violations.extend(unconserved);
    let mismatched = dbs
        .scalar(
            "SELECT COUNT(*) FROM ( \
               SELECT o.id, COALESCE(i.q, 0) AS wanted, COALESCE(r.q, 0) AS held, o.status \
               FROM {o}.orders o \
               LEFT JOIN (SELECT order_id, SUM(quantity) q FROM {o}.order_items GROUP BY order_id) i \
                 ON i.order_id = o.id \
               LEFT JOIN (SELECT order_id, SUM(quantity) q FROM {p}.stock_reservations \
                          WHERE status IN ('active', 'consumed') GROUP BY order_id) r \
                 ON r.order_id = o.id \
             ) x WHERE (status IN ('confirmed', 'shipped', 'delivered') AND held <> wanted) \
                    OR (status NOT IN ('confirmed', 'shipped', 'delivered') AND held <> 0)",
        )
        .await?;
    let orphans = dbs
        .scalar(
            "SELECT COUNT(*) FROM {p}.stock_reservations r \
             WHERE r.status IN ('active', 'consumed') \
             AND NOT EXISTS (SELECT 1 FROM {o}.orders o WHERE o.id = r.order_id)",
        )
        .await?;
    verdict.require(mismatched == 0, || {
        format!("{mismatched} orders whose reservations do not match their status and items")
    });
    verdict.require(orphans == 0, || {
        format!("{orphans} reservations held for orders that do not exist")
    });

    // Each order decided once: a second pending -> X transition would be an effect applied twice.
    let decided_twice = dbs
        .scalar(
            "SELECT COUNT(*) FROM (SELECT order_id FROM {o}.order_status_history \
             WHERE from_status = 'pending' GROUP BY order_id HAVING COUNT(*) > 1) x",
        )
        .await?;
    verdict.require(decided_twice == 0, || {
        format!("{decided_twice} orders left `pending` more than once")
    });

    // Outboxes drained: nothing unpublished older than the bound.
    for (db, service) in [("{o}", "order"), ("{p}", "product")] {
        let stale = dbs
            .scalar(&format!(
                "SELECT COUNT(*) FROM {db}.outbox WHERE published_at IS NULL \
                 AND occurred_at < UTC_TIMESTAMP(6) - INTERVAL {} SECOND",
                expect.outbox_bound.as_secs()
            ))
            .await?;
        verdict.figure(
            &format!(
                "{service} outbox rows unpublished > {}s",
                expect.outbox_bound.as_secs()
            ),
            stale,
        );
        verdict.require(stale == 0, || {
            format!(
                "{stale} {service} outbox rows unpublished for over {:?}",
                expect.outbox_bound
            )
        });
    }

    // Dead letters: exactly the expected message ids.
    for (url, service, expected) in [
        (order_url, "order", expect.order_dead_letters),
        (product_url, "product", expect.product_dead_letters),
    ] {
        let mut found = match dead_letter_ids(http, url).await {
            Ok(found) => found,
            Err(e) => {
                verdict
                    .violations
                    .push(format!("cannot read the {service} dead letters: {e:#}"));
                continue;
            }
        };
        found.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        verdict.figure(&format!("{service} dead letters"), found.len());
        verdict.require(found == expected, || {
            format!("{service} dead-letter queue holds {found:?}, expected {expected:?}")
        });
    }
    Ok(())
}

/// A UUID as MySQL's `HEX()` of its 16 bytes shows it.
pub fn hex(uuid: &str) -> String {
    uuid.replace('-', "").to_uppercase()
}

/// The message ids in a service's dead-letter queue (`GET /admin/dead-letters`).
pub async fn dead_letter_ids(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<String>> {
    let reply = http
        .get(format!("{base}/admin/dead-letters?limit=100"))
        .send()
        .await
        .context("GET /admin/dead-letters")?;
    let status = reply.status();
    let body: serde_json::Value = reply.json().await.context("dead-letter page")?;
    anyhow::ensure!(
        status.is_success(),
        "GET /admin/dead-letters answered {status}: {body}"
    );
    Ok(body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["message_id"].as_str().unwrap_or("<none>").to_owned())
                .collect()
        })
        .unwrap_or_default())
}
