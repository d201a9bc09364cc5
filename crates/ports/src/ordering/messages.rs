//! How the order service answers inbound events: the inventory's answers confirm or reject a
//! pending order exactly once; product changes evict the catalogue's cached copy.

use async_trait::async_trait;
use tracing::{info, warn};

use domain::{MessageId, OrderId, OrderStatus, ProductId, RejectionReason};

use super::events::record;
use super::ports::{OrderStore, ProductCatalog};
use super::requests::Cause;
use super::service::OrderService;
use crate::events::{
    self, DecodeError, OrderQtyConfirmedV1, OrderQtyFailedV1, ProductCreatedV1, ProductUpdatedV1,
    keys,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};
use crate::metrics;
use crate::store::StoreError;

/// Name under which the order service records handled messages in its inbox.
pub const CONSUMER: &str = "order-service";

/// The events the order service consumes (its queue is bound to these keys).
pub const ROUTING_KEYS: &[&str] = &[
    keys::ORDER_QTY_CONFIRMED,
    keys::ORDER_QTY_FAILED,
    keys::PRODUCT_CREATED,
    keys::PRODUCT_UPDATED,
];

/// The inventory's answer about one order: confirmed, or rejected for a reason.
#[derive(Debug, Clone, Copy)]
struct Answer {
    message_id: MessageId,
    order_id: OrderId,
    rejection: Option<RejectionReason>,
}

/// How a transaction applying answers ended before its commit.
enum Applied {
    /// Every answer applied (or found applied before); committed.
    All,
    /// One answer cannot be applied as it stands; nothing was committed.
    Refused(HandleOutcome),
}

impl<S: OrderStore, C: ProductCatalog> OrderService<S, C> {
    async fn evict(&self, product_id: ProductId) -> HandleOutcome {
        self.catalog.evict(&[product_id]).await;
        info!(%product_id, "cached product evicted");
        HandleOutcome::Ack
    }

    /// Applies the inventory's answers to pending orders, each exactly once, in one
    /// transaction. Should one of them be refused or the transaction fail, they are applied
    /// again one by one, so that only the one at fault is retried or dead-lettered.
    async fn apply_answers(&self, answers: &[Answer]) -> Vec<HandleOutcome> {
        if let [answer] = answers {
            return vec![self.apply_answer(*answer).await];
        }
        match self.try_apply(answers).await {
            Ok(Applied::All) => return vec![HandleOutcome::Ack; answers.len()],
            Ok(Applied::Refused(_)) => {
                info!(
                    answers = answers.len(),
                    "an answer of the batch was refused; applying them one by one"
                );
            }
            Err(e) => warn!(
                answers = answers.len(),
                error = %format!("{:#}", anyhow::Error::from(e)),
                "applying the batch failed; applying its answers one by one"
            ),
        }
        let mut outcomes = Vec::with_capacity(answers.len());
        for answer in answers {
            outcomes.push(self.apply_answer(*answer).await);
        }
        outcomes
    }

    #[tracing::instrument(skip_all, fields(message_id = %answer.message_id, order_id = %answer.order_id))]
    async fn apply_answer(&self, answer: Answer) -> HandleOutcome {
        match self.try_apply(&[answer]).await {
            Ok(Applied::All) => HandleOutcome::Ack,
            Ok(Applied::Refused(outcome)) => outcome,
            Err(e) => HandleOutcome::after(e),
        }
    }

    /// One transaction: the answers' inbox rows, then their orders locked at once in
    /// ascending id order (so that concurrent batches never wait on each other in a cycle) and
    /// each moved to its target state.
    async fn try_apply(&self, answers: &[Answer]) -> Result<Applied, StoreError> {
        let mut tx = self.store.begin().await?;
        let message_ids: Vec<MessageId> = answers.iter().map(|a| a.message_id).collect();
        let recorded = tx.record_inbox_all(CONSUMER, &message_ids).await?;
        let mut fresh = Vec::with_capacity(answers.len());
        for (answer, recorded) in answers.iter().zip(recorded) {
            if recorded {
                fresh.push(*answer);
            } else {
                info!(message_id = %answer.message_id, "message already applied; skipping");
            }
        }
        fresh.sort_by_key(|a| a.order_id);
        let ids: Vec<OrderId> = fresh.iter().map(|a| a.order_id).collect();
        let mut orders = tx.load_all_for_update(&ids).await?.into_iter().peekable();
        let now = self.clock.now();
        let mut applied = Vec::new();
        for answer in fresh {
            let order_id = answer.order_id;
            let Some(mut order) = orders.next_if(|o| o.id() == order_id) else {
                return Ok(Applied::Refused(HandleOutcome::DeadLetter(format!(
                    "order {order_id} does not exist"
                ))));
            };
            let expected_version = order.version();
            let target = if answer.rejection.is_some() {
                OrderStatus::Rejected
            } else {
                OrderStatus::Confirmed
            };
            let result = match answer.rejection {
                Some(reason) => order.reject(reason, now),
                None => order.confirm(now),
            };
            match result {
                Ok(transition) => {
                    if !tx.update(&order, expected_version).await? {
                        return Ok(Applied::Refused(HandleOutcome::Retry(format!(
                            "order {order_id} changed concurrently"
                        ))));
                    }
                    record(
                        tx.as_mut(),
                        &mut order,
                        &Cause::Message(answer.message_id).to_string(),
                    )
                    .await?;
                    info!(%order_id, from = %transition.from, to = %transition.to, "order status changed");
                    applied.push((answer.rejection, order.created_at()));
                }
                // Already in the target state: an idempotent no-op.
                Err(invalid) if invalid.from == target => {}
                // Illegal for the current state (for instance a confirmation after a cancel):
                // recorded as handled, never applied.
                Err(invalid) => {
                    warn!(%order_id, from = %invalid.from, to = %invalid.to, "ignoring inventory answer illegal for the order's status");
                }
            }
        }
        tx.commit().await?;
        for (rejection, created_at) in applied {
            match rejection {
                Some(reason) => metrics::count_rejection(metrics::ORDERS_REJECTED, reason),
                None => {
                    metrics::count(metrics::ORDERS_CONFIRMED, 1);
                    metrics::confirmation_latency((now - created_at).as_seconds_f64());
                }
            }
        }
        Ok(Applied::All)
    }

    /// The inventory's answer a message carries; `Err` holds the outcome of a message that is
    /// not one (another routing key) or cannot be read.
    fn answer(message: &InboundMessage) -> Option<Result<Answer, HandleOutcome>> {
        match message.routing_key.as_str() {
            keys::ORDER_QTY_CONFIRMED => Some(
                events::decode::<OrderQtyConfirmedV1>(&message.body)
                    .map(|env| Answer {
                        message_id: env.id,
                        order_id: env.data.order_id,
                        rejection: None,
                    })
                    .map_err(dead_letter),
            ),
            keys::ORDER_QTY_FAILED => Some(
                events::decode::<OrderQtyFailedV1>(&message.body)
                    .map(|env| Answer {
                        message_id: env.id,
                        order_id: env.data.order_id,
                        rejection: Some(
                            RejectionReason::parse(&env.data.reason)
                                .unwrap_or(RejectionReason::InsufficientStock),
                        ),
                    })
                    .map_err(dead_letter),
            ),
            _ => None,
        }
    }
}

fn dead_letter(e: DecodeError) -> HandleOutcome {
    HandleOutcome::DeadLetter(e.to_string())
}

#[async_trait]
impl<S: OrderStore, C: ProductCatalog> MessageHandler for OrderService<S, C> {
    fn routing_keys(&self) -> Vec<&'static str> {
        ROUTING_KEYS.to_vec()
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        match Self::answer(message) {
            Some(Ok(answer)) => return self.apply_answer(answer).await,
            Some(Err(outcome)) => return outcome,
            None => {}
        }
        match message.routing_key.as_str() {
            // A new product may have been cached as "not found"; a changed one as it was.
            // Evicting twice is harmless: no inbox needed.
            keys::PRODUCT_CREATED => match events::decode::<ProductCreatedV1>(&message.body) {
                Ok(env) => self.evict(env.data.0.product_id).await,
                Err(e) => dead_letter(e),
            },
            keys::PRODUCT_UPDATED => match events::decode::<ProductUpdatedV1>(&message.body) {
                Ok(env) => self.evict(env.data.0.product_id).await,
                Err(e) => dead_letter(e),
            },
            other => dead_letter(DecodeError::UnknownType(other.to_owned())),
        }
    }

    /// The inventory's answers are applied together in one transaction; anything else one by
    /// one.
    async fn handle_batch(&self, messages: &[InboundMessage]) -> Vec<HandleOutcome> {
        let mut outcomes: Vec<Option<HandleOutcome>> = vec![None; messages.len()];
        let mut answers = Vec::new();
        let mut positions = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            match Self::answer(message) {
                Some(Ok(answer)) => {
                    answers.push(answer);
                    positions.push(i);
                }
                Some(Err(outcome)) => outcomes[i] = Some(outcome),
                None => {}
            }
        }
        for (i, outcome) in positions
            .into_iter()
            .zip(self.apply_answers(&answers).await)
        {
            outcomes[i] = Some(outcome);
        }
        let mut settled = Vec::with_capacity(messages.len());
        for (message, outcome) in messages.iter().zip(outcomes) {
            settled.push(match outcome {
                Some(outcome) => outcome,
                None => self.handle(message).await,
            });
        }
        settled
    }
}
