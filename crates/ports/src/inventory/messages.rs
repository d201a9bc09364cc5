//! How the product service answers inbound events: each order event maps to one inventory use
//! case; a malformed or unknown message is dead-lettered untouched.

use async_trait::async_trait;

use super::ports::ProductStore;
use super::reservations::ReservationRequest;
use super::service::ProductService;
use crate::cache::Cache;
use crate::events::{
    self, DecodeError, OrderCancelledV1, OrderCreatedV1, OrderDeliveredV1, OrderShippedV1, keys,
};
use crate::messaging::{HandleOutcome, InboundMessage, MessageHandler};

/// Name under which the product service records handled messages in its inbox.
pub const CONSUMER: &str = "product-service";

/// The events the product service consumes (its queue is bound to these keys).
pub const ROUTING_KEYS: &[&str] = &[
    keys::ORDER_CREATED,
    keys::ORDER_CANCELLED,
    keys::ORDER_SHIPPED,
    keys::ORDER_DELIVERED,
];

#[async_trait]
impl<S: ProductStore, K: Cache> MessageHandler for ProductService<S, K> {
    fn routing_keys(&self) -> Vec<&'static str> {
        ROUTING_KEYS.to_vec()
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        match message.routing_key.as_str() {
            keys::ORDER_CREATED => match reservation(message) {
                Ok(request) => self.reserve(&[request]).await.swap_remove(0),
                Err(outcome) => outcome,
            },
            keys::ORDER_CANCELLED => match events::decode::<OrderCancelledV1>(&message.body) {
                Ok(envelope) => self.release(envelope).await,
                Err(e) => HandleOutcome::DeadLetter(e.to_string()),
            },
            keys::ORDER_SHIPPED => match events::decode::<OrderShippedV1>(&message.body) {
                Ok(envelope) => self.consume(envelope).await,
                Err(e) => HandleOutcome::DeadLetter(e.to_string()),
            },
            // The stock left at shipment: a delivery changes nothing here. The queue still
            // takes it, so that the event is routable (the outbox publishes with `mandatory`).
            keys::ORDER_DELIVERED => match events::decode::<OrderDeliveredV1>(&message.body) {
                Ok(_) => HandleOutcome::Ack,
                Err(e) => HandleOutcome::DeadLetter(e.to_string()),
            },
            other => {
                HandleOutcome::DeadLetter(DecodeError::UnknownType(other.to_owned()).to_string())
            }
        }
    }

    /// The reservations (`order.created`) are made together in one transaction, first; the
    /// rest one by one after them, so that a cancellation in the same batch finds its order's
    /// reservation made.
    async fn handle_batch(&self, messages: &[InboundMessage]) -> Vec<HandleOutcome> {
        let mut outcomes: Vec<Option<HandleOutcome>> = vec![None; messages.len()];
        let mut requests = Vec::new();
        let mut positions = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            if message.routing_key == keys::ORDER_CREATED {
                match reservation(message) {
                    Ok(request) => {
                        requests.push(request);
                        positions.push(i);
                    }
                    Err(outcome) => outcomes[i] = Some(outcome),
                }
            }
        }
        for (i, outcome) in positions.into_iter().zip(self.reserve(&requests).await) {
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

fn reservation(message: &InboundMessage) -> Result<ReservationRequest, HandleOutcome> {
    let envelope = events::decode::<OrderCreatedV1>(&message.body)
        .map_err(|e| HandleOutcome::DeadLetter(e.to_string()))?;
    ReservationRequest::parse(&envelope, message.trace.clone())
}
