//! Handlers that change an order: cancel (also as `DELETE`), ship, deliver and update its
//! details, all through one guarded, idempotent change.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, patch, post, web};

use adapters::http::auth::Authenticated;
use adapters::http::idempotency::Idempotency;
use adapters::http::{ApiError, RawBody, etag, if_match, json_body, optional_json_body, parse_id};
use domain::{OrderId, Shipment};
use ports::ordering::OrderCommand;

use super::Orders;
use super::dto::{OrderResponse, ShipOrderRequest, UpdateOrderRequest};
use super::errors::change_error;
use super::parse::{cause, detail_errors, parse_patch};

async fn change(
    req: &HttpRequest,
    caller: &Authenticated,
    orders: &Orders,
    idempotency: &Idempotency,
    body: &[u8],
    command: impl FnOnce(&[u8]) -> Result<OrderCommand, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", req.match_info().query("id"), OrderId::parse)?;
    let expected = if_match(req)?;
    idempotency
        .run(req, body, |context| async move {
            let command = command(body)?;
            let order = orders
                .change_order(id, expected, command, cause(req, &context), &caller.0)
                .await
                .map_err(change_error)?;
            Ok(HttpResponse::Ok()
                .insert_header(etag(order.version()))
                .json(OrderResponse::from(&order)))
        })
        .await
}

/// Cancels an order (`pending` or `confirmed`); the inventory releases its stock.
#[utoipa::path(
    post,
    path = "/orders/{id}/cancel",
    tag = "orders",
    params(
        ("id" = uuid::Uuid, Path, description = "Order id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the order as last read; 412 when it changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, description = "Cancelled", body = OrderResponse, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed id or If-Match", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order is shipped, delivered, rejected or cancelled (`status` and `allowed_actions` say what is left), or the Idempotency-Key is in use", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/orders/{id}/cancel")]
pub async fn cancel_order(
    req: HttpRequest,
    caller: Authenticated,
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    change(&req, &caller, &orders, &idempotency, &body.0, |_| {
        Ok(OrderCommand::Cancel)
    })
    .await
}

/// Cancels an order: the same as `POST /orders/{id}/cancel`.
#[utoipa::path(
    delete,
    path = "/orders/{id}",
    tag = "orders",
    params(
        ("id" = uuid::Uuid, Path, description = "Order id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the order as last read; 412 when it changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, description = "Cancelled", body = OrderResponse, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed id or If-Match", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order can no longer be cancelled, or the Idempotency-Key is in use", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/orders/{id}")]
pub async fn delete_order(
    req: HttpRequest,
    caller: Authenticated,
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    change(&req, &caller, &orders, &idempotency, &body.0, |_| {
        Ok(OrderCommand::Cancel)
    })
    .await
}

/// Ships a confirmed order with its carrier and tracking number.
#[utoipa::path(
    post,
    path = "/orders/{id}/ship",
    tag = "orders",
    request_body = ShipOrderRequest,
    params(
        ("id" = uuid::Uuid, Path, description = "Order id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the order as last read; 412 when it changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, description = "Shipped", body = OrderResponse, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed id, If-Match or body (each failing field named)", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order is not confirmed, or the Idempotency-Key is in use", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/orders/{id}/ship")]
pub async fn ship_order(
    req: HttpRequest,
    caller: Authenticated,
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let parse = |body: &[u8]| {
        let parsed: ShipOrderRequest = json_body(&req, body)?;
        Shipment::parse(&parsed.carrier, &parsed.tracking_number)
            .map(OrderCommand::Ship)
            .map_err(|e| ApiError::validation(detail_errors(e).collect()))
    };
    change(&req, &caller, &orders, &idempotency, &body.0, parse).await
}

/// Marks a shipped order delivered.
#[utoipa::path(
    post,
    path = "/orders/{id}/deliver",
    tag = "orders",
    params(
        ("id" = uuid::Uuid, Path, description = "Order id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the order as last read; 412 when it changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    responses(
        (status = 200, description = "Delivered", body = OrderResponse, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed id or If-Match", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order is not shipped, or the Idempotency-Key is in use", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/orders/{id}/deliver")]
pub async fn deliver_order(
    req: HttpRequest,
    caller: Authenticated,
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    change(&req, &caller, &orders, &idempotency, &body.0, |_| {
        Ok(OrderCommand::Deliver)
    })
    .await
}

/// Changes the shipping address and note of an order that has not shipped. Items never
/// change: cancel the order and place a new one.
#[utoipa::path(
    patch,
    path = "/orders/{id}",
    tag = "orders",
    request_body = UpdateOrderRequest,
    params(
        ("id" = uuid::Uuid, Path, description = "Order id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the order as last read; 412 when it changed since"),
    ),
    responses(
        (status = 200, description = "Updated", body = OrderResponse, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed id, If-Match or body (each failing field named)", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The order has shipped or ended, or the body tries to change the items", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/orders/{id}")]
pub async fn update_order(
    req: HttpRequest,
    caller: Authenticated,
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    parse_id("id", req.match_info().query("id"), OrderId::parse)?;
    let body = &body.0;
    let parsed: UpdateOrderRequest = optional_json_body(&req, body)?;
    if parsed.items.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "items_immutable",
            "Items cannot change",
        )
        .detail("an order's items never change: cancel it and place a new order"));
    }
    let patch = parse_patch(parsed)?;
    // The patch is merged into the order under its row lock: without If-Match, a concurrent
    // change in between is kept, never overwritten.
    change(&req, &caller, &orders, &idempotency, body, |_| {
        Ok(OrderCommand::UpdateDetails(patch))
    })
    .await
}
