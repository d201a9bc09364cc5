//! Integration-event contracts: what crosses the broker between the services.
//!
//! Every message body is an [`Envelope`]: `{ "id", "type", "version", "occurred_at", "data" }`.
//! The AMQP `message_id` is the envelope id and the routing key is the type. Payloads are
//! versioned; a consumer refuses a version it does not know (the message is dead-lettered, not
//! misread).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::trace::TraceContext;
use domain::{MessageId, OrderId, ProductId};

/// Routing keys (also the envelope `type`).
pub mod keys {
    /// An order was placed; the inventory must reserve its items.
    pub const ORDER_CREATED: &str = "order.created";
    /// The inventory reserved every item of an order.
    pub const ORDER_QTY_CONFIRMED: &str = "order.qty_confirmed";
    /// The inventory could not reserve an order's items; nothing was reserved.
    pub const ORDER_QTY_FAILED: &str = "order.qty_failed";
    /// An order was cancelled; the inventory must release its reservations (once).
    pub const ORDER_CANCELLED: &str = "order.cancelled";
    /// An order was handed to a carrier; its reservations are consumed, never released.
    pub const ORDER_SHIPPED: &str = "order.shipped";
    /// An order reached its customer.
    pub const ORDER_DELIVERED: &str = "order.delivered";
    /// A product was created.
    pub const PRODUCT_CREATED: &str = "product.created";
    /// A product's name or price changed; caches of it must be evicted.
    pub const PRODUCT_UPDATED: &str = "product.updated";
}

/// A contract: a payload type bound to its routing key and version.
pub trait IntegrationEvent: Serialize + DeserializeOwned {
    /// Routing key and envelope `type`.
    const TYPE: &'static str;
    /// Payload schema version.
    const VERSION: u32;
}

/// The JSON body of every message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Unique per message; consumers deduplicate on it.
    pub id: MessageId,
    /// The routing key.
    #[serde(rename = "type")]
    pub kind: String,
    /// Payload schema version.
    pub version: u32,
    /// When the fact happened.
    pub occurred_at: DateTime<Utc>,
    /// The payload.
    pub data: T,
}

/// One line of an order to reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedItemV1 {
    /// The product.
    pub product_id: ProductId,
    /// Units, 1..=10000.
    pub quantity: u32,
}

/// `order.created` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreatedV1 {
    /// The order.
    pub order_id: OrderId,
    /// What to reserve.
    pub items: Vec<OrderedItemV1>,
}

impl IntegrationEvent for OrderCreatedV1 {
    const TYPE: &'static str = keys::ORDER_CREATED;
    const VERSION: u32 = 1;
}

/// `order.qty_confirmed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderQtyConfirmedV1 {
    /// The order whose items are now reserved.
    pub order_id: OrderId,
}

impl IntegrationEvent for OrderQtyConfirmedV1 {
    const TYPE: &'static str = keys::ORDER_QTY_CONFIRMED;
    const VERSION: u32 = 1;
}

/// A line the inventory could not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedItemV1 {
    /// The product.
    pub product_id: ProductId,
    /// Units requested.
    pub requested: u32,
    /// Units on hand when the order was processed (0 for an unknown product).
    pub available: u32,
}

/// `order.qty_failed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderQtyFailedV1 {
    /// The order; nothing was reserved for it.
    pub order_id: OrderId,
    /// `insufficient_stock` or `unknown_product`.
    pub reason: String,
    /// The lines that could not be covered.
    pub failing_items: Vec<FailedItemV1>,
}

impl IntegrationEvent for OrderQtyFailedV1 {
    const TYPE: &'static str = keys::ORDER_QTY_FAILED;
    const VERSION: u32 = 1;
}

/// `order.cancelled` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelledV1 {
    /// The order; whatever was reserved for it must be released, once.
    pub order_id: OrderId,
    /// Why: `customer` (an API request) or `timeout`.
    pub reason: String,
}

impl IntegrationEvent for OrderCancelledV1 {
    const TYPE: &'static str = keys::ORDER_CANCELLED;
    const VERSION: u32 = 1;
}

/// `order.shipped` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderShippedV1 {
    /// The order; its reservations are consumed.
    pub order_id: OrderId,
    /// Who carries it.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
}

impl IntegrationEvent for OrderShippedV1 {
    const TYPE: &'static str = keys::ORDER_SHIPPED;
    const VERSION: u32 = 1;
}

/// `order.delivered` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDeliveredV1 {
    /// The order.
    pub order_id: OrderId,
}

impl IntegrationEvent for OrderDeliveredV1 {
    const TYPE: &'static str = keys::ORDER_DELIVERED;
    const VERSION: u32 = 1;
}

/// A product as other services may cache it (no stock: stock decisions never use a copy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSnapshotV1 {
    /// The product.
    pub product_id: ProductId,
    /// Its name.
    pub name: String,
    /// Its unit price, a decimal string.
    pub price: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Its version after the change.
    pub version: u32,
}

/// `product.created` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCreatedV1(pub ProductSnapshotV1);

impl IntegrationEvent for ProductCreatedV1 {
    const TYPE: &'static str = keys::PRODUCT_CREATED;
    const VERSION: u32 = 1;
}

/// `product.updated` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUpdatedV1(pub ProductSnapshotV1);

impl IntegrationEvent for ProductUpdatedV1 {
    const TYPE: &'static str = keys::PRODUCT_UPDATED;
    const VERSION: u32 = 1;
}

/// A message ready for the outbox: written in the same transaction as the state change that
/// produced it, published later by the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The envelope id and AMQP `message_id`.
    pub id: MessageId,
    /// Routing key and envelope `type`.
    pub routing_key: String,
    /// The serialized [`Envelope`].
    pub payload: String,
    /// When the fact happened.
    pub occurred_at: DateTime<Utc>,
    /// The trace of what caused it (the request or the message being handled), which its
    /// publication and handling continue; `None` when nothing traced caused it.
    pub trace: Option<TraceContext>,
}

impl OutboxMessage {
    /// Wraps a payload in a fresh envelope.
    pub fn new<E: IntegrationEvent>(data: &E, occurred_at: DateTime<Utc>) -> Self {
        Self::with_id(MessageId::new(), data, occurred_at)
    }

    /// Wraps a payload in an envelope with a chosen id (re-emitting the same message).
    pub fn with_id<E: IntegrationEvent>(
        id: MessageId,
        data: &E,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        let envelope = Envelope {
            id,
            kind: E::TYPE.to_owned(),
            version: E::VERSION,
            occurred_at,
            data,
        };
        Self {
            id,
            routing_key: E::TYPE.to_owned(),
            // Serializing plain structs of strings and numbers cannot fail.
            payload: serde_json::to_string(&envelope).unwrap_or_default(),
            occurred_at,
            trace: crate::trace::current(),
        }
    }

    /// The same message, continuing `trace` (the message being handled that caused it) instead
    /// of whatever span was running when it was made.
    pub fn caused_by(self, trace: Option<TraceContext>) -> Self {
        Self { trace, ..self }
    }
}

/// Why a message body could not be read as the contract it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not the payload's shape.
    #[error("malformed {kind} message: {source}")]
    Malformed {
        /// The expected type.
        kind: &'static str,
        /// The parse failure.
        source: serde_json::Error,
    },
    /// The envelope names another type than the routing key.
    #[error("envelope type `{found}` does not match routing key `{expected}`")]
    TypeMismatch {
        /// The routing key.
        expected: &'static str,
        /// The envelope's type.
        found: String,
    },
    /// A payload version this consumer does not understand.
    #[error("unsupported {kind} version {version}")]
    UnsupportedVersion {
        /// The type.
        kind: &'static str,
        /// The version found.
        version: u32,
    },
    /// A routing key this consumer does not handle.
    #[error("unexpected routing key `{0}`")]
    UnknownType(String),
}

/// Parses a body as the envelope of `E`, checking type and version.
pub fn decode<E: IntegrationEvent>(body: &[u8]) -> Result<Envelope<E>, DecodeError> {
    let envelope: Envelope<E> =
        serde_json::from_slice(body).map_err(|source| DecodeError::Malformed {
            kind: E::TYPE,
            source,
        })?;
    if envelope.kind != E::TYPE {
        return Err(DecodeError::TypeMismatch {
            expected: E::TYPE,
            found: envelope.kind,
        });
    }
    if envelope.version != E::VERSION {
        return Err(DecodeError::UnsupportedVersion {
            kind: E::TYPE,
            version: envelope.version,
        });
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_message_carries_a_complete_envelope() {
        let order_id = OrderId::new();
        let msg = OutboxMessage::new(&OrderQtyConfirmedV1 { order_id }, Utc::now());
        assert_eq!(msg.routing_key, "order.qty_confirmed");
        let json: serde_json::Value = serde_json::from_str(&msg.payload).unwrap();
        assert_eq!(json["id"], msg.id.to_string());
        assert_eq!(json["type"], "order.qty_confirmed");
        assert_eq!(json["version"], 1);
        assert_eq!(json["data"]["order_id"], order_id.to_string());
        let back: Envelope<OrderQtyConfirmedV1> = decode(msg.payload.as_bytes()).unwrap();
        assert_eq!(back.data.order_id, order_id);
    }

    #[test]
    fn a_body_of_another_type_or_version_is_refused() {
        let msg = OutboxMessage::new(
            &OrderQtyConfirmedV1 {
                order_id: OrderId::new(),
            },
            Utc::now(),
        );
        assert!(matches!(
            decode::<OrderCreatedV1>(msg.payload.as_bytes()),
            Err(DecodeError::Malformed { .. } | DecodeError::TypeMismatch { .. })
        ));
        let v2 = msg.payload.replace("\"version\":1", "\"version\":2");
        assert!(matches!(
            decode::<OrderQtyConfirmedV1>(v2.as_bytes()),
            Err(DecodeError::UnsupportedVersion { version: 2, .. })
        ));
        assert!(matches!(
            decode::<OrderQtyConfirmedV1>(b"{not json"),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
