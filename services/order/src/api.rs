//! HTTP handlers of the order service.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};

use adapters::http::idempotency::{Idempotency, IdempotencyContext};
use adapters::http::{
    ApiError, Cursor, FieldError, JsonBody, RawBody, etag, if_match, json_body, optional_json_body,
    page_request, parse_id, precondition_failed,
};
use domain::{
    CustomerId, DetailError, MAX_ITEMS_PER_ORDER, OrderDetails, OrderId, OrderLine, OrderNote,
    OrderStatus, ProductId, Quantity, Shipment, ShippingAddress,
};
use ports::orders::{
    CatalogError, Cause, ChangeOrderError, OrderCommand, OrderFilter, PlaceOrder, PlaceOrderError,
};

use crate::dto::{
    AddressBody, CreateOrderRequest, HistoryEntryResponse, HistoryResponse, ListOrdersQuery,
    OrderPage, OrderResponse, PageQuery, ShipOrderRequest, UpdateOrderRequest, WarmupRequest,
    WarmupResponse,
};
use crate::startup::Orders;

fn detail_errors(errors: Vec<DetailError>) -> impl Iterator<Item = FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(e.field, e.problem))
}

fn parse_address(body: AddressBody, errors: &mut Vec<FieldError>) -> Option<ShippingAddress> {
    ShippingAddress::parse(body.into())
        .map_err(|e| errors.extend(detail_errors(e)))
        .ok()
}

fn parse_note(raw: &str, errors: &mut Vec<FieldError>) -> Option<OrderNote> {
    OrderNote::parse(raw)
        .map_err(|e| errors.push(FieldError::new(e.field, e.problem)))
        .ok()
        .filter(|n| !n.as_str().is_empty())
}

/// What caused a change: the request's idempotency key, else its `X-Request-Id`.
fn cause(req: &HttpRequest, context: &IdempotencyContext) -> Cause {
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
fn parse_order(body: CreateOrderRequest, cause: Cause) -> Result<PlaceOrder, ApiError> {
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
        customer_id,
        lines,
        details: OrderDetails {
            shipping_address,
            note,
        },
        cause,
    })
}

fn place_error(e: PlaceOrderError, request: &[OrderLine]) -> ApiError {
    match e {
        PlaceOrderError::UnknownProducts(ids) => {
            let errors = request
                .iter()
                .enumerate()
                .filter(|(_, l)| ids.contains(&l.product_id))
                .map(|(i, l)| {
                    FieldError::new(
                        format!("items[{i}].product_id"),
                        format!("product {} does not exist", l.product_id),
                    )
                })
                .collect::<Vec<_>>();
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_products",
                "Unknown products",
            )
            .detail(format!(
                "{} of the ordered products do not exist",
                ids.len()
            ))
            .with(
                "product_ids",
                ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            );
            if !errors.is_empty() {
                err = err.errors(errors);
            }
            err
        }
        PlaceOrderError::Catalog(e) => {
            let (detail, retry_after) = match e {
                CatalogError::Suspended => (
                    "calls to the product service are suspended after repeated failures; retry shortly",
                    5,
                ),
                CatalogError::Unavailable(_) => (
                    "prices could not be read from the product service; retry shortly",
                    1,
                ),
            };
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "product_service_unavailable",
                "Product service unavailable",
            )
            .detail(detail)
            .retry_after(retry_after)
            .caused_by(e.into())
        }
        PlaceOrderError::Invalid(e) => ApiError::validation(vec![FieldError::new("items", e)]),
        PlaceOrderError::CurrencyMismatch { .. } => ApiError::internal(anyhow::Error::new(e)),
        PlaceOrderError::Store(e) => e.into(),
    }
}

/// Places an order. The server reads names and prices from the product catalogue and
/// computes every total; the order starts `pending` and becomes `confirmed` or `rejected`
/// once the inventory answers (within milliseconds to seconds).
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body answer the first response again")),
    responses(
        (status = 201, description = "Placed (status `pending`)", body = OrderResponse,
            headers(("Location" = String, description = "URL of the new order"), ("ETag" = String, description = "The order's version"))),
        (status = 400, description = "Invalid body: each failing field is named", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Some products do not exist, or the `Idempotency-Key` was used for another request", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this `Idempotency-Key` is still running; retry after `Retry-After`", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Product service or database unavailable; retry after `Retry-After`", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/orders")]
pub async fn create_order(
    req: HttpRequest,
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let (req, body, orders) = (&req, &body.0, &orders);
    idempotency
        .run(req, body, |context| async move {
            let parsed: CreateOrderRequest = json_body(req, body)?;
            let mut request = parse_order(parsed, cause(req, &context))?;
            request.order_id = context.resource_id.map(OrderId::from_uuid);
            let lines = request.lines.clone();
            let order = orders
                .place_order(request)
                .await
                .map_err(|e| place_error(e, &lines))?;
            Ok(HttpResponse::Created()
                .insert_header((header::LOCATION, format!("/orders/{}", order.id())))
                .insert_header(etag(order.version()))
                .json(OrderResponse::from(&order)))
        })
        .await
}

/// Reads an order.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "Order id (UUID)")),
    responses(
        (status = 200, description = "The order", body = OrderResponse,
            headers(("ETag" = String, description = "The order's version"))),
        (status = 400, description = "Malformed id", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders/{id}")]
pub async fn get_order(
    orders: web::Data<Orders>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", &path, OrderId::parse)?;
    let order = orders
        .find_order(id)
        .await?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(order.version()))
        .json(OrderResponse::from(&order)))
}

async fn list(
    orders: &Orders,
    filter: OrderFilter,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let page = page_request(limit, cursor)?;
    let page = orders.list_orders(&filter, page).await?;
    Ok(HttpResponse::Ok().json(OrderPage {
        items: page.items.iter().map(OrderResponse::from).collect(),
        next_cursor: page.next_after.map(|id| Cursor(id).encode()),
    }))
}

fn parse_status(raw: &str) -> Result<OrderStatus, FieldError> {
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

/// Lists orders newest first, by keyset pagination, with optional filters.
#[utoipa::path(
    get,
    path = "/orders",
    tag = "orders",
    params(ListOrdersQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "Invalid limit, cursor or filter", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders")]
pub async fn list_orders(
    orders: web::Data<Orders>,
    query: web::Query<ListOrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let mut filter = OrderFilter::default();
    if let Some(raw) = query.status.as_deref().filter(|s| !s.is_empty()) {
        match parse_status(raw) {
            Ok(s) => filter.status = Some(s),
            Err(e) => errors.push(e),
        }
    }
    if let Some(raw) = query.product_id.as_deref().filter(|s| !s.is_empty()) {
        match ProductId::parse(raw) {
            Ok(id) => filter.product_id = Some(id),
            Err(e) => errors.push(FieldError::new("product_id", e)),
        }
    }
    if let Some(raw) = query.customer_id.as_deref().filter(|s| !s.is_empty()) {
        match CustomerId::parse(raw) {
            Ok(id) => filter.customer_id = Some(id),
            Err(e) => errors.push(FieldError::new("customer_id", e)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    list(&orders, filter, query.limit, query.cursor.as_deref()).await
}

/// Lists the orders that contain a product, newest first.
#[utoipa::path(
    get,
    path = "/orders/product/{product_id}",
    tag = "orders",
    params(("product_id" = String, Path, description = "Product id (UUID)"), PageQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "Malformed id, limit or cursor", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders/product/{product_id}")]
pub async fn list_orders_of_product(
    orders: web::Data<Orders>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let product_id = parse_id("product_id", &path, ProductId::parse)?;
    let filter = OrderFilter {
        product_id: Some(product_id),
        ..OrderFilter::default()
    };
    list(&orders, filter, query.limit, query.cursor.as_deref()).await
}

fn change_error(e: ChangeOrderError) -> ApiError {
    match e {
        ChangeOrderError::NotFound(id) => {
            ApiError::not_found("order_not_found", format!("no order {id}"))
        }
        ChangeOrderError::Stale { current_version } => precondition_failed(current_version),
        ChangeOrderError::NotAllowed {
            action,
            status,
            allowed_actions,
        } => ApiError::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            "Not allowed now",
        )
        .detail(format!(
            "an order that is {status} cannot {action}; still allowed: {}",
            if allowed_actions.is_empty() {
                "nothing (final status)".to_owned()
            } else {
                allowed_actions.join(", ")
            }
        ))
        .with("current_status", status.as_str())
        .with("allowed_actions", allowed_actions),
        ChangeOrderError::Store(e) => e.into(),
    }
}

async fn change(
    req: &HttpRequest,
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
                .change_order(id, expected, command, cause(req, &context))
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
        ("id" = String, Path, description = "Order id (UUID)"),
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
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    change(&req, &orders, &idempotency, &body.0, |_| {
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
        ("id" = String, Path, description = "Order id (UUID)"),
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
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    change(&req, &orders, &idempotency, &body.0, |_| {
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
        ("id" = String, Path, description = "Order id (UUID)"),
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
    change(&req, &orders, &idempotency, &body.0, parse).await
}

/// Marks a shipped order delivered.
#[utoipa::path(
    post,
    path = "/orders/{id}/deliver",
    tag = "orders",
    params(
        ("id" = String, Path, description = "Order id (UUID)"),
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
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    change(&req, &orders, &idempotency, &body.0, |_| {
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
        ("id" = String, Path, description = "Order id (UUID)"),
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
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", req.match_info().query("id"), OrderId::parse)?;
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
    let current = orders
        .find_order(id)
        .await?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))?;
    let mut errors = Vec::new();
    let mut details = current.details().clone();
    if let Some(address) = parsed.shipping_address {
        details.shipping_address = address.and_then(|a| parse_address(a, &mut errors));
    }
    if let Some(note) = parsed.note {
        details.note = note.as_deref().and_then(|n| parse_note(n, &mut errors));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // Without If-Match, the change applies to the version just read: a concurrent change in
    // between is a 412, never a silent overwrite.
    let expected = if_match(&req)?.or(Some(current.version()));
    let (req, orders) = (&req, &orders);
    idempotency
        .run(req, body, |context| async move {
            let command = OrderCommand::UpdateDetails(details);
            let order = orders
                .change_order(id, expected, command, cause(req, &context))
                .await
                .map_err(change_error)?;
            Ok(HttpResponse::Ok()
                .insert_header(etag(order.version()))
                .json(OrderResponse::from(&order)))
        })
        .await
}

/// Every change of an order, oldest first: the transitions with their reason and cause, and
/// details updates.
#[utoipa::path(
    get,
    path = "/orders/{id}/history",
    tag = "orders",
    params(("id" = String, Path, description = "Order id (UUID)")),
    responses(
        (status = 200, description = "The history", body = HistoryResponse),
        (status = 400, description = "Malformed id", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders/{id}/history")]
pub async fn order_history(
    orders: web::Data<Orders>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", &path, OrderId::parse)?;
    let history = orders
        .history(id)
        .await?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))?;
    Ok(HttpResponse::Ok().json(HistoryResponse {
        order_id: id.to_string(),
        items: history.iter().map(HistoryEntryResponse::from).collect(),
    }))
}

/// Most products one warm-up may name.
const MAX_WARMUP: usize = 10_000;
/// Catalogue calls a warm-up runs at once.
const WARMUP_CONCURRENCY: usize = 4;

/// Loads products into the price cache ahead of demand (after a deploy, before a sale).
#[utoipa::path(
    post,
    path = "/admin/cache/warmup",
    tag = "operations",
    request_body = WarmupRequest,
    responses(
        (status = 200, description = "What was loaded and what does not exist", body = WarmupResponse),
        (status = 400, description = "Malformed ids (each one named) or too many", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Product service unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/admin/cache/warmup")]
pub async fn warm_cache(
    orders: web::Data<Orders>,
    body: JsonBody<WarmupRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let mut ids = Vec::new();
    for (i, raw) in body.0.product_ids.iter().enumerate() {
        match ProductId::parse(raw) {
            Ok(id) if !ids.contains(&id) => ids.push(id),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new(format!("product_ids[{i}]"), e)),
        }
    }
    if ids.len() > MAX_WARMUP {
        errors.push(FieldError::new(
            "product_ids",
            format!("at most {MAX_WARMUP} ids per warm-up"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (loaded, missing) = orders
        .warm_catalog(&ids, WARMUP_CONCURRENCY)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "product_service_unavailable",
                "Product service unavailable",
            )
            .retry_after(1)
            .caused_by(e.into())
        })?;
    Ok(HttpResponse::Ok().json(WarmupResponse {
        loaded: loaded.iter().map(ToString::to_string).collect(),
        missing: missing.iter().map(ToString::to_string).collect(),
    }))
}
