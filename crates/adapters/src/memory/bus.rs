//! The in-process event bus of the standalone composition: the same publisher and consumer
//! ports as RabbitMQ, inside one process.
//!
//! Routing works like the RabbitMQ topology: each consuming service declares one queue bound
//! to the routing keys it handles, with a delivery limit and a dead-letter list. A message is
//! redelivered (with `redelivered = true`) after a `Retry` and a pause spent off the queue, dead-lettered after a
//! `DeadLetter` or once the delivery limit is exceeded, and acknowledged after `Ack`.
//!
//! Durability comes from the outbox, not from the bus: [`InProcessBus::publish_batch`]
//! confirms a message only once every queue it was routed to has finished with it
//! (acknowledged or dead-lettered). A crash before that leaves the outbox row unpublished, and
//! the relay publishes it again after the restart; the consumers' inbox makes the repeat
//! harmless. So delivery stays at-least-once with an exactly-once effect, as with the broker.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use domain::MessageId;
use ports::TraceContext;

use crate::telemetry::propagation;

/// The destination a publication names in its span: the bus is one exchange.
const BUS: &str = "bus";
use ports::messaging::Dispatch;
use ports::{
    EventPublisher, HandleOutcome, InboundMessage, MessageHandler, OutboxMessage, PublishError,
};

/// A message that was dead-lettered, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id.
    pub message_id: Option<MessageId>,
    /// Its routing key.
    pub routing_key: String,
    /// Its body.
    pub body: Vec<u8>,
    /// Why it was dead-lettered.
    pub reason: String,
}

struct Delivery {
    message_id: Option<MessageId>,
    routing_key: String,
    body: Vec<u8>,
    redelivered: bool,
    deliveries: u32,
    /// The producer span's context (`traceparent`), as a broker message's header carries it.
    trace: Option<TraceContext>,
    done: oneshot::Sender<()>,
}

struct Queue {
    name: String,
    sender: mpsc::UnboundedSender<Delivery>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
    dead: Mutex<Vec<DeadLetter>>,
    delivery_limit: u32,
}

#[derive(Default)]
struct Topology {
    queues: HashMap<String, Arc<Queue>>,
    bindings: Vec<(String, String)>,
}

/// The in-process bus. Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct InProcessBus {
    topology: Arc<Mutex<Topology>>,
    confirm_timeout: Duration,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus")
            .field("confirm_timeout", &self.confirm_timeout)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these short critical sections leaves consistent data behind.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl InProcessBus {
    /// A bus whose publishers wait at most `confirm_timeout` for a message to be handled.
    pub fn new(confirm_timeout: Duration) -> Self {
        Self {
            topology: Arc::default(),
            confirm_timeout,
        }
    }

    /// Declares `queue` bound to `routing_keys` (idempotent: declaring again adds missing
    /// bindings and keeps the queue and its messages).
    pub fn declare(&self, queue: &str, routing_keys: &[&str], delivery_limit: u32) {
        let mut topology = lock(&self.topology);
        topology.queues.entry(queue.to_owned()).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            Arc::new(Queue {
                name: queue.to_owned(),
                sender,
                receiver: Mutex::new(Some(receiver)),
                dead: Mutex::new(Vec::new()),
                delivery_limit,
            })
        });
        for key in routing_keys {
            let binding = ((*key).to_owned(), queue.to_owned());
            if !topology.bindings.contains(&binding) {
                topology.bindings.push(binding);
            }
        }
    }

    fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        lock(&self.topology).queues.get(name).cloned()
    }

    fn routes(&self, routing_key: &str) -> Vec<Arc<Queue>> {
        let topology = lock(&self.topology);
        topology
            .bindings
            .iter()
            .filter(|(key, _)| key == routing_key)
            .filter_map(|(_, queue)| topology.queues.get(queue).cloned())
            .collect()
    }

    /// The messages dead-lettered from `queue`, oldest first.
    pub fn dead_letters(&self, queue: &str) -> Vec<DeadLetter> {
        self.queue(queue)
            .map(|q| lock(&q.dead).clone())
            .unwrap_or_default()
    }

    /// Puts a message straight into `queue`'s dead letters (operations: restore a dead letter
    /// saved elsewhere; tests).
    pub fn add_dead_letter(&self, queue: &str, letter: DeadLetter) -> anyhow::Result<()> {
        let queue = self
            .queue(queue)
            .ok_or_else(|| anyhow::anyhow!("queue `{queue}` is not declared"))?;
        lock(&queue.dead).push(letter);
        Ok(())
    }

    /// Takes the messages dead-lettered from `queue` out of it (like reading a DLQ), oldest
    /// first.
    pub fn take_dead_letters(&self, queue: &str) -> Vec<DeadLetter> {
        self.queue(queue)
            .map(|q| std::mem::take(&mut *lock(&q.dead)))
            .unwrap_or_default()
    }

    /// Routes one message; the receivers resolve when each queue is done with it. `None` when
    /// no queue is bound to the key.
    fn route(
        &self,
        message_id: Option<MessageId>,
        routing_key: &str,
        body: &[u8],
        trace: Option<&TraceContext>,
    ) -> Option<Vec<oneshot::Receiver<()>>> {
        let queues = self.routes(routing_key);
        if queues.is_empty() {
            return None;
        }
        let mut receivers = Vec::with_capacity(queues.len());
        for queue in queues {
            let (done, receiver) = oneshot::channel();
            let delivery = Delivery {
                message_id,
                routing_key: routing_key.to_owned(),
                body: body.to_vec(),
                redelivered: false,
                deliveries: 0,
                trace: trace.cloned(),
                done,
            };
            // The receiver lives in the queue itself, so sending cannot fail while the bus exists.
            if queue.sender.send(delivery).is_ok() {
                receivers.push(receiver);
            }
        }
        Some(receivers)
    }

    /// Publishes a raw body outside the outbox (tests and operations: inject a malformed or
    /// duplicate message). Does not wait for it to be handled. Errors when unroutable.
    pub fn publish_raw(
        &self,
        routing_key: &str,
        body: &[u8],
        message_id: Option<MessageId>,
    ) -> anyhow::Result<()> {
        self.route(message_id, routing_key, body, None)
            .map(drop)
            .ok_or_else(|| anyhow::anyhow!("no queue is bound to `{routing_key}`"))
    }

    /// Feeds `queue` to `handler` until `shutdown`, the way the broker's consumer does: the
    /// messages already waiting are handed over together (up to [`Dispatch::batch_size`]), up
    /// to [`Dispatch::concurrency`] batches at once, and a message to retry waits off the queue
    /// so that it holds up no other. One consumer per queue at a time; a stopped consumer
    /// finishes the batches it took and hands the queue back, undelivered messages kept.
    pub async fn run_consumer(
        &self,
        queue_name: &str,
        handler: Arc<dyn MessageHandler>,
        retry_delay: Duration,
        dispatch: Dispatch,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let queue = self
            .queue(queue_name)
            .ok_or_else(|| anyhow::anyhow!("queue `{queue_name}` is not declared"))?;
        let mut receiver = lock(&queue.receiver)
            .take()
            .ok_or_else(|| anyhow::anyhow!("queue `{queue_name}` already has a consumer"))?;
        info!(queue = queue_name, "consumer started");
        let concurrency = dispatch.concurrency.max(1);
        let batch_size = dispatch.batch_size.max(1);
        let mut in_flight = JoinSet::new();
        loop {
            if in_flight.len() >= concurrency {
                in_flight.join_next().await;
                continue;
            }
            let first = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
                d = receiver.recv() => match d {
                    Some(d) => d,
                    None => break,
                },
            };
            let mut batch = vec![first];
            // Only what is already waiting joins the batch: a lone message never waits.
            while batch.len() < batch_size {
                match receiver.try_recv() {
                    Ok(delivery) => batch.push(delivery),
                    Err(_) => break,
                }
            }
            in_flight.spawn(deliver(
                queue.clone(),
                handler.clone(),
                batch,
                retry_delay,
                shutdown.clone(),
            ));
        }
        while in_flight.join_next().await.is_some() {}
        *lock(&queue.receiver) = Some(receiver);
        info!(queue = queue_name, "consumer stopped");
        Ok(())
    }
}

/// Handles one batch and settles each delivery: done, dead-lettered, or parked for its retry
/// pause and then put back at the tail of the queue (at once on shutdown, for the next
/// consumer).
async fn deliver(
    queue: Arc<Queue>,
    handler: Arc<dyn MessageHandler>,
    mut batch: Vec<Delivery>,
    retry_delay: Duration,
    shutdown: CancellationToken,
) {
    let spans: Vec<tracing::Span> = batch
        .iter()
        .map(|delivery| {
            propagation::process_span(
                "in-process",
                &queue.name,
                &delivery.routing_key,
                delivery.message_id.map(|id| id.to_string()),
                delivery.trace.as_ref().map(TraceContext::as_str),
                None,
            )
        })
        .collect();
    let inbound: Vec<InboundMessage> = batch
        .iter_mut()
        .zip(&spans)
        .map(|(delivery, span)| {
            delivery.deliveries += 1;
            InboundMessage {
                message_id: delivery.message_id,
                routing_key: delivery.routing_key.clone(),
                body: delivery.body.clone(),
                redelivered: delivery.redelivered,
                trace: propagation::of(span),
            }
        })
        .collect();
    let started = std::time::Instant::now();
    let mut outcomes = AssertUnwindSafe(handler.handle_batch(&inbound))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Vec::new());
    if outcomes.len() != batch.len() {
        warn!(
            messages = batch.len(),
            "the handler panicked or answered a batch with the wrong number of outcomes; retrying it"
        );
        outcomes =
            vec![HandleOutcome::Retry("no outcome from the handler".to_owned()); batch.len()];
    }
    let handling = started.elapsed();
    for ((mut delivery, outcome), span) in batch.into_iter().zip(outcomes).zip(spans) {
        let _entered = span.enter();
        propagation::record_outcome(&span, &outcome);
        crate::observe::consumed(&queue.name, delivery.redelivered, &outcome, handling);
        crate::observe::message_age(&queue.name, &delivery.body);
        let reason = match outcome {
            HandleOutcome::Ack => {
                let _ = delivery.done.send(());
                continue;
            }
            HandleOutcome::DeadLetter(reason) => reason,
            HandleOutcome::Retry(reason) if delivery.deliveries > queue.delivery_limit => {
                crate::observe::retries_exhausted(&queue.name);
                format!("delivery limit exceeded: {reason}")
            }
            HandleOutcome::Retry(reason) => {
                let pause = ports::messaging::retry_pause(retry_delay, delivery.deliveries - 1);
                warn!(message_id = ?delivery.message_id, %reason, retry_in = ?pause, "message will be redelivered");
                let queue = queue.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(pause) => {}
                    }
                    delivery.redelivered = true;
                    // Back to the tail of the queue, like a message returning from a retry
                    // queue of the broker.
                    let _ = queue.sender.send(delivery);
                });
                continue;
            }
        };
        warn!(message_id = ?delivery.message_id, routing_key = %delivery.routing_key, %reason, "message dead-lettered");
        lock(&queue.dead).push(DeadLetter {
            message_id: delivery.message_id,
            routing_key: delivery.routing_key,
            body: delivery.body,
            reason,
        });
        let _ = delivery.done.send(());
    }
}

#[async_trait]
impl EventPublisher for InProcessBus {
    async fn publish_batch(&self, messages: &[OutboxMessage]) -> Vec<Result<(), PublishError>> {
        let routed: Vec<Option<Vec<oneshot::Receiver<()>>>> = messages
            .iter()
            .map(|m| {
                let span = propagation::publish_span("in-process", BUS, m);
                let _entered = span.enter();
                let trace = propagation::of(&span);
                self.route(
                    Some(m.id),
                    &m.routing_key,
                    m.payload.as_bytes(),
                    trace.as_ref(),
                )
            })
            .collect();
        let deadline = tokio::time::Instant::now() + self.confirm_timeout;
        let mut results = Vec::with_capacity(messages.len());
        for (message, receivers) in messages.iter().zip(routed) {
            let Some(receivers) = receivers else {
                results.push(Err(PublishError::Unroutable(message.id)));
                continue;
            };
            let mut result = Ok(());
            for receiver in receivers {
                match tokio::time::timeout_at(deadline, receiver).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => {
                        result = Err(PublishError::Connection(anyhow::anyhow!(
                            "the bus dropped message {} unhandled",
                            message.id
                        )));
                    }
                    Err(_) => result = Err(PublishError::Timeout(message.id)),
                }
            }
            results.push(result);
        }
        results
    }
}

/// The dead letters of one queue of an [`InProcessBus`], for operators.
#[derive(Debug, Clone)]
pub struct InProcessDeadLetters {
    bus: InProcessBus,
    queue: String,
}

impl InProcessDeadLetters {
    /// The dead letters of `queue`.
    pub fn new(bus: InProcessBus, queue: impl Into<String>) -> Self {
        Self {
            bus,
            queue: queue.into(),
        }
    }
}

#[async_trait]
impl ports::DeadLetters for InProcessDeadLetters {
    async fn peek(
        &self,
        limit: u32,
    ) -> anyhow::Result<(u32, Vec<ports::messaging::DeadLetterView>)> {
        let dead = self.bus.dead_letters(&self.queue);
        let views = dead
            .iter()
            .take(limit as usize)
            .map(|d| ports::messaging::DeadLetterView {
                message_id: d.message_id.map(|id| id.to_string()),
                routing_key: d.routing_key.clone(),
                body: String::from_utf8_lossy(&d.body).into_owned(),
            })
            .collect();
        Ok((dead.len() as u32, views))
    }

    async fn replay(&self, limit: u32) -> anyhow::Result<u32> {
        let queue = self
            .bus
            .queue(&self.queue)
            .ok_or_else(|| anyhow::anyhow!("queue `{}` is not declared", self.queue))?;
        let taken: Vec<DeadLetter> = {
            let mut dead = lock(&queue.dead);
            let n = (limit as usize).min(dead.len());
            dead.drain(..n).collect()
        };
        let mut replayed = 0;
        for letter in taken {
            self.bus
                .publish_raw(&letter.routing_key, &letter.body, letter.message_id)?;
            replayed += 1;
        }
        info!(replayed, queue = %self.queue, "dead letters replayed");
        Ok(replayed)
    }
}
