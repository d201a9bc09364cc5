//! The use cases' errors mapped to API errors (problem responses).

use actix_web::http::StatusCode;

use adapters::http::{ApiError, FieldError, precondition_failed};
use domain::product::AdjustmentError;
use domain::{MAX_STOCK, ProductError, ProductId};
use ports::inventory::{AdjustStockError, UpdateProductError};

pub(super) fn product_not_found(id: ProductId) -> ApiError {
    ApiError::not_found("product_not_found", format!("no product {id}"))
}

pub(super) fn update_error(e: UpdateProductError) -> ApiError {
    match e {
        UpdateProductError::NotFound(id) => product_not_found(id),
        UpdateProductError::VersionMismatch { current } => precondition_failed(current),
        UpdateProductError::Invalid(e) => {
            let field = match e {
                ProductError::InvalidName => "name",
                ProductError::Price(_) => "price",
                ProductError::Stock(_) => "stock",
            };
            ApiError::validation(vec![FieldError::new(field, e)])
        }
        UpdateProductError::Store(e) => e.into(),
    }
}

pub(super) fn adjust_error(e: AdjustStockError) -> ApiError {
    match e {
        AdjustStockError::NotFound(id) => product_not_found(id),
        AdjustStockError::VersionMismatch { current } => precondition_failed(current),
        AdjustStockError::Refused(AdjustmentError::BelowZero { available, delta }) => {
            ApiError::new(
                StatusCode::CONFLICT,
                "insufficient_stock",
                "Insufficient stock",
            )
            .detail(format!(
                "the stock is {available}; an adjustment of {delta} would take it below zero"
            ))
            .with("stock", available)
            .with("delta", delta)
        }
        AdjustStockError::Refused(AdjustmentError::AboveMax { available, delta }) => ApiError::new(
            StatusCode::CONFLICT,
            "stock_limit_exceeded",
            "Stock limit exceeded",
        )
        .detail(format!(
            "the stock is {available}; an adjustment of {delta} would take it above {MAX_STOCK}"
        ))
        .with("stock", available)
        .with("delta", delta)
        .with("max_stock", MAX_STOCK),
        AdjustStockError::Refused(e) => ApiError::validation(vec![FieldError::new("delta", e)]),
        AdjustStockError::Store(e) => e.into(),
    }
}
