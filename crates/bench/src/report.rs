//! The run's figures as one table: printed, and written as Markdown and JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::stats::{Stats, max_ms, quantile_ms};

/// One line of the table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    /// What was measured, e.g. `GET /orders/{id}, c=64`.
    pub measure: String,
    /// `machine`, `distributed` or `standalone`.
    pub composition: String,
    /// The main figure.
    pub value: Option<f64>,
    /// Its unit, e.g. `req/s`.
    pub unit: String,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Largest latency, ms.
    pub max_ms: Option<f64>,
    /// The ceiling it is compared with, e.g. `MariaDB point select`.
    pub ceiling: Option<String>,
    /// The ceiling's value, in the same unit.
    pub ceiling_value: Option<f64>,
    /// `value / ceiling_value`.
    pub ratio: Option<f64>,
    /// Anything else worth reading next to the figure.
    pub notes: String,
}

impl Row {
    /// A row of `value unit`.
    pub fn new(composition: &str, measure: &str, value: Option<f64>, unit: &str) -> Self {
        Self {
            measure: measure.to_owned(),
            composition: composition.to_owned(),
            value,
            unit: unit.to_owned(),
            ..Self::default()
        }
    }

    /// A row of the successful requests per second of a load, with its latencies.
    pub fn load(composition: &str, measure: &str, stats: &Stats) -> Self {
        let mut row = Self::new(composition, measure, Some(stats.rate()), "req/s");
        row.p50_ms = quantile_ms(&stats.latency, 0.5);
        row.p99_ms = quantile_ms(&stats.latency, 0.99);
        row.max_ms = max_ms(&stats.latency);
        row.notes = format!("{} ok", stats.ok);
        if stats.failures() > 0 {
            row.notes.push_str(&format!(
                ", {} 4xx, {} 5xx, {} no answer, {} skipped",
                stats.client_errors, stats.server_errors, stats.transport_errors, stats.skipped
            ));
        }
        row
    }

    /// Compares the row's value with `ceiling` (`value` per second of `name`).
    pub fn against(mut self, name: &str, ceiling: f64) -> Self {
        self.ratio = self.value.filter(|_| ceiling > 0.0).map(|v| v / ceiling);
        self.ceiling = Some(name.to_owned());
        self.ceiling_value = Some(ceiling);
        self
    }

    /// Appends a note.
    pub fn note(mut self, note: &str) -> Self {
        if !self.notes.is_empty() {
            self.notes.push_str("; ");
        }
        self.notes.push_str(note);
        self
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// UTC date and time of the run.
    pub date: String,
    /// Cores, CPU model, memory and the load average when the run started.
    pub machine: String,
    /// `smoke` or `full`.
    pub mode: String,
    /// Cargo profile of the services.
    pub profile: String,
    /// The table.
    pub rows: Vec<Row>,
    /// What went wrong (smoke checks, steps that failed).
    pub failures: Vec<String>,
}

/// `12345.6` as `12,346`; small values keep a decimal or two.
fn number(v: f64) -> String {
    if v.abs() >= 1000.0 {
        let whole = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 { format!("-{out}") } else { out }
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{} ms", number(v)))
}

impl Report {
    /// An empty report of a run.
    pub fn new(mode: &str, profile: &str) -> Self {
        Self {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(),
            mode: mode.to_owned(),
            profile: profile.to_owned(),
            rows: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Adds a row and prints it at once, so a long run shows progress.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "bench: {} [{}]: {} {} {}",
            row.measure,
            row.composition,
            row.value.map_or_else(|| "–".to_owned(), number),
            row.unit,
            row.notes
        );
        self.rows.push(row);
    }

    /// Records a failed check.
    pub fn fail(&mut self, what: String) {
        eprintln!("bench: FAILED: {what}");
        self.failures.push(what);
    }

    /// The table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "{} · {} · mode {} · services built with profile {}\n\n",
            self.date, self.machine, self.mode, self.profile
        );
        out.push_str("| measure | composition | figure | p50 | p99 | max | ceiling (same run) | ratio | notes |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let figure = r
                .value
                .map_or_else(|| "–".to_owned(), |v| format!("{} {}", number(v), r.unit));
            let ceiling = match (&r.ceiling, r.ceiling_value) {
                (Some(name), Some(v)) => format!("{name} {}/s", number(v)),
                _ => "–".to_owned(),
            };
            let ratio = r
                .ratio
                .map_or_else(|| "–".to_owned(), |x| format!("{:.0} %", x * 100.0));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.measure,
                r.composition,
                figure,
                ms(r.p50_ms),
                ms(r.p99_ms),
                ms(r.max_ms),
                ceiling,
                ratio,
                r.notes
            );
        }
        if !self.failures.is_empty() {
            out.push_str("\nFailures:\n\n");
            for f in &self.failures {
                let _ = writeln!(out, "- {f}");
            }
        }
        out
    }

    /// Writes `report.md` and `report.json` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(dir.join("report.md"), self.markdown()).context("cannot write report.md")?;
        let json = serde_json::to_string_pretty(self).context("cannot render the report")?;
        std::fs::write(dir.join("report.json"), json).context("cannot write report.json")?;
        Ok(())
    }
}

/// "2 cores, <CPU model>, <memory>, <1-minute load average>".
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or_else(String::new, |kb| {
            format!(", {:.1} GB RAM", kb / 1024.0 / 1024.0)
        });
    // Other work on the machine takes its share of the cores: the load average says how much.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .map_or_else(String::new, |l| format!(", load average {l} at the start"));
    format!("{cores} cores, {model}{mem_gb}{load}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(number(69686.41), "69,686");
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(42.4), "42");
        assert_eq!(number(1.234), "1.23");
    }

    #[test]
    fn a_ratio_is_the_value_over_the_ceiling() {
        let row = Row::new("distributed", "x", Some(25.0), "req/s").against("y", 100.0);
        assert_eq!(row.ratio, Some(0.25));
        let md = Report {
            rows: vec![row],
            ..Report::new("smoke", "dev")
        }
        .markdown();
        assert!(md.contains("| 25 % |"), "{md}");
    }
}
