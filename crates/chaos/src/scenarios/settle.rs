//! The end of every scenario: wait for the system to settle, record the load's and the
//! outcome's figures, read every acknowledged order back and check the invariants.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::check::{self, Expect, Verdict};
use crate::cluster::Service;
use crate::load::{self, LoadReport};

use super::stage::Stage;
use super::{ORDER_DEADLINE_SECS, OUTBOX_BOUND, SETTLE_BOUND};

impl Stage {
    /// Waits for the system to settle, records the outcome figures and checks the invariants.
    pub(super) async fn settle_and_verify(
        &self,
        order: &Service,
        product: &Service,
        report: &LoadReport,
        order_dead_letters: &[String],
        verdict: &mut Verdict,
    ) -> anyhow::Result<()> {
        let dbs = self.databases().await?;
        let settled = dbs.wait_settled(SETTLE_BOUND).await?;
        load_figures(report, verdict);
        match settled {
            Some(t) => verdict.figure(
                "time to settle after the load",
                format!("{:.1} s", t.as_secs_f64()),
            ),
            None => verdict.violations.push(format!(
                "orders still pending {SETTLE_BOUND:?} after the faults"
            )),
        }
        let statuses = dbs.statuses().await?;
        let count = |prefix: &str| -> i64 {
            statuses
                .iter()
                .filter(|(s, _)| s.starts_with(prefix))
                .map(|(_, n)| n)
                .sum()
        };
        verdict.figure("confirmed", count("confirmed"));
        verdict.figure("rejected", count("rejected"));
        verdict.figure("orders by status", format_statuses(&statuses));
        let (failed, pending) = read_back(&self.http, &order.url(), &report.acked).await;
        verdict.figure("failed reads (GET each acked order)", failed);
        verdict.require(failed == 0, || {
            format!("{failed} acknowledged orders could not be read back")
        });
        verdict.require(settled.is_none() || pending == 0, || {
            format!("{pending} orders read back as pending although the database settled")
        });
        check::verify(
            &dbs,
            &self.http,
            &order.url(),
            &product.url(),
            &Expect {
                acked: &report.acked,
                initial_stock: &self.initial_stock,
                order_deadline: Duration::from_secs(ORDER_DEADLINE_SECS * 4),
                outbox_bound: OUTBOX_BOUND,
                order_dead_letters,
                product_dead_letters: &[],
            },
            verdict,
        )
        .await
    }
}

/// Reads every acknowledged order back through the API: `(failed reads, still pending)`.
async fn read_back(
    http: &reqwest::Client,
    order_url: &str,
    acked: &[(String, String)],
) -> (usize, usize) {
    use futures_util::StreamExt;
    let urls: Vec<String> = acked
        .iter()
        .map(|(_, id)| format!("{order_url}/orders/{id}"))
        .collect();
    let answers: Vec<(u16, String)> = futures_util::stream::iter(urls)
        .map(|url| {
            let http = http.clone();
            async move {
                let (status, _, body) = load::timed_get(&http, &url).await;
                (status, body)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let failed = answers.iter().filter(|(s, _)| *s != 200).count();
    let pending = answers
        .iter()
        .filter(|(_, body)| {
            serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v["status"] == "pending")
        })
        .count();
    (failed, pending)
}

fn format_statuses(statuses: &BTreeMap<String, i64>) -> String {
    statuses
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The client-side figures of a load, and the rule that a retrying client always gets its
/// order acknowledged.
fn load_figures(report: &LoadReport, verdict: &mut Verdict) {
    verdict.figure("orders sent", report.sent);
    verdict.figure("acknowledged (201)", report.acked.len());
    verdict.figure("refused (4xx)", report.refused.len());
    verdict.figure("given up by the client", report.gave_up.len());
    verdict.figure("client retries", report.retries);
    verdict.figure(
        "answers by status",
        report
            .statuses
            .iter()
            .map(|(s, n)| {
                format!(
                    "{}={n}",
                    if *s == 0 {
                        "conn-error".to_owned()
                    } else {
                        s.to_string()
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
    );
    verdict.figure(
        "load time",
        format!("{:.1} s", report.elapsed.as_secs_f64()),
    );
    verdict.require(report.refused.is_empty(), || {
        format!(
            "{} orders refused, e.g. {:?}",
            report.refused.len(),
            report.refused.first()
        )
    });
    verdict.require(report.gave_up.is_empty(), || {
        format!(
            "{} orders never acknowledged, e.g. {:?}",
            report.gave_up.len(),
            report.gave_up.first()
        )
    });
}
