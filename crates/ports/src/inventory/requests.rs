//! What the inventory use cases accept: commands in domain values, and the errors they answer
//! with.

use uuid::Uuid;

use crate::store::StoreError;
use domain::product::{AdjustmentError, AdjustmentReason, StockDelta};
use domain::{Money, ProductError, ProductId, ProductName, Stock};

/// A change of a product's name and/or price, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductChange {
    /// The new name, if it changes.
    pub name: Option<ProductName>,
    /// The new unit price, if it changes.
    pub price: Option<Money>,
    /// The version the client read (`If-Match`); `None` applies the change to the current
    /// version.
    pub expected_version: Option<u32>,
}

/// A stock adjustment to make, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustStock {
    /// Units to add (negative: remove).
    pub delta: StockDelta,
    /// Why.
    pub reason: AdjustmentReason,
    /// The version the client read (`If-Match`); `None` adjusts the current version.
    pub expected_version: Option<u32>,
    /// The client's `Idempotency-Key` or `X-Request-Id`, kept as the adjustment's cause.
    pub request_id: Option<String>,
    /// The id to give the adjustment: set when an idempotency key reserved one, so that a
    /// retry after a crash finds the adjustment it already made instead of making a second.
    pub adjustment_id: Option<Uuid>,
}

/// Why a product could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateProductError {
    /// No such product.
    #[error("no product {0}")]
    NotFound(ProductId),
    /// The product changed since the client read it.
    #[error("the product is at version {current}")]
    VersionMismatch {
        /// Its current version.
        current: u32,
    },
    /// The change breaks a product rule.
    #[error(transparent)]
    Invalid(#[from] ProductError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a stock adjustment was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdjustStockError {
    /// No such product.
    #[error("no product {0}")]
    NotFound(ProductId),
    /// The product changed since the client read it.
    #[error("the product is at version {current}")]
    VersionMismatch {
        /// Its current version.
        current: u32,
    },
    /// The stock would leave its range (below zero or above the maximum); nothing changed.
    #[error(transparent)]
    Refused(AdjustmentError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A product to create, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// The id to give it: set when an idempotency key reserved one (see
    /// [`AdjustStock::adjustment_id`]).
    pub id: Option<ProductId>,
    /// Its name.
    pub name: ProductName,
    /// Its unit price (in the deployment currency).
    pub price: Money,
    /// Units on hand at creation.
    pub stock: Stock,
}
