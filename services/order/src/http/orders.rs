//! Handlers that place and read orders: create, get, list (all or by product) and history.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use adapters::http::auth::Authenticated;
use adapters::http::idempotency::Idempotency;
use adapters::http::{
    ApiError, Cursor, FieldError, RawBody, etag, json_body, page_request, parse_id,
};
use domain::{CustomerId, OrderId, ProductId};
use ports::ordering::OrderFilter;

use super::Orders;
use super::dto::{
    CreateOrderRequest, HistoryEntryResponse, HistoryResponse, ListOrdersQuery, OrderPage,
    OrderResponse, PageQuery,
};
use super::errors::{place_error, read_error};
use super::parse::{cause, parse_order, parse_status};

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
    caller: Authenticated,
    orders: web::Data<Orders>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let (req, body, orders) = (&req, &body.0, &orders);
    let caller = caller.0;
    idempotency
        .run(req, body, |context| async move {
            let parsed: CreateOrderRequest = json_body(req, body)?;
            let mut request = parse_order(parsed, caller, cause(req, &context))?;
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
    params(("id" = uuid::Uuid, Path, description = "Order id (UUID)")),
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
    caller: Authenticated,
    orders: web::Data<Orders>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", &path, OrderId::parse)?;
    let order = orders
        .find_order(id, &caller.0)
        .await
        .map_err(read_error)?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(order.version()))
        .json(OrderResponse::from(&order)))
}

async fn list(
    orders: &Orders,
    caller: &Authenticated,
    filter: OrderFilter,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let page = page_request(limit, cursor)?;
    let page = orders
        .list_orders(&filter, page, &caller.0)
        .await
        .map_err(read_error)?;
    Ok(HttpResponse::Ok().json(OrderPage {
        items: page.items.iter().map(OrderResponse::from).collect(),
        next_cursor: page.next_after.map(|id| Cursor(id).encode()),
    }))
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
    caller: Authenticated,
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
    list(
        &orders,
        &caller,
        filter,
        query.limit,
        query.cursor.as_deref(),
    )
    .await
}

/// Lists the orders that contain a product, newest first.
#[utoipa::path(
    get,
    path = "/orders/product/{product_id}",
    tag = "orders",
    params(("product_id" = uuid::Uuid, Path, description = "Product id (UUID)"), PageQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "Malformed id, limit or cursor", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders/product/{product_id}")]
pub async fn list_orders_of_product(
    caller: Authenticated,
    orders: web::Data<Orders>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let product_id = parse_id("product_id", &path, ProductId::parse)?;
    let filter = OrderFilter {
        product_id: Some(product_id),
        ..OrderFilter::default()
    };
    list(
        &orders,
        &caller,
        filter,
        query.limit,
        query.cursor.as_deref(),
    )
    .await
}

/// Every change of an order, oldest first: the transitions with their reason and cause, and
/// details updates.
#[utoipa::path(
    get,
    path = "/orders/{id}/history",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id (UUID)")),
    responses(
        (status = 200, description = "The history", body = HistoryResponse),
        (status = 400, description = "Malformed id", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/orders/{id}/history")]
pub async fn order_history(
    caller: Authenticated,
    orders: web::Data<Orders>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", &path, OrderId::parse)?;
    let history = orders
        .history(id, &caller.0)
        .await
        .map_err(read_error)?
        .ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {id}")))?;
    Ok(HttpResponse::Ok().json(HistoryResponse {
        order_id: id.to_string(),
        items: history.iter().map(HistoryEntryResponse::from).collect(),
    }))
}
