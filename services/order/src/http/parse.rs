//! Request bodies and headers parsed into the use cases' domain requests, collecting every
//! failing field.

use std::collections::HashMap;

use actix_web::HttpRequest;

use adapters::http::idempotency::IdempotencyContext;
use adapters::http::{ApiError, FieldError};
use domain::{
    Caller, CustomerId, DetailError, DetailsPatch, MAX_ITEMS_PER_ORDER, OrderDetails, OrderLine,
    OrderNote, OrderStatus, ProductId, Quantity, ShippingAddress,
};
use ports::ordering::{Cause, PlaceOrder};

use super::dto::{AddressBody, CreateOrderRequest, UpdateOrderRequest};

pub(super) fn detail_errors(errors: Vec<DetailError>) -> impl Iterator<Item = FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(e.field, e.problem))
}

pub(super) fn parse_address(
    body: AddressBody,
    errors: &mut Vec<FieldError>,
) -> Option<ShippingAddress> {
    ShippingAddress::parse(body.into())
        .map_err(|e| errors.extend(detail_errors(e)))
        .ok()
}

pub(super) fn parse_note(raw: &str, errors: &mut Vec<FieldError>) -> Option<OrderNote> {
    OrderNote::parse(raw)
        .map_err(|e| errors.push(FieldError::new(e.field, e.problem)))
        .ok()
        .filter(|n| !n.as_str().is_empty())
}

/// Parses a PATCH body into a [`DetailsPatch`]: a field left out keeps its value, `null`
/// clears it (as does an empty note), a value replaces it.
pub(super) fn parse_patch(body: UpdateOrderRequest) -> Result<DetailsPatch, ApiError> {
    let mut errors = Vec::new();
    let patch = DetailsPatch {
        shipping_address: body
            .shipping_address
            .map(|address| address.and_then(|a| parse_address(a, &mut errors))),
        note: body
            .note
            .map(|note| note.as_deref().and_then(|n| parse_note(n, &mut errors))),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(patch)
}

/// What caused a change: the request's idempotency key, else its `X-Request-Id`.
pub(super) fn cause(req: &HttpRequest, context: &IdempotencyContext) -> Cause {
    match &context.key {
        Some(key) => Cause::IdempotentRequest(key.clone()),
        None => Cause::Request(request_id(req)),
    }
}

fn request_id(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
}

/// Parses the body into domain values, collecting every failing field.
pub(super) fn parse_order(
    body: CreateOrderRequest,
    caller: Caller,
    cause: Cause,
) -> Result<PlaceOrder, ApiError> {
    let mut errors = Vec::new();
    let shipping_address = body
        .shipping_address
        .and_then(|a| parse_address(a, &mut errors));
    let note = body
        .note
        .as_deref()
        .and_then(|n| parse_note(n, &mut errors));
    let customer_id = body.customer_id.as_deref().and_then(|raw| {
        CustomerId::parse(raw)
            .map_err(|e| errors.push(FieldError::new("customer_id", e)))
            .ok()
    });
    if body.items.is_empty() {
        errors.push(FieldError::new("items", "an order needs at least one item"));
    }
    if body.items.len() > MAX_ITEMS_PER_ORDER {
        errors.push(FieldError::new(
            "items",
            format!(
                "an order has at most {MAX_ITEMS_PER_ORDER} items, got {}",
                body.items.len()
            ),
        ));
    }
    let mut lines = Vec::with_capacity(body.items.len());
    let mut seen: HashMap<ProductId, usize> = HashMap::new();
    for (i, item) in body.items.iter().enumerate() {
        let product_id = ProductId::parse(&item.product_id)
            .map_err(|e| errors.push(FieldError::new(format!("items[{i}].product_id"), e)))
            .ok();
        let quantity = Quantity::new(item.quantity)
            .map_err(|e| errors.push(FieldError::new(format!("items[{i}].quantity"), e)))
            .ok();
        if let Some(id) = product_id
            && let Some(first) = seen.insert(id, i)
        {
            errors.push(FieldError::new(
                format!("items[{i}].product_id"),
                format!(
                    "product {id} is already on items[{first}]; order it once with the total quantity"
                ),
            ));
        }
        if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
            lines.push(OrderLine {
                product_id,
                quantity,
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(PlaceOrder {
        order_id: None,
        caller,
        customer_id,
        lines,
        details: OrderDetails {
            shipping_address,
            note,
        },
        cause,
    })
}

pub(super) fn parse_status(raw: &str) -> Result<OrderStatus, FieldError> {
    OrderStatus::parse(raw).ok_or_else(|| {
        FieldError::new(
            "status",
            format!(
                "`{raw}` is not one of {}",
                OrderStatus::ALL.map(|s| s.as_str()).join(", ")
            ),
        )
    })
}
