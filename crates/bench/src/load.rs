//! The two load shapes: a closed loop (N workers, each sends its next request when the last
//! answered: throughput) and an open loop (requests sent on a fixed schedule whatever the
//! answers: latency). The open loop measures each latency from the request's *scheduled* send
//! time, so a stalled server shows up in the figures instead of silently slowing the sender
//! (no coordinated omission).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::stats::Stats;

/// Runs `concurrency` workers for `duration`; each calls `send(i)` (`i` counts requests across
/// all workers) in a loop and records its answer (`Some(status)`, or `None` when no answer
/// came).
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, send: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u16>> + Send + 'static,
{
    let send = Arc::new(send);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let send = Arc::clone(&send);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut stats = Stats::default();
                while Instant::now() < deadline {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    let status = send(i).await;
                    stats.count(status, sent.elapsed());
                }
                stats
            })
        })
        .collect();
    let mut total = Stats::default();
    for worker in workers {
        if let Ok(stats) = worker.await {
            total.merge(&stats);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// What an open loop ran.
#[derive(Debug)]
pub struct OpenLoop {
    /// The answers, latencies measured from each request's scheduled time.
    pub stats: Stats,
    /// Wall-clock time of request 0's schedule; request `i` was due `i / rate` seconds later.
    pub started_at: SystemTime,
    /// Requests per second asked for.
    pub rate: f64,
}

impl OpenLoop {
    /// The wall-clock time request `i` was scheduled for.
    pub fn scheduled_at(&self, i: u64) -> SystemTime {
        self.started_at + Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// Sends `send(i)` at `rate` per second for `duration`, each on its own task, whatever the
/// answers. Beyond `max_in_flight` unanswered requests a due send is skipped and counted as
/// such (a failure), so an unresponsive server cannot make the generator pile up unbounded.
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    send: F,
) -> OpenLoop
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u16>> + Send + 'static,
{
    let send = Arc::new(send);
    let stats = Arc::new(Mutex::new(Stats::default()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let started_at = SystemTime::now();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            if let Ok(mut s) = stats.lock() {
                s.skipped += 1;
            }
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (send, stats, in_flight) = (
            Arc::clone(&send),
            Arc::clone(&stats),
            Arc::clone(&in_flight),
        );
        tasks.push(tokio::spawn(async move {
            let status = send(i).await;
            let latency = due.elapsed();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            if let Ok(mut s) = stats.lock() {
                s.count(status, latency);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut stats = stats.lock().map(|s| s.clone()).unwrap_or_default();
    stats.elapsed = started.elapsed();
    OpenLoop {
        stats,
        started_at,
        rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_loop_counts_every_answer() {
        let stats = closed_loop(4, Duration::from_millis(50), |i| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Some(if i % 2 == 0 { 200 } else { 503 })
        })
        .await;
        assert!(stats.ok > 0);
        assert!(stats.server_errors > 0);
        assert_eq!(stats.latency.len(), stats.ok + stats.server_errors);
    }

    #[tokio::test]
    async fn open_loop_measures_from_the_schedule() {
        // Each request takes 30 ms, but at most one may be in flight: later ones are skipped,
        // never delayed, and the latencies count from the scheduled times.
        let run = open_loop(100.0, Duration::from_millis(100), 1, |_| async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Some(201)
        })
        .await;
        assert_eq!(run.stats.ok + run.stats.skipped, 10);
        assert!(run.stats.skipped > 0);
        assert!(run.scheduled_at(10) > run.started_at);
    }
}
