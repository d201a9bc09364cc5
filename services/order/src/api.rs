//! HTTP handlers of the order service.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use std::collections::HashMap;

use adapters::http::{ApiError, Cursor, FieldError, JsonBody, page_request, parse_id};
use domain::{
    CustomerId, MAX_ITEMS_PER_ORDER, OrderId, OrderLine, OrderStatus, ProductId, Quantity,
};
use ports::orders::{Cause, OrderFilter, PlaceOrder, PlaceOrderError};

use crate::dto::{CreateOrderRequest, ListOrdersQuery, OrderPage, OrderResponse, PageQuery};
use crate::startup::Orders;

fn etag(version: u32) -> ETag {
    ETag(EntityTag::new_strong(version.to_string()))
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
        customer_id,
        lines,
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
                err = err.with("errors", errors);
            }
            err
        }
        PlaceOrderError::Catalog(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "product_service_unavailable",
            "Product service unavailable",
        )
        .detail("prices could not be read from the product service; retry shortly")
        .retry_after(1)
        .caused_by(e.into()),
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
    responses(
        (status = 201, description = "Placed (status `pending`)", body = OrderResponse,
            headers(("Location" = String, description = "URL of the new order"), ("ETag" = String, description = "The order's version"))),
        (status = 400, description = "Invalid body: each failing field is named", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Some products do not exist", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Product service or database unavailable; retry after `Retry-After`", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/orders")]
pub async fn create_order(
    req: HttpRequest,
    orders: web::Data<Orders>,
    body: JsonBody<CreateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = parse_order(body.0, Cause::Request(request_id(&req)))?;
    let lines = request.lines.clone();
    let order = orders
        .place_order(request)
        .await
        .map_err(|e| place_error(e, &lines))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/orders/{}", order.id())))
        .insert_header(etag(order.version()))
        .json(OrderResponse::from(&order)))
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
