//! Prometheus metrics: the catalogue (every name described with its unit), the process's
//! recorder, and what the adapters record (HTTP, consumers, outbox, cache, breaker, pool).
//!
//! The `metrics` facade is the seam: adapters and the use cases ([`ports::metrics`]) record
//! through it; [`install`] puts the Prometheus recorder behind it once per process, and the
//! `/metrics` endpoint renders it in the Prometheus text format. Counters end in `_total`,
//! durations are histograms in seconds; gauges that describe stored state (outbox backlog,
//! dead letters, pool) are read when scraped.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use ports::messaging::HandleOutcome;
use ports::metrics as facts;

/// Every HTTP request, by `method`, `route` (the matched pattern) and `status`.
pub const HTTP_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Unpublished outbox rows.
pub const OUTBOX_BACKLOG: &str = "outbox_backlog_messages";
/// Age of the oldest unpublished outbox row.
pub const OUTBOX_OLDEST_AGE: &str = "outbox_oldest_unpublished_age_seconds";
/// Messages the broker confirmed.
pub const OUTBOX_PUBLISHED: &str = facts::OUTBOX_PUBLISHED;
/// Handler time of a delivery (of its batch), by `queue`.
pub const CONSUMER_HANDLING: &str = "consumer_handling_duration_seconds";
/// Deliveries settled, by `queue` and `outcome` (`ack`, `retry`, `dead_letter`).
pub const CONSUMER_MESSAGES: &str = "consumer_messages_total";
/// Deliveries that had been delivered or retried before, by `queue`.
pub const CONSUMER_REDELIVERIES: &str = "consumer_redeliveries_total";
/// Deliveries sent to the dead-letter queue, by `queue`.
pub const CONSUMER_DEAD_LETTERED: &str = "consumer_dead_lettered_total";
/// From an event's `occurred_at` to its handling, by `queue`: the consumer's lag.
pub const CONSUMER_MESSAGE_AGE: &str = "consumer_message_age_seconds";
/// Messages ready in the service's work queue, by `queue`.
pub const QUEUE_READY: &str = "queue_ready_messages";
/// Messages waiting in the service's dead-letter queue, by `queue`.
pub const DEAD_LETTER_QUEUE: &str = "dead_letter_queue_messages";
/// Product cache lookups, by `cache` and `result` (`hit`, `miss`, `bypass`).
pub const CACHE_REQUESTS: &str = facts::CACHE_REQUESTS;
/// A circuit breaker's state, by `breaker`: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "circuit_breaker_state";
/// Database pool connections, by `state` (`in_use`, `idle`).
pub const POOL_CONNECTIONS: &str = "db_pool_connections";
/// Database pool size.
pub const POOL_MAX: &str = "db_pool_max_connections";
/// Database operations (a request's, a consumer's, the relay's) that found no pooled
/// connection free in time; a request answers them 503.
pub const POOL_ACQUIRE_TIMEOUTS: &str = "db_pool_acquire_timeouts_total";
/// Requests answered from a stored `Idempotency-Key` reply.
pub const IDEMPOTENCY_REPLAYS: &str = "idempotency_replays_total";
/// Pending orders older than the confirmation deadline.
pub const ORDERS_PENDING_PAST_DEADLINE: &str = "orders_pending_past_deadline";

/// Something `/metrics` reads before it renders: gauges of stored or remote state (the
/// outbox, the queues, the pool), read when scraped rather than kept up to date.
#[async_trait::async_trait]
pub trait Sampler: Send + Sync + 'static {
    /// Sets its gauges; a failure leaves them at their last values.
    async fn sample(&self);
}

/// Latency buckets (seconds): 1 ms to 10 s, dense where a healthy request or message lands.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Longer buckets for the time an order waits for its confirmation (up to its deadline).
const CONFIRMATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder behind the `metrics` facade (once per process: later calls
/// return the same handle) and describes every metric. `None` when another recorder was
/// installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(facts::ORDER_CONFIRMATION_SECONDS.to_owned()),
                        CONFIRMATION_BUCKETS,
                    )
                })
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // Histogram samples wait in the recorder until rendered or drained: drain them
            // even when nothing scrapes.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .clone()
}

fn describe() {
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP requests served, by method, matched route and status code"
    );
    describe_counter!(facts::ORDERS_PLACED, Unit::Count, "Orders accepted");
    describe_counter!(
        facts::ORDERS_CONFIRMED,
        Unit::Count,
        "Orders the inventory confirmed"
    );
    describe_counter!(
        facts::ORDERS_REJECTED,
        Unit::Count,
        "Orders rejected, by reason"
    );
    describe_counter!(facts::ORDERS_CANCELLED, Unit::Count, "Orders cancelled");
    describe_counter!(
        facts::ORDERS_SHIPPED,
        Unit::Count,
        "Orders handed to a carrier"
    );
    describe_counter!(facts::ORDERS_DELIVERED, Unit::Count, "Orders delivered");
    describe_histogram!(
        facts::ORDER_CONFIRMATION_SECONDS,
        Unit::Seconds,
        "Time from an order's placement to its confirmation"
    );
    describe_counter!(
        facts::RESERVATIONS_APPLIED,
        Unit::Count,
        "Orders whose stock the inventory reserved"
    );
    describe_counter!(
        facts::RESERVATIONS_REFUSED,
        Unit::Count,
        "Orders the inventory refused (nothing reserved), by reason"
    );
    describe_counter!(
        facts::RESERVATIONS_RELEASED,
        Unit::Count,
        "Orders whose reservations were released"
    );
    describe_gauge!(OUTBOX_BACKLOG, Unit::Count, "Unpublished outbox rows");
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest unpublished outbox row (0 when none)"
    );
    describe_counter!(
        OUTBOX_PUBLISHED,
        Unit::Count,
        "Messages the broker confirmed"
    );
    describe_histogram!(
        CONSUMER_HANDLING,
        Unit::Seconds,
        "Time the handler took for a delivery (its batch), by queue"
    );
    describe_counter!(
        CONSUMER_MESSAGES,
        Unit::Count,
        "Deliveries settled, by queue and outcome (ack, retry, dead_letter)"
    );
    describe_counter!(
        CONSUMER_REDELIVERIES,
        Unit::Count,
        "Deliveries that had been delivered or retried before, by queue"
    );
    describe_counter!(
        CONSUMER_DEAD_LETTERED,
        Unit::Count,
        "Deliveries sent to the dead-letter queue, by queue"
    );
    describe_histogram!(
        CONSUMER_MESSAGE_AGE,
        Unit::Seconds,
        "Time from an event's occurrence to its handling, by queue"
    );
    describe_gauge!(QUEUE_READY, Unit::Count, "Messages ready in the work queue");
    describe_gauge!(
        DEAD_LETTER_QUEUE,
        Unit::Count,
        "Messages waiting in the dead-letter queue"
    );
    describe_counter!(
        CACHE_REQUESTS,
        Unit::Count,
        "Product cache lookups, by cache and result (hit, miss, bypass)"
    );
    describe_gauge!(
        BREAKER_STATE,
        Unit::Count,
        "Circuit breaker state, by breaker: 0 closed, 1 half-open, 2 open"
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        Unit::Count,
        "Database pool connections, by state (in_use, idle)"
    );
    describe_gauge!(POOL_MAX, Unit::Count, "Database pool size");
    describe_counter!(
        POOL_ACQUIRE_TIMEOUTS,
        Unit::Count,
        "Database operations that found no pooled connection free in time"
    );
    describe_counter!(
        IDEMPOTENCY_REPLAYS,
        Unit::Count,
        "Requests answered from a stored Idempotency-Key reply"
    );
    describe_gauge!(
        ORDERS_PENDING_PAST_DEADLINE,
        Unit::Count,
        "Pending orders older than the confirmation deadline"
    );
}

/// Records one HTTP request.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    metrics::histogram!(
        HTTP_REQUEST_DURATION,
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string(),
    )
    .record(elapsed.as_secs_f64());
}

/// Records a delivery settled as `outcome` after `handling` in the handler.
pub fn consumed(queue: &str, redelivered: bool, outcome: &HandleOutcome, handling: Duration) {
    let outcome = match outcome {
        HandleOutcome::Ack => "ack",
        HandleOutcome::Retry(_) => "retry",
        HandleOutcome::DeadLetter(_) => "dead_letter",
    };
    let queue = queue.to_owned();
    metrics::histogram!(CONSUMER_HANDLING, "queue" => queue.clone()).record(handling.as_secs_f64());
    metrics::counter!(CONSUMER_MESSAGES, "queue" => queue.clone(), "outcome" => outcome)
        .increment(1);
    if redelivered {
        metrics::counter!(CONSUMER_REDELIVERIES, "queue" => queue.clone()).increment(1);
    }
    if outcome == "dead_letter" {
        metrics::counter!(CONSUMER_DEAD_LETTERED, "queue" => queue).increment(1);
    }
}

/// Records a delivery sent to the dead-letter queue after its retries ran out.
pub fn retries_exhausted(queue: &str) {
    metrics::counter!(CONSUMER_DEAD_LETTERED, "queue" => queue.to_owned()).increment(1);
}

/// Records how old the event in `body` (an envelope with `occurred_at`) was when handled.
pub fn message_age(queue: &str, body: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Occurred {
        occurred_at: chrono::DateTime<chrono::Utc>,
    }
    if let Ok(event) = serde_json::from_slice::<Occurred>(body) {
        let age = (chrono::Utc::now() - event.occurred_at).num_microseconds();
        let seconds = age.unwrap_or(0).max(0) as f64 / 1e6;
        metrics::histogram!(CONSUMER_MESSAGE_AGE, "queue" => queue.to_owned()).record(seconds);
    }
}

/// Sets the outbox gauges of `service`.
pub fn outbox_backlog(service: &'static str, pending: u64, oldest_age: Option<Duration>) {
    metrics::gauge!(OUTBOX_BACKLOG, "service" => service).set(pending as f64);
    metrics::gauge!(OUTBOX_OLDEST_AGE, "service" => service)
        .set(oldest_age.map_or(0.0, |age| age.as_secs_f64()));
}

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed = 0,
    /// A trial call goes through.
    HalfOpen = 1,
    /// Calls are refused.
    Open = 2,
}

/// Sets a breaker's state gauge.
pub fn breaker(breaker: &'static str, state: BreakerState) {
    metrics::gauge!(BREAKER_STATE, "breaker" => breaker).set(f64::from(state as u8));
}

/// Sets the gauges of `pool` (`order`, `product`, `order-readers`...).
pub fn pool(pool: &'static str, in_use: u32, idle: u32, max: u32) {
    metrics::gauge!(POOL_CONNECTIONS, "pool" => pool, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(POOL_CONNECTIONS, "pool" => pool, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(POOL_MAX, "pool" => pool).set(f64::from(max));
}

/// Records a database operation that found no pooled connection free in time.
pub fn pool_acquire_timeout() {
    metrics::counter!(POOL_ACQUIRE_TIMEOUTS).increment(1);
}

/// Records a request answered from a stored idempotent reply.
pub fn idempotency_replay() {
    metrics::counter!(IDEMPOTENCY_REPLAYS).increment(1);
}

/// Sets a queue's gauges (`queue_ready_messages`, `dead_letter_queue_messages`).
pub fn queue_depths(queue: &str, ready: Option<u32>, dead_letters: Option<u32>) {
    if let Some(ready) = ready {
        metrics::gauge!(QUEUE_READY, "queue" => queue.to_owned()).set(f64::from(ready));
    }
    if let Some(dead) = dead_letters {
        metrics::gauge!(DEAD_LETTER_QUEUE, "queue" => queue.to_owned()).set(f64::from(dead));
    }
}

/// Sets the count of pending orders past their deadline.
pub fn pending_past_deadline(count: u64) {
    metrics::gauge!(ORDERS_PENDING_PAST_DEADLINE).set(count as f64);
}

/// A circuit breaker's transitions, as its gauge (a `failsafe` instrument).
#[derive(Debug, Clone, Copy)]
pub struct BreakerGauge(pub &'static str);

impl BreakerGauge {
    /// The gauge of `name`, set to closed (a new breaker is closed).
    pub fn closed(name: &'static str) -> Self {
        breaker(name, BreakerState::Closed);
        Self(name)
    }
}

#[cfg(any(feature = "redis", feature = "http-client"))]
impl failsafe::Instrument for BreakerGauge {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        breaker(self.0, BreakerState::Open);
    }

    fn on_half_open(&self) {
        breaker(self.0, BreakerState::HalfOpen);
    }

    fn on_closed(&self) {
        breaker(self.0, BreakerState::Closed);
    }
}
