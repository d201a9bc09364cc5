//! New orders, and the group commit that writes concurrent placements together.
//!
//! Each placement queues its order; when fewer than [`WRITERS`] writers are running, the
//! placement starts one (a task of its own, so that a cancelled request abandons no other).
//! A writer takes what is queued (up to [`MAX_ORDERS`] orders and [`MAX_ITEMS`] items),
//! writes it in one transaction (one multi-row `INSERT` per table) and answers each
//! placement, until the queue is empty. Under load the queue fills while transactions run, so
//! the next ones carry more orders: a busy store commits once per group instead of once per
//! order, and an idle one writes each order at once. Several writers keep the database's own
//! group commit busy: with one, every placement would wait for each flush in turn. Should a
//! group fail, its orders are written again one by one, so that each placement gets its own
//! answer (a duplicate id fails only its own).
//! A placement that waits in the queue longer than the pool's acquire timeout is withdrawn
//! and refused, as it would have been refused a connection of its own.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, SqlErr};
use tokio::sync::oneshot;

use super::super::entities::{order_items, order_status_history, orders};
use super::super::{OutboxSignal, SqlTx, store_err, to_naive};
use super::reads::address_json;
use domain::Order;
use ports::ordering::{HistoryEntry, NewOrder};
use ports::{Clock, StoreError};

/// Most writers at once, each with a group transaction of its own: enough for the database to
/// flush one group's commit while the next ones are written (its own group commit), few
/// enough to keep groups large under load.
const WRITERS: usize = 4;
/// Most orders in one group transaction.
const MAX_ORDERS: usize = 64;
/// Most order items in one group transaction (keeps each `INSERT` well under the databases'
/// limits on bound parameters).
const MAX_ITEMS: usize = 1_000;

/// Inserts orders and their items: one statement for the orders, one for the items.
/// [`StoreError::Duplicate`] when an order's id exists.
pub(super) async fn insert_orders<C: ConnectionTrait>(
    conn: &C,
    orders: &[&Order],
) -> Result<(), StoreError> {
    if orders.is_empty() {
        return Ok(());
    }
    let rows = orders.iter().map(|order| orders::ActiveModel {
        id: Set(order.id().as_uuid()),
        customer_id: Set(order.customer_id().map(|c| c.as_str().to_owned())),
        status: Set(order.status().as_str().to_owned()),
        rejection_reason: Set(order.rejection_reason().map(|r| r.as_str().to_owned())),
        currency: Set(order.currency().code().to_owned()),
        total_minor: Set(order.total().minor()),
        version: Set(i64::from(order.version())),
        created_at: Set(to_naive(order.created_at())),
        updated_at: Set(to_naive(order.updated_at())),
        shipping_address: Set(order.details().shipping_address.as_ref().map(address_json)),
        note: Set(order.details().note.as_ref().map(|n| n.as_str().to_owned())),
        carrier: Set(order.shipment().map(|s| s.carrier().to_owned())),
        tracking_number: Set(order.shipment().map(|s| s.tracking_number().to_owned())),
        reemits: Set(0),
    });
    orders::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate,
            _ => store_err(e, "failed to insert the order"),
        })?;
    let items = orders.iter().flat_map(|order| {
        order
            .items()
            .iter()
            .enumerate()
            .map(|(position, item)| order_items::ActiveModel {
                order_id: Set(order.id().as_uuid()),
                product_id: Set(item.product_id().as_uuid()),
                position: Set(position as i32),
                product_name: Set(item.product_name().to_owned()),
                unit_price_minor: Set(item.unit_price().minor()),
                quantity: Set(item.quantity().get() as i32),
                line_total_minor: Set(item.line_total().minor()),
            })
    });
    order_items::Entity::insert_many(items)
        .exec_without_returning(conn)
        .await
        .map_err(|e| store_err(e, "failed to insert the order items"))?;
    Ok(())
}

/// A stored history row.
pub(super) fn history_row(entry: &HistoryEntry) -> order_status_history::ActiveModel {
    order_status_history::ActiveModel {
        order_id: Set(entry.order_id.as_uuid()),
        seq: Set(entry.seq as i32),
        from_status: Set(entry.from.map(|s| s.as_str().to_owned())),
        to_status: Set(entry.to.as_str().to_owned()),
        reason: Set(entry.reason.clone()),
        cause: Set(entry.cause.clone()),
        at: Set(to_naive(entry.at)),
    }
}

/// A queued placement and where its answer goes.
struct Job {
    /// Tells the job apart in the queue, to withdraw it.
    ticket: u64,
    order: NewOrder,
    answer: oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Writers running.
    writers: usize,
    next_ticket: u64,
}

/// The group commit of new orders (see the module documentation).
pub(super) struct Placements {
    db: DatabaseConnection,
    signal: OutboxSignal,
    clock: Arc<dyn Clock>,
    /// How long a placement may wait in the queue before it is refused as `Unavailable` (the
    /// pool's acquire timeout: what a placement waited at most for a connection of its own).
    max_wait: Duration,
    /// Where the writer runs: the runtime the store was made on (the service's own, not an
    /// HTTP worker's), when there is one.
    runtime: Option<tokio::runtime::Handle>,
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for Placements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placements").finish_non_exhaustive()
    }
}

impl Placements {
    pub(super) fn new(db: DatabaseConnection, signal: OutboxSignal, clock: Arc<dyn Clock>) -> Self {
        Self {
            max_wait: super::super::acquire_timeout(&db),
            runtime: tokio::runtime::Handle::try_current().ok(),
            db,
            signal,
            clock,
            queue: Mutex::new(Queue::default()),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while the lock was held cannot leave the queue half-changed: every change
        // is a single push or drain.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `order` and waits for its answer. A placement still queued after
    /// `max_wait` (the writer is stuck, or the database slower than the intake) is withdrawn
    /// and refused as `Unavailable`, so that an overloaded store sheds load instead of
    /// queueing without bound; one the writer has taken waits for its outcome.
    pub(super) async fn insert(self: &Arc<Self>, order: NewOrder) -> Result<(), StoreError> {
        let (answer, mut answered) = oneshot::channel();
        let (ticket, start) = {
            let mut queue = self.queue();
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.jobs.push(Job {
                ticket,
                order,
                answer,
            });
            let start = queue.writers < WRITERS;
            if start {
                queue.writers += 1;
            }
            (ticket, start)
        };
        if start {
            let writer = Arc::clone(self).write_all();
            match &self.runtime {
                Some(runtime) => drop(runtime.spawn(writer)),
                None => drop(tokio::spawn(writer)),
            }
        }
        let stopped = |_| {
            Err(StoreError::Unavailable(anyhow::anyhow!(
                "the order writer stopped before it answered"
            )))
        };
        match tokio::time::timeout(self.max_wait, &mut answered).await {
            Ok(answer) => answer.unwrap_or_else(stopped),
            Err(_) if self.withdraw(ticket) => Err(StoreError::Unavailable(anyhow::anyhow!(
                "the order writer is busy: no transaction within {:?}",
                self.max_wait
            ))),
            Err(_) => answered.await.unwrap_or_else(stopped),
        }
    }

    /// Takes the job of `ticket` out of the queue; `false` when the writer has it already.
    fn withdraw(&self, ticket: u64) -> bool {
        let mut queue = self.queue();
        let before = queue.jobs.len();
        queue.jobs.retain(|job| job.ticket != ticket);
        queue.jobs.len() < before
    }

    /// Writes groups until the queue is empty.
    async fn write_all(self: Arc<Self>) {
        // Should this task be dropped half-way (its runtime shutting down), the guard drops
        // the queued jobs, which answers their placements with an error, and lets the next
        // placement start a writer.
        let guard = Writing(&self);
        loop {
            let group = {
                let mut queue = self.queue();
                if queue.jobs.is_empty() {
                    queue.writers -= 1;
                    break;
                }
                take_group(&mut queue.jobs)
            };
            self.write(group).await;
        }
        std::mem::forget(guard);
    }

    async fn write(&self, group: Vec<Job>) {
        if let [_] = group.as_slice() {
            for job in group {
                let result = self.commit(std::slice::from_ref(&job.order)).await;
                let _ = job.answer.send(result);
            }
            return;
        }
        let (orders, answers): (Vec<NewOrder>, Vec<_>) =
            group.into_iter().map(|j| (j.order, j.answer)).unzip();
        match self.commit(&orders).await {
            Ok(()) => {
                for answer in answers {
                    let _ = answer.send(Ok(()));
                }
            }
            Err(_) => {
                for (order, answer) in orders.into_iter().zip(answers) {
                    let result = self.commit(std::slice::from_ref(&order)).await;
                    let _ = answer.send(result);
                }
            }
        }
    }

    /// One transaction for `orders`, their history and their messages.
    async fn commit(&self, orders: &[NewOrder]) -> Result<(), StoreError> {
        let mut tx = SqlTx::begin(&self.db, &self.signal, &self.clock).await?;
        let refs: Vec<&Order> = orders.iter().map(|o| &o.order).collect();
        insert_orders(&tx.tx, &refs).await?;
        for order in orders {
            for entry in &order.history {
                tx.append_history(history_row(entry));
            }
            for message in &order.messages {
                tx.enqueue(message);
            }
        }
        tx.commit().await
    }
}

/// The jobs of the next group, oldest first.
fn take_group(jobs: &mut Vec<Job>) -> Vec<Job> {
    let (mut count, mut items) = (0, 0);
    for job in jobs.iter() {
        let n = job.order.order.items().len();
        if count == MAX_ORDERS || (count > 0 && items + n > MAX_ITEMS) {
            break;
        }
        count += 1;
        items += n;
    }
    jobs.drain(..count).collect()
}

/// Resets the queue when a writer ends without emptying it.
struct Writing<'a>(&'a Placements);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.queue();
        queue.writers -= 1;
        if queue.writers == 0 {
            queue.jobs.clear();
        }
    }
}
