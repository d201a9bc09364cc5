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

impl<S: OrderStore, C: ProductCatalog> OrderService<S, C> {
    async fn evict(&self, product_id: ProductId) -> HandleOutcome {
        self.catalog.evict(&[product_id]).await;
        info!(%product_id, "cached product evicted");
        HandleOutcome::Ack
    }

    /// Applies the inventory's answer to a pending order, exactly once.
    #[tracing::instrument(skip_all, fields(%message_id, %order_id))]
    async fn apply_inventory_answer(
        &self,
        message_id: MessageId,
        order_id: OrderId,
        rejection: Option<RejectionReason>,
    ) -> Result<HandleOutcome, StoreError> {
        let mut tx = self.store.begin().await?;
        if !tx.record_inbox(CONSUMER, message_id).await? {
            info!("message already applied; skipping");
            return Ok(HandleOutcome::Ack);
        }
        let Some(mut order) = tx.load_for_update(order_id).await? else {
            return Ok(HandleOutcome::DeadLetter(format!(
                "order {order_id} does not exist"
            )));
        };
        let expected_version = order.version();
        let target = if rejection.is_some() {
            OrderStatus::Rejected
        } else {
            OrderStatus::Confirmed
        };
        let now = self.clock.now();
        let result = match rejection {
            Some(reason) => order.reject(reason, now),
            None => order.confirm(now),
        };
        match result {
            Ok(transition) => {
                if !tx.update(&order, expected_version).await? {
                    return Ok(HandleOutcome::Retry(
                        "order changed concurrently".to_owned(),
                    ));
                }
                record(
                    tx.as_mut(),
                    &mut order,
                    &Cause::Message(message_id).to_string(),
                )
                .await?;
                tx.commit().await?;
                info!(from = %transition.from, to = %transition.to, "order status changed");
            }
            Err(invalid) if invalid.from == target => {
                // Already in the target state: an idempotent no-op.
                tx.commit().await?;
            }
            Err(invalid) => {
                // Illegal for the current state (for instance a confirmation after a
                // cancel): recorded as handled, never applied.
                warn!(from = %invalid.from, to = %invalid.to, "ignoring inventory answer illegal for the order's status");
                tx.commit().await?;
            }
        }
        Ok(HandleOutcome::Ack)
    }
}

fn outcome(result: Result<HandleOutcome, StoreError>) -> HandleOutcome {
    match result {
        Ok(outcome) => outcome,
        Err(e) => HandleOutcome::Retry(format!("{:#}", anyhow::Error::from(e))),
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
        match message.routing_key.as_str() {
            keys::ORDER_QTY_CONFIRMED => {
                match events::decode::<OrderQtyConfirmedV1>(&message.body) {
                    Ok(env) => outcome(
                        self.apply_inventory_answer(env.id, env.data.order_id, None)
                            .await,
                    ),
                    Err(e) => dead_letter(e),
                }
            }
            keys::ORDER_QTY_FAILED => match events::decode::<OrderQtyFailedV1>(&message.body) {
                Ok(env) => {
                    let reason = RejectionReason::parse(&env.data.reason)
                        .unwrap_or(RejectionReason::InsufficientStock);
                    outcome(
                        self.apply_inventory_answer(env.id, env.data.order_id, Some(reason))
                            .await,
                    )
                }
                Err(e) => dead_letter(e),
            },
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
}
