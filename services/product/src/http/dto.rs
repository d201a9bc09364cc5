//! HTTP request and response bodies. They hold raw values; handlers parse them into domain
//! types once.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::Product;
use ports::inventory::StockAdjustment;

/// A price as sent by clients: a decimal string (`"699.99"`, preferred) or a JSON number.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PriceInput {
    /// `"699.99"`
    Text(String),
    /// `699.99`
    #[schema(value_type = f64)]
    Number(serde_json::Number),
}

impl PriceInput {
    /// The decimal text of the price.
    pub fn as_text(&self) -> String {
        match self {
            PriceInput::Text(s) => s.clone(),
            PriceInput::Number(n) => n.to_string(),
        }
    }
}

/// `POST /products`
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProductRequest {
    /// 1 to 200 characters.
    #[schema(example = "Laptop")]
    pub name: String,
    /// Unit price, a positive decimal with at most the currency's minor digits.
    #[schema(value_type = String, example = "699.99")]
    pub price: PriceInput,
    /// Units on hand, 0 or more.
    #[schema(example = 5)]
    pub stock: i64,
    /// Optional; must be the deployment currency when given.
    #[schema(example = "USD")]
    pub currency: Option<String>,
}

/// A product.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductResponse {
    /// UUIDv7.
    #[schema(example = "01936f0e-5b7a-7cc4-8a51-0c3c3b5e8f10")]
    pub id: String,
    /// Display name.
    #[schema(example = "Laptop")]
    pub name: String,
    /// Unit price as a decimal string.
    #[schema(example = "699.99")]
    pub price: String,
    /// ISO 4217 code.
    #[schema(example = "USD")]
    pub currency: String,
    /// Units on hand.
    #[schema(example = 5)]
    pub stock: u32,
    /// Optimistic-concurrency version, +1 per change (stock included).
    #[schema(example = 1)]
    pub version: u32,
    /// RFC 3339.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// RFC 3339.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&Product> for ProductResponse {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id().to_string(),
            name: p.name().as_str().to_owned(),
            price: p.price().to_string(),
            currency: p.price().currency().to_string(),
            stock: p.stock().get(),
            version: p.version(),
            created_at: p.created_at(),
            updated_at: p.updated_at(),
        }
    }
}

/// `GET /products` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProductsQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Comma-separated product ids: fetch exactly these (at most 100; unknown ids are left out).
    pub ids: Option<String>,
}

/// A page of products, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    /// The products.
    pub items: Vec<ProductResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `PATCH /products/{id}`: the fields to change (at least one).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProductRequest {
    /// New name, 1 to 200 characters.
    #[schema(example = "Laptop Pro")]
    pub name: Option<String>,
    /// New unit price, a positive decimal with at most the currency's minor digits (a decimal
    /// string, preferred, or a JSON number).
    #[schema(value_type = Option<String>, example = "749.99")]
    pub price: Option<PriceInput>,
    /// Optional; must be the deployment currency when given.
    #[schema(example = "USD")]
    pub currency: Option<String>,
}

/// `POST /products/{id}/stock-adjustments`
#[derive(Debug, Deserialize, ToSchema)]
pub struct StockAdjustmentRequest {
    /// Units to add (positive) or remove (negative); never 0. The stock may not go below 0.
    #[schema(example = -3)]
    pub delta: i64,
    /// Why, 1 to 200 characters.
    #[schema(example = "inventory recount")]
    pub reason: String,
}

/// A recorded change of a product's stock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockAdjustmentResponse {
    /// UUIDv7.
    #[schema(example = "01936f10-2c4d-7aa1-9b0e-3f2a1c5d7e90")]
    pub id: String,
    /// The product.
    #[schema(example = "01936f0e-5b7a-7cc4-8a51-0c3c3b5e8f10")]
    pub product_id: String,
    /// Units added (negative: removed).
    #[schema(example = -3)]
    pub delta: i64,
    /// Why.
    #[schema(example = "inventory recount")]
    pub reason: String,
    /// Units on hand right after the change.
    #[schema(example = 2)]
    pub stock_after: u32,
    /// RFC 3339.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&StockAdjustment> for StockAdjustmentResponse {
    fn from(a: &StockAdjustment) -> Self {
        Self {
            id: a.id.to_string(),
            product_id: a.product_id.to_string(),
            delta: a.delta.get(),
            reason: a.reason.as_str().to_owned(),
            stock_after: a.stock_after.get(),
            created_at: a.created_at,
        }
    }
}

/// Page parameters of a keyset listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of stock adjustments, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockAdjustmentPage {
    /// The adjustments.
    pub items: Vec<StockAdjustmentResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
