//! The stuck-order sweeper: orders still `pending` past their deadline get their
//! `order.created` again, a bounded number of times, and are then rejected with reason
//! `timeout` (which emits `order.cancelled`, so that a late reservation is released).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use domain::{OrderId, OrderStatus, RejectionReason};

use super::events::{SWEEPER, order_created_again, record};
use super::ports::{OrderStore, ProductCatalog};
use super::service::OrderService;
use crate::store::StoreError;

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Orders whose `order.created` went out again.
    pub reemitted: Vec<OrderId>,
    /// Orders rejected with reason `timeout` (and `order.cancelled` emitted).
    pub timed_out: Vec<OrderId>,
}

/// When and how hard the sweeper nudges stuck orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweeperOptions {
    /// Pause between sweeps.
    pub interval: Duration,
    /// How long an order may stay `pending` before (each) re-emission.
    pub pending_deadline: Duration,
    /// Re-emissions before the order is rejected with reason `timeout`.
    pub max_reemits: u32,
}

impl<S: OrderStore, C: ProductCatalog> OrderService<S, C> {
    /// How many orders are `pending` longer than `deadline` (what the sweeper acts on): an
    /// operator's signal that confirmations are not coming back.
    pub async fn pending_past(&self, deadline: Duration) -> Result<u64, StoreError> {
        let deadline = chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::MAX);
        self.store
            .count_pending_before(self.clock.now() - deadline)
            .await
    }

    /// Finds orders `pending` past `deadline` and nudges them: `order.created` goes out again
    /// (the same message) up to `max_reemits` times, one more `deadline` apart; after that the
    /// order is rejected with reason `timeout` and `order.cancelled` is emitted, so that a late
    /// reservation is released.
    #[tracing::instrument(skip_all)]
    pub async fn sweep_stuck_orders(
        &self,
        deadline: Duration,
        max_reemits: u32,
    ) -> Result<SweepReport, StoreError> {
        let deadline = chrono::Duration::from_std(deadline).unwrap_or(chrono::Duration::MAX);
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for (id, reemits) in self.store.stuck_pending(now - deadline, 100).await? {
            // Each re-emission gets a full deadline of its own before the next step.
            let due = now - deadline * (reemits.saturating_add(1) as i32);
            let mut tx = self.store.begin().await?;
            let Some(mut order) = tx.load_for_update(id, None).await? else {
                continue;
            };
            if order.status() != OrderStatus::Pending || order.created_at() > due {
                continue;
            }
            if reemits < max_reemits {
                tx.reemit(id, &order_created_again(&order)).await?;
                tx.commit().await?;
                warn!(order_id = %id, attempt = reemits + 1, "order still pending; order.created re-emitted");
                report.reemitted.push(id);
            } else {
                let before = order.version();
                order
                    .reject(RejectionReason::Timeout, now)
                    .map_err(|e| StoreError::Unknown(anyhow::anyhow!(e)))?;
                if !tx.update(&order, before).await? {
                    continue;
                }
                record(tx.as_mut(), &mut order, SWEEPER).await?;
                tx.commit().await?;
                crate::metrics::count_rejection(
                    crate::metrics::ORDERS_REJECTED,
                    RejectionReason::Timeout,
                );
                warn!(order_id = %id, "order rejected: the inventory did not answer in time");
                report.timed_out.push(id);
            }
        }
        Ok(report)
    }

    /// Sweeps every `options.interval` until `shutdown`; a failed sweep is logged and the next
    /// one tries again.
    pub async fn run_sweeper(&self, options: SweeperOptions, shutdown: CancellationToken) {
        let every = options.interval.max(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self
                .sweep_stuck_orders(options.pending_deadline, options.max_reemits)
                .await
            {
                warn!(error = %format!("{:#}", anyhow::Error::from(e)), "stuck-order sweep failed");
            }
        }
    }
}
