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

/// `POST /orders`. Names, prices and the total come from the product catalogue, never from
/// the client.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrderRequest {
    /// Optional customer reference: 1 to 64 letters, digits or `-_.:@`.
    #[schema(example = "customer-42")]
    pub customer_id: Option<String>,
    /// 1 to 100 lines, each product at most once.
    pub items: Vec<OrderItemRequest>,
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
