//! Request bodies, headers and query values parsed into the use cases' domain requests,
//! collecting every failing field.

use actix_web::HttpRequest;

use adapters::http::{ApiError, FieldError};
use domain::product::{AdjustmentReason, StockDelta};
use domain::{Currency, Money, ProductId, ProductName, Stock};
use ports::inventory::{AdjustStock, NewProduct, ProductChange};

use super::dto::{CreateProductRequest, StockAdjustmentRequest, UpdateProductRequest};

/// A request-scoped `X-Request-Id` a client sent (at most 128 visible ASCII characters).
pub(super) fn request_id(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
}

/// A `currency` a client sent must be the deployment's.
fn check_currency(sent: Option<&str>, currency: Currency, errors: &mut Vec<FieldError>) {
    if let Some(sent) = sent
        && sent != currency.code()
    {
        errors.push(FieldError::new(
            "currency",
            format!("prices are in {currency} in this deployment, not `{sent}`"),
        ));
    }
}

pub(super) fn parse_new_product(
    body: CreateProductRequest,
    currency: Currency,
) -> Result<NewProduct, ApiError> {
    let mut errors = Vec::new();
    let name = ProductName::parse(&body.name)
        .map_err(|e| errors.push(FieldError::new("name", e)))
        .ok();
    let price = Money::parse_price(&body.price.as_text(), currency)
        .map_err(|e| errors.push(FieldError::new("price", e)))
        .ok();
    let stock = Stock::new(body.stock)
        .map_err(|e| errors.push(FieldError::new("stock", e)))
        .ok();
    check_currency(body.currency.as_deref(), currency, &mut errors);
    match (name, price, stock) {
        (Some(name), Some(price), Some(stock)) if errors.is_empty() => Ok(NewProduct {
            id: None,
            name,
            price,
            stock,
        }),
        _ => Err(ApiError::validation(errors)),
    }
}

pub(super) fn parse_change(
    body: UpdateProductRequest,
    currency: Currency,
    expected_version: Option<u32>,
) -> Result<ProductChange, ApiError> {
    let mut errors = Vec::new();
    if body.name.is_none() && body.price.is_none() {
        errors.push(FieldError::new(
            "body",
            "send `name`, `price` or both: nothing to change",
        ));
    }
    let name = body.name.as_deref().and_then(|raw| {
        ProductName::parse(raw)
            .map_err(|e| errors.push(FieldError::new("name", e)))
            .ok()
    });
    let price = body.price.as_ref().and_then(|raw| {
        Money::parse_price(&raw.as_text(), currency)
            .map_err(|e| errors.push(FieldError::new("price", e)))
            .ok()
    });
    check_currency(body.currency.as_deref(), currency, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(ProductChange {
        name,
        price,
        expected_version,
    })
}

pub(super) fn parse_adjustment(
    body: StockAdjustmentRequest,
    expected_version: Option<u32>,
    request_id: Option<String>,
) -> Result<AdjustStock, ApiError> {
    let mut errors = Vec::new();
    let delta = StockDelta::new(body.delta)
        .map_err(|e| errors.push(FieldError::new("delta", e)))
        .ok();
    let reason = AdjustmentReason::parse(&body.reason)
        .map_err(|e| errors.push(FieldError::new("reason", e)))
        .ok();
    match (delta, reason) {
        (Some(delta), Some(reason)) if errors.is_empty() => Ok(AdjustStock {
            delta,
            reason,
            expected_version,
            request_id,
            adjustment_id: None,
        }),
        _ => Err(ApiError::validation(errors)),
    }
}

pub(super) fn parse_ids(raw: &str) -> Result<Vec<ProductId>, ApiError> {
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for (i, part) in raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        match ProductId::parse(part) {
            Ok(id) => ids.push(id),
            Err(e) => errors.push(FieldError::new(format!("ids[{i}]"), e)),
        }
    }
    if ids.len() > ports::store::MAX_PAGE_SIZE as usize {
        errors.push(FieldError::new("ids", "at most 100 ids per request"));
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(ApiError::validation(errors))
    }
}
