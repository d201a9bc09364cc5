//! The business facts the use cases count, through the `metrics` facade: whatever recorder
//! the composition installed (Prometheus in the services) receives them; with none they cost
//! nothing. Each is counted once its transaction committed.
//!
//! The names are the catalogue's (`adapters::observe` describes every metric, these included).

use domain::RejectionReason;

/// Orders accepted (`201`).
pub const ORDERS_PLACED: &str = "orders_placed_total";
/// Orders the inventory confirmed.
pub const ORDERS_CONFIRMED: &str = "orders_confirmed_total";
/// Orders rejected, by `reason`.
pub const ORDERS_REJECTED: &str = "orders_rejected_total";
/// Orders cancelled.
pub const ORDERS_CANCELLED: &str = "orders_cancelled_total";
/// Orders handed to a carrier.
pub const ORDERS_SHIPPED: &str = "orders_shipped_total";
/// Orders delivered.
pub const ORDERS_DELIVERED: &str = "orders_delivered_total";
/// Seconds from an order's placement to its confirmation.
pub const ORDER_CONFIRMATION_SECONDS: &str = "order_confirmation_seconds";
/// Orders whose stock the inventory reserved.
pub const RESERVATIONS_APPLIED: &str = "reservations_applied_total";
/// Orders the inventory refused, by `reason` (nothing reserved).
pub const RESERVATIONS_REFUSED: &str = "reservations_refused_total";
/// Orders whose reservations were released (cancelled).
pub const RESERVATIONS_RELEASED: &str = "reservations_released_total";

/// Messages the broker confirmed (the relay).
pub const OUTBOX_PUBLISHED: &str = "outbox_published_total";
/// Product cache lookups, by `cache` and `result` (`hit`, `miss`, `bypass`).
pub const CACHE_REQUESTS: &str = "cache_requests_total";

/// Counts product cache lookups of one `result` (`hit`, `miss`, `bypass`) in `cache`.
pub fn cache_lookups(cache: &'static str, result: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(CACHE_REQUESTS, "cache" => cache, "result" => result).increment(n as u64);
    }
}

/// Counts `n` of a fact without labels.
pub fn count(name: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(name).increment(n);
    }
}

/// Counts an order rejection or a refused reservation under its reason.
pub fn count_rejection(name: &'static str, reason: RejectionReason) {
    metrics::counter!(name, "reason" => reason.as_str()).increment(1);
}

/// Records how long an order waited for its confirmation.
pub fn confirmation_latency(seconds: f64) {
    metrics::histogram!(ORDER_CONFIRMATION_SECONDS).record(seconds.max(0.0));
}
