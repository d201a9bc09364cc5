//! Handlers of a product's stock: adjust it, list and read its adjustments.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use adapters::http::auth::Authenticated;
use adapters::http::idempotency::Idempotency;
use adapters::http::{
    ApiError, Cursor, FieldError, RawBody, etag, if_match, json_body, page_request, parse_id,
};
use domain::{Action, ProductId};

use super::Products;
use super::dto::{PageQuery, StockAdjustmentPage, StockAdjustmentRequest, StockAdjustmentResponse};
use super::errors::{adjust_error, product_not_found};
use super::parse::{parse_adjustment, request_id};

/// Adjusts a product's stock by hand (a delivery, a recount, breakage). The stock never goes
/// below zero: such an adjustment is refused with `409 insufficient_stock` and nothing is
/// written. Every adjustment is recorded; the product's version goes up by one. Honours
/// `If-Match` like `PATCH`.
#[utoipa::path(
    post,
    path = "/products/{id}/stock-adjustments",
    tag = "products",
    request_body = StockAdjustmentRequest,
    params(
        ("id" = uuid::Uuid, Path, description = "Product id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` of the version the adjustment is based on, such as `\"3\"`"),
        ("X-Request-Id" = Option<String>, Header, description = "Kept with the adjustment as its cause (at most 128 characters)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body answer the first response again"),
    ),
    responses(
        (status = 201, description = "Adjusted and recorded", body = StockAdjustmentResponse,
            headers(("Location" = String, description = "URL of the adjustment"), ("ETag" = String, description = "The product's new version"))),
        (status = 400, description = "Invalid body, id or `If-Match`: each failing field is named", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_stock`: the stock would go below zero (`stock` is the current stock), or `stock_limit_exceeded`; nothing was written. Or `idempotency_key_in_progress`", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The `Idempotency-Key` was used for another request", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names a stale version (`current_version` says which is current)", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/products/{id}/stock-adjustments")]
pub async fn adjust_stock(
    caller: Authenticated,
    req: HttpRequest,
    products: web::Data<Products>,
    idempotency: web::Data<Idempotency>,
    path: web::Path<String>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::ManageCatalog)?;
    let id = parse_id("id", &path, ProductId::parse)?;
    let expected_version = if_match(&req)?;
    let (req, body, products) = (&req, &body.0, &products);
    idempotency
        .run(req, body, |context| async move {
            let cause = context.key.clone().or_else(|| request_id(req));
            let mut request = parse_adjustment(json_body(req, body)?, expected_version, cause)?;
            request.adjustment_id = context.resource_id;
            let (product, adjustment) = products
                .adjust_stock(id, request)
                .await
                .map_err(adjust_error)?;
            Ok(HttpResponse::Created()
                .insert_header((
                    header::LOCATION,
                    format!("/products/{id}/stock-adjustments/{}", adjustment.id),
                ))
                .insert_header(etag(product.version()))
                .json(StockAdjustmentResponse::from(&adjustment)))
        })
        .await
}

/// Lists a product's stock adjustments, newest first (keyset pagination).
#[utoipa::path(
    get,
    path = "/products/{id}/stock-adjustments",
    tag = "products",
    params(("id" = uuid::Uuid, Path, description = "Product id (UUID)"), PageQuery),
    responses(
        (status = 200, description = "A page of adjustments", body = StockAdjustmentPage),
        (status = 400, description = "Invalid id, limit or cursor", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/products/{id}/stock-adjustments")]
pub async fn list_adjustments(
    caller: Authenticated,
    products: web::Data<Products>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::ManageCatalog)?;
    let id = parse_id("id", &path, ProductId::parse)?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let page = products
        .list_adjustments(id, page)
        .await?
        .ok_or_else(|| product_not_found(id))?;
    Ok(HttpResponse::Ok().json(StockAdjustmentPage {
        items: page
            .items
            .iter()
            .map(StockAdjustmentResponse::from)
            .collect(),
        next_cursor: page.next_after.map(|id| Cursor(id).encode()),
    }))
}

/// Reads one stock adjustment of a product.
#[utoipa::path(
    get,
    path = "/products/{id}/stock-adjustments/{adjustment_id}",
    tag = "products",
    params(
        ("id" = uuid::Uuid, Path, description = "Product id (UUID)"),
        ("adjustment_id" = uuid::Uuid, Path, description = "Adjustment id (UUID)"),
    ),
    responses(
        (status = 200, description = "The adjustment", body = StockAdjustmentResponse),
        (status = 400, description = "Malformed id", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such adjustment of this product", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/products/{id}/stock-adjustments/{adjustment_id}")]
pub async fn get_adjustment(
    caller: Authenticated,
    products: web::Data<Products>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::ManageCatalog)?;
    let (raw_id, raw_adjustment) = path.into_inner();
    let id = parse_id("id", &raw_id, ProductId::parse)?;
    let adjustment_id = uuid::Uuid::try_parse(raw_adjustment.trim()).map_err(|_| {
        ApiError::validation(vec![FieldError::new(
            "adjustment_id",
            format!("`{raw_adjustment}` is not a valid adjustment id"),
        )])
    })?;
    let adjustment = products
        .get_adjustment(id, adjustment_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "stock_adjustment_not_found",
                format!("no stock adjustment {adjustment_id} of product {id}"),
            )
        })?;
    Ok(HttpResponse::Ok().json(StockAdjustmentResponse::from(&adjustment)))
}
