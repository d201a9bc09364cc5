//! The inventory use cases driven by order events: reserve an order's stock all-or-nothing,
//! release it when the order is cancelled, consume it when the order ships. Each applies
//! exactly once per message (inbox) and evicts what it changed from the cache after commit.

use std::collections::{BTreeMap, HashMap};

use tracing::{info, warn};

use super::events::{qty_confirmed, qty_failed};
use super::messages::CONSUMER;
use super::ports::{ProductStore, ReservationStatus};
use super::service::ProductService;
use crate::cache::Cache;
use crate::events::{Envelope, OrderCancelledV1, OrderCreatedV1, OrderShippedV1};
use crate::messaging::HandleOutcome;
use crate::metrics;
use crate::store::StoreError;
use crate::trace::TraceContext;
use domain::{
    MessageId, OrderId, ProductId, Quantity, RejectionReason, ReservationLine, plan_reservation,
};

/// One `order.created` to reserve: its message, its order and its lines, in ascending product
/// id order.
#[derive(Debug, Clone)]
pub(super) struct ReservationRequest {
    message_id: MessageId,
    order_id: OrderId,
    lines: Vec<ReservationLine>,
    /// The consumer span's context: the answer continues the order's trace.
    trace: Option<TraceContext>,
}

impl ReservationRequest {
    /// Reads the request out of an `order.created`; a message no reservation can come from
    /// (no items, an impossible quantity) is dead-lettered.
    pub(super) fn parse(
        envelope: &Envelope<OrderCreatedV1>,
        trace: Option<TraceContext>,
    ) -> Result<Self, HandleOutcome> {
        let order_id = envelope.data.order_id;
        let mut lines = Vec::with_capacity(envelope.data.items.len());
        for item in &envelope.data.items {
            match Quantity::new(i64::from(item.quantity)) {
                Ok(quantity) => lines.push(ReservationLine {
                    product_id: item.product_id,
                    quantity,
                }),
                Err(e) => return Err(HandleOutcome::DeadLetter(format!("order {order_id}: {e}"))),
            }
        }
        if lines.is_empty() {
            return Err(HandleOutcome::DeadLetter(format!(
                "order {order_id} has no items"
            )));
        }
        // Ascending product id: every reservation takes its row locks in the same order.
        lines.sort_by_key(|l| l.product_id);
        Ok(Self {
            message_id: envelope.id,
            order_id,
            lines,
            trace,
        })
    }
}

impl<S: ProductStore, K: Cache> ProductService<S, K> {
    /// Reserves the lines of each order all-or-nothing, exactly once per message, and answers
    /// each with `order.qty_confirmed` or `order.qty_failed` through the outbox; all in one
    /// transaction. Should that fail, the orders are reserved again one by one, so that only
    /// the one at fault is retried.
    pub(super) async fn reserve(&self, requests: &[ReservationRequest]) -> Vec<HandleOutcome> {
        if let [request] = requests {
            return vec![self.reserve_one(request).await];
        }
        match self.try_reserve(requests).await {
            Ok(touched) => {
                self.cache.evict(&touched).await;
                vec![HandleOutcome::Ack; requests.len()]
            }
            Err(e) => {
                warn!(
                    orders = requests.len(),
                    error = %format!("{:#}", anyhow::Error::from(e)),
                    "reserving the batch failed; reserving its orders one by one"
                );
                let mut outcomes = Vec::with_capacity(requests.len());
                for request in requests {
                    outcomes.push(self.reserve_one(request).await);
                }
                outcomes
            }
        }
    }

    #[tracing::instrument(skip_all, fields(message_id = %request.message_id, order_id = %request.order_id))]
    async fn reserve_one(&self, request: &ReservationRequest) -> HandleOutcome {
        let result = self.try_reserve(std::slice::from_ref(request)).await;
        self.settle(result).await
    }

    /// Evicts what a committed handler changed, or says what to do with the message.
    async fn settle(&self, result: Result<Vec<ProductId>, StoreError>) -> HandleOutcome {
        match result {
            Ok(touched) => {
                self.cache.evict(&touched).await;
                HandleOutcome::Ack
            }
            Err(e) => HandleOutcome::after(e),
        }
    }

    /// One transaction for every request: their inbox rows, their tombstones, then the rows
    /// of every product involved locked at once in ascending id order (so that concurrent
    /// batches never wait on each other in a cycle), then each order planned against the
    /// levels the earlier ones left. While the products are locked, each product's stock
    /// changes once for the whole batch and the reservations and answers are written a table
    /// at a time, so that a hot product is held for a few statements whatever the batch size.
    /// Returns the products whose stock changed.
    async fn try_reserve(
        &self,
        requests: &[ReservationRequest],
    ) -> Result<Vec<ProductId>, StoreError> {
        let mut tx = self.store.begin().await?;
        let message_ids: Vec<MessageId> = requests.iter().map(|r| r.message_id).collect();
        let fresh = tx.record_inbox_all(CONSUMER, &message_ids).await?;
        let mut live: Vec<&ReservationRequest> = Vec::with_capacity(requests.len());
        for (request, fresh) in requests.iter().zip(fresh) {
            if fresh {
                live.push(request);
            } else {
                info!(order_id = %request.order_id, "message already applied; skipping");
            }
        }
        let orders: Vec<OrderId> = live.iter().map(|r| r.order_id).collect();
        let tombstoned = tx.tombstoned(&orders).await?;
        live.retain(|request| {
            let cancelled = tombstoned.contains(&request.order_id);
            if cancelled {
                // Cancelled before it reached the inventory: the order side knows, nothing to
                // say.
                info!(order_id = %request.order_id, "order cancelled before its reservation; reserving nothing");
            }
            !cancelled
        });
        let mut ids: Vec<ProductId> = live
            .iter()
            .flat_map(|r| r.lines.iter().map(|l| l.product_id))
            .collect();
        ids.sort();
        ids.dedup();
        let mut levels = if ids.is_empty() {
            HashMap::new()
        } else {
            tx.lock_stock(&ids).await?
        };
        let now = self.clock.now();
        let mut taken: BTreeMap<ProductId, u32> = BTreeMap::new();
        let mut reserved = Vec::new();
        let mut answers = Vec::with_capacity(live.len());
        let mut outcomes = Vec::with_capacity(live.len());
        for request in live {
            let order_id = request.order_id;
            match plan_reservation(&request.lines, &levels) {
                Ok(after) => {
                    for line in &request.lines {
                        *taken.entry(line.product_id).or_default() += line.quantity.get();
                        reserved.push((order_id, *line));
                    }
                    levels.extend(after);
                    answers.push(qty_confirmed(order_id, now).caused_by(request.trace.clone()));
                    outcomes.push(None);
                    info!(%order_id, lines = request.lines.len(), "stock reserved");
                }
                Err(shortages) => {
                    let reason = if shortages.iter().any(|s| !s.known) {
                        RejectionReason::UnknownProduct
                    } else {
                        RejectionReason::InsufficientStock
                    };
                    answers.push(
                        qty_failed(order_id, reason, &shortages, now)
                            .caused_by(request.trace.clone()),
                    );
                    outcomes.push(Some(reason));
                    info!(%order_id, %reason, shortages = shortages.len(), "reservation refused");
                }
            }
        }
        let taken: Vec<(ProductId, u32)> = taken.into_iter().collect();
        if !taken.is_empty() && tx.decrement_stock_all(&taken).await? != taken.len() {
            // The rows are locked, so this means the adapter broke its contract.
            return Err(StoreError::Unknown(anyhow::anyhow!(
                "the stock of a locked product changed under its lock"
            )));
        }
        if !reserved.is_empty() {
            tx.insert_reservations(&reserved).await?;
        }
        for answer in &answers {
            tx.enqueue(answer).await?;
        }
        tx.commit().await?;
        for refusal in outcomes {
            match refusal {
                Some(reason) => metrics::count_rejection(metrics::RESERVATIONS_REFUSED, reason),
                None => metrics::count(metrics::RESERVATIONS_APPLIED, 1),
            }
        }
        Ok(taken.into_iter().map(|(id, _)| id).collect())
    }

    /// Releases an order's reservations once (`order.cancelled`), or leaves a tombstone when
    /// it never had any, so that a late `order.created` reserves nothing.
    #[tracing::instrument(skip_all, fields(message_id = %envelope.id, order_id = %envelope.data.order_id))]
    pub(super) async fn release(&self, envelope: Envelope<OrderCancelledV1>) -> HandleOutcome {
        let result = self.try_release(envelope.id, envelope.data.order_id).await;
        self.settle(result).await
    }

    async fn try_release(
        &self,
        message_id: MessageId,
        order_id: OrderId,
    ) -> Result<Vec<ProductId>, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(Vec::new());
        }
        let reservations = tx.reservations_of(order_id).await?;
        let touched = if reservations.is_empty() {
            tx.insert_tombstone(order_id, self.clock.now()).await?;
            info!("nothing reserved yet; tombstone left for a late order.created");
            Vec::new()
        } else if reservations
            .iter()
            .any(|r| r.status == ReservationStatus::Active)
        {
            let released = tx.release_reservations(order_id).await?;
            info!(lines = released.len(), "reservations released");
            released.into_iter().map(|l| l.product_id).collect()
        } else {
            info!("reservations already released or consumed; nothing to release");
            Vec::new()
        };
        tx.commit().await?;
        if !touched.is_empty() {
            metrics::count(metrics::RESERVATIONS_RELEASED, 1);
        }
        Ok(touched)
    }

    /// Consumes an order's reservations (`order.shipped`): the units are gone for good, and a
    /// later cancellation releases nothing. The stock does not change.
    #[tracing::instrument(skip_all, fields(message_id = %envelope.id, order_id = %envelope.data.order_id))]
    pub(super) async fn consume(&self, envelope: Envelope<OrderShippedV1>) -> HandleOutcome {
        let result = self.try_consume(envelope.id, envelope.data.order_id).await;
        self.settle(result).await
    }

    async fn try_consume(
        &self,
        message_id: MessageId,
        order_id: OrderId,
    ) -> Result<Vec<ProductId>, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(Vec::new());
        }
        let consumed = tx.consume_reservations(order_id).await?;
        if consumed == 0 {
            warn!("a shipped order had no active reservation; nothing consumed");
        } else {
            info!(lines = consumed, "reservations consumed");
        }
        tx.commit().await?;
        Ok(Vec::new())
    }
}
