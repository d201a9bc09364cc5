//! What one load step measured: answers by class and an HDR histogram of latencies.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to this bound (longer ones are clamped).
const MAX_MICROS: u64 = 3_600_000_000;

/// The figures of one load step.
#[derive(Debug, Clone)]
pub struct Stats {
    /// `2xx` answers.
    pub ok: u64,
    /// `4xx` answers.
    pub client_errors: u64,
    /// `5xx` answers.
    pub server_errors: u64,
    /// Connection errors and timeouts.
    pub transport_errors: u64,
    /// Open loop only: sends skipped because too many requests were still in flight.
    pub skipped: u64,
    /// Wall time of the step.
    pub elapsed: Duration,
    /// Latency of every answer (any status), in microseconds.
    pub latency: Histogram<u64>,
}

/// An empty histogram with three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Records `latency` into `hist`, clamped to the histogram's range.
pub fn record(hist: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS);
    hist.saturating_record(micros);
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            ok: 0,
            client_errors: 0,
            server_errors: 0,
            transport_errors: 0,
            skipped: 0,
            elapsed: Duration::ZERO,
            latency: histogram(),
        }
    }
}

impl Stats {
    /// Counts one answer (`None`: no answer at all) that took `latency`.
    pub fn count(&mut self, status: Option<u16>, latency: Duration) {
        match status {
            Some(200..=299) => self.ok += 1,
            Some(500..=599) => self.server_errors += 1,
            Some(_) => self.client_errors += 1,
            None => self.transport_errors += 1,
        }
        record(&mut self.latency, latency);
    }

    /// Adds another worker's figures (the elapsed time is the step's, set by the caller).
    pub fn merge(&mut self, other: &Stats) {
        self.ok += other.ok;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.transport_errors += other.transport_errors;
        self.skipped += other.skipped;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    /// Successful answers per second.
    pub fn rate(&self) -> f64 {
        per_second(self.ok, self.elapsed)
    }

    /// Every request that did not end in a `2xx`.
    pub fn failures(&self) -> u64 {
        self.client_errors + self.server_errors + self.transport_errors + self.skipped
    }
}

/// `count / elapsed`, 0 for an empty interval.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// The latency at `quantile` (0..=1) of `hist`, in milliseconds; `None` when empty.
pub fn quantile_ms(hist: &Histogram<u64>, quantile: f64) -> Option<f64> {
    (!hist.is_empty()).then(|| hist.value_at_quantile(quantile) as f64 / 1000.0)
}

/// The largest latency of `hist`, in milliseconds; `None` when empty.
pub fn max_ms(hist: &Histogram<u64>) -> Option<f64> {
    (!hist.is_empty()).then(|| hist.max() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_class() {
        let mut s = Stats::default();
        s.count(Some(200), Duration::from_millis(1));
        s.count(Some(201), Duration::from_millis(2));
        s.count(Some(404), Duration::from_millis(3));
        s.count(Some(503), Duration::from_millis(4));
        s.count(None, Duration::from_millis(5));
        assert_eq!(
            (s.ok, s.client_errors, s.server_errors, s.transport_errors),
            (2, 1, 1, 1)
        );
        assert_eq!(s.failures(), 3);
        assert_eq!(s.latency.len(), 5);
    }

    #[test]
    fn quantiles_are_in_milliseconds() {
        let mut h = histogram();
        for ms in 1..=100 {
            record(&mut h, Duration::from_millis(ms));
        }
        let p50 = quantile_ms(&h, 0.5).unwrap_or_default();
        assert!((49.0..=51.0).contains(&p50), "{p50}");
        assert!(max_ms(&histogram()).is_none());
    }

    #[test]
    fn rate_of_an_empty_interval_is_zero() {
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(per_second(10, Duration::from_secs(2)), 5.0);
    }
}
