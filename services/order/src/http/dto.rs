//! HTTP request and response bodies. They hold raw values; handlers parse them into domain
//! types once. Fields a client may send but the server computes (prices, totals) are not
//! part of the request type and are ignored.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::Order;

/// One requested line.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderItemRequest {
    /// The product (UUID).
    #[schema(example = "01936f0e-5b7a-7cc4-8a51-0c3c3b5e8f10")]
    pub product_id: String,
    /// Units, 1 to 10000.
    #[schema(example = 2)]
    pub quantity: i64,
}

/// A shipping address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddressBody {
    /// Recipient.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// Street and number.
    #[schema(example = "12 St James's Square")]
    pub line1: String,
    /// More of the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City.
    #[schema(example = "London")]
    pub city: String,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    #[schema(example = "SW1Y 4JH")]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(example = "GB")]
    pub country: String,
}

impl From<&domain::ShippingAddress> for AddressBody {
    fn from(a: &domain::ShippingAddress) -> Self {
        let f = a.fields();
        Self {
            name: f.name,
            line1: f.line1,
            line2: f.line2,
            city: f.city,
            region: f.region,
            postal_code: f.postal_code,
            country: f.country,
        }
    }
}

impl From<AddressBody> for domain::ShippingAddressFields {
    fn from(a: AddressBody) -> Self {
        Self {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

/// `POST /orders`. Names, prices and the total come from the product catalogue, never from
/// the client.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrderRequest {
    /// Optional customer reference: 1 to 64 letters, digits or `-_.:@`.
    #[schema(example = "customer-42")]
    pub customer_id: Option<String>,
    /// 1 to 100 lines, each product at most once.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<OrderItemRequest>,
    /// Where to ship (optional; can be set later while the order has not shipped).
    pub shipping_address: Option<AddressBody>,
    /// A note of the customer, at most 500 characters.
    #[schema(example = "leave at the door")]
    pub note: Option<String>,
}

fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `PATCH /orders/{id}`: a field left out stays; `null` clears it. Items cannot change.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateOrderRequest {
    /// New shipping address, or `null` to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<AddressBody>)]
    pub shipping_address: Option<Option<AddressBody>>,
    /// New note, or `null` to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
    /// Not allowed: an order's items never change (cancel it and order again).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub items: Option<serde_json::Value>,
}

/// `POST /orders/{id}/ship`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShipOrderRequest {
    /// Who carries it, 1 to 64 characters.
    #[schema(example = "DHL")]
    pub carrier: String,
    /// The carrier's tracking number, 1 to 64 characters.
    #[schema(example = "JD014600003828")]
    pub tracking_number: String,
}

/// One change of an order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntryResponse {
    /// Position in the order's history, from 1, without gaps.
    pub seq: u32,
    /// Status before (`null` for the placement).
    pub from: Option<String>,
    /// Status after (the same as `from` for a details update).
    pub to: String,
    /// Why: a rejection reason, `details_updated`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What caused it: `request`, `request:<X-Request-Id>`, `idempotency-key:<key>`, or
    /// `message:<message id>`.
    pub cause: String,
    /// When, RFC 3339.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl From<&ports::ordering::HistoryEntry> for HistoryEntryResponse {
    fn from(h: &ports::ordering::HistoryEntry) -> Self {
        Self {
            seq: h.seq,
            from: h.from.map(|s| s.as_str().to_owned()),
            to: h.to.as_str().to_owned(),
            reason: h.reason.clone(),
            cause: h.cause.clone(),
            at: h.at,
        }
    }
}

/// `GET /orders/{id}/history`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryResponse {
    /// The order.
    pub order_id: String,
    /// Every change, oldest first.
    pub items: Vec<HistoryEntryResponse>,
}

/// `POST /admin/cache/warmup`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WarmupRequest {
    /// Products to load into the price cache (at most 10000).
    pub product_ids: Vec<String>,
}

/// What a warm-up loaded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WarmupResponse {
    /// Products now cached.
    pub loaded: Vec<String>,
    /// Ids that are no product.
    pub missing: Vec<String>,
}

/// One line of an order, with the name and price it was ordered at.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderItemResponse {
    /// The product.
    pub product_id: String,
    /// Its name when ordered.
    #[schema(example = "Laptop")]
    pub product_name: String,
    /// Its unit price when ordered (decimal string).
    #[schema(example = "699.99")]
    pub unit_price: String,
    /// Units.
    #[schema(example = 2)]
    pub quantity: u32,
    /// `unit_price × quantity`.
    #[schema(example = "1399.98")]
    pub line_total: String,
}

/// An order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderResponse {
    /// UUIDv7.
    pub id: String,
    /// The customer reference, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// `pending`, `confirmed`, `rejected`, `cancelled`, `shipped` or `delivered`.
    #[schema(example = "pending")]
    pub status: String,
    /// Why the order was rejected (`insufficient_stock`, `unknown_product`, `timeout`); only
    /// on rejected orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "insufficient_stock")]
    pub rejection_reason: Option<String>,
    /// The lines.
    pub items: Vec<OrderItemResponse>,
    /// Where it ships.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<AddressBody>,
    /// The customer's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The carrier, once shipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// The tracking number, once shipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// What may still be done: `cancel`, `ship`, `deliver`, `update`.
    pub allowed_actions: Vec<String>,
    /// Sum of the line totals (decimal string).
    #[schema(example = "1399.98")]
    pub total: String,
    /// ISO 4217 code.
    #[schema(example = "USD")]
    pub currency: String,
    /// Optimistic-concurrency version, +1 per change.
    pub version: u32,
    /// RFC 3339.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// RFC 3339.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&Order> for OrderResponse {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id().to_string(),
            customer_id: o.customer_id().map(|c| c.as_str().to_owned()),
            status: o.status().as_str().to_owned(),
            rejection_reason: o.rejection_reason().map(|r| r.as_str().to_owned()),
            items: o
                .items()
                .iter()
                .map(|i| OrderItemResponse {
                    product_id: i.product_id().to_string(),
                    product_name: i.product_name().to_owned(),
                    unit_price: i.unit_price().to_string(),
                    quantity: i.quantity().get(),
                    line_total: i.line_total().to_string(),
                })
                .collect(),
            shipping_address: o.details().shipping_address.as_ref().map(AddressBody::from),
            note: o.details().note.as_ref().map(|n| n.as_str().to_owned()),
            carrier: o.shipment().map(|s| s.carrier().to_owned()),
            tracking_number: o.shipment().map(|s| s.tracking_number().to_owned()),
            allowed_actions: o
                .status()
                .allowed_actions()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            total: o.total().to_string(),
            currency: o.currency().to_string(),
            version: o.version(),
            created_at: o.created_at(),
            updated_at: o.updated_at(),
        }
    }
}

/// `GET /orders` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only orders in this status.
    pub status: Option<String>,
    /// Only orders with a line for this product.
    pub product_id: Option<String>,
    /// Only orders of this customer.
    pub customer_id: Option<String>,
}

/// `GET /orders/product/{product_id}` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of orders, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    /// The orders.
    pub items: Vec<OrderResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
