//! HTTP handlers of the product service.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};

use adapters::http::idempotency::Idempotency;
use adapters::http::{
    ApiError, Cursor, FieldError, JsonBody, RawBody, etag, if_match, json_body, page_request,
    parse_id, precondition_failed,
};
use domain::product::{AdjustmentError, AdjustmentReason, StockDelta};
use domain::{Currency, MAX_STOCK, Money, ProductError, ProductId, ProductName, Stock};
use ports::inventory::{
    AdjustStock, AdjustStockError, CacheStatus, NewProduct, ProductChange, UpdateProductError,
};

use crate::dto::{
    CreateProductRequest, ListProductsQuery, PageQuery, ProductPage, ProductResponse,
    StockAdjustmentPage, StockAdjustmentRequest, StockAdjustmentResponse, UpdateProductRequest,
};
use crate::startup::Products;

/// The deployment currency, shared with the handlers.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentCurrency(pub Currency);

/// A request-scoped `X-Request-Id` a client sent (at most 128 visible ASCII characters).
fn request_id(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
}

fn product_not_found(id: ProductId) -> ApiError {
    ApiError::not_found("product_not_found", format!("no product {id}"))
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

fn parse_new_product(
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

fn parse_change(
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

fn update_error(e: UpdateProductError) -> ApiError {
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

fn parse_adjustment(
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

fn adjust_error(e: AdjustStockError) -> ApiError {
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

/// Creates a product.
#[utoipa::path(
    post,
    path = "/products",
    tag = "products",
    request_body = CreateProductRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body answer the first response again")),
    responses(
        (status = 201, description = "Created", body = ProductResponse,
            headers(("Location" = String, description = "URL of the new product"), ("ETag" = String, description = "The product's version"))),
        (status = 400, description = "Invalid body: each failing field is named", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this `Idempotency-Key` is still running; retry after `Retry-After`", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The `Idempotency-Key` was used for another request", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/products")]
pub async fn create_product(
    req: HttpRequest,
    products: web::Data<Products>,
    currency: web::Data<DeploymentCurrency>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let (req, body, products) = (&req, &body.0, &products);
    idempotency
        .run(req, body, |context| async move {
            let mut new = parse_new_product(json_body(req, body)?, currency.0)?;
            new.id = context.resource_id.map(ProductId::from_uuid);
            let product = products.create_product(new).await?;
            Ok(HttpResponse::Created()
                .insert_header((header::LOCATION, format!("/products/{}", product.id())))
                .insert_header(etag(product.version()))
                .json(ProductResponse::from(&product)))
        })
        .await
}

/// Reads a product (served from the cache when possible; `X-Cache` says which).
#[utoipa::path(
    get,
    path = "/products/{id}",
    tag = "products",
    params(("id" = String, Path, description = "Product id (UUID)")),
    responses(
        (status = 200, description = "The product", body = ProductResponse,
            headers(("ETag" = String, description = "The product's version"), ("X-Cache" = String, description = "HIT or MISS"))),
        (status = 400, description = "Malformed id", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/products/{id}")]
pub async fn get_product(
    products: web::Data<Products>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", &path, ProductId::parse)?;
    let (product, cache) = products.get_product(id).await?;
    let product = product.ok_or_else(|| product_not_found(id))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(product.version()))
        .insert_header((
            "X-Cache",
            match cache {
                CacheStatus::Hit => "HIT",
                CacheStatus::Miss => "MISS",
            },
        ))
        .json(ProductResponse::from(&product)))
}

fn parse_ids(raw: &str) -> Result<Vec<ProductId>, ApiError> {
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

/// Lists products newest first (keyset pagination), or fetches the products named in `ids`.
#[utoipa::path(
    get,
    path = "/products",
    tag = "products",
    params(ListProductsQuery),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 400, description = "Invalid limit, cursor or ids", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/products")]
pub async fn list_products(
    products: web::Data<Products>,
    query: web::Query<ListProductsQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(raw) = &query.ids {
        let ids = parse_ids(raw)?;
        let found = products.find_products(&ids).await?;
        return Ok(HttpResponse::Ok().json(ProductPage {
            items: found.iter().map(ProductResponse::from).collect(),
            next_cursor: None,
        }));
    }
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let page = products.list_products(page).await?;
    Ok(HttpResponse::Ok().json(ProductPage {
        items: page.items.iter().map(ProductResponse::from).collect(),
        next_cursor: page.next_after.map(|id| Cursor(id).encode()),
    }))
}

/// Changes a product's name and/or price. Honours `If-Match` (the `ETag` of a read): a stale
/// version is refused with `412`; without it the change applies to the current version. The
/// version goes up by one, `product.updated` is published, and the cached copy is evicted.
#[utoipa::path(
    patch,
    path = "/products/{id}",
    tag = "products",
    request_body = UpdateProductRequest,
    params(
        ("id" = String, Path, description = "Product id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` of the version the change is based on, such as `\"3\"`"),
    ),
    responses(
        (status = 200, description = "Changed (or already so)", body = ProductResponse,
            headers(("ETag" = String, description = "The product's new version"))),
        (status = 400, description = "Invalid body, id or `If-Match`: each failing field is named", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names a stale version (`current_version` says which is current)", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/products/{id}")]
pub async fn update_product(
    req: HttpRequest,
    products: web::Data<Products>,
    currency: web::Data<DeploymentCurrency>,
    path: web::Path<String>,
    body: JsonBody<UpdateProductRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id("id", &path, ProductId::parse)?;
    let expected_version = if_match(&req)?;
    let change = parse_change(body.0, currency.0, expected_version)?;
    let product = products
        .update_product(id, change)
        .await
        .map_err(update_error)?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(product.version()))
        .json(ProductResponse::from(&product)))
}

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
        ("id" = String, Path, description = "Product id (UUID)"),
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
    req: HttpRequest,
    products: web::Data<Products>,
    idempotency: web::Data<Idempotency>,
    path: web::Path<String>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
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
    params(("id" = String, Path, description = "Product id (UUID)"), PageQuery),
    responses(
        (status = 200, description = "A page of adjustments", body = StockAdjustmentPage),
        (status = 400, description = "Invalid id, limit or cursor", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/products/{id}/stock-adjustments")]
pub async fn list_adjustments(
    products: web::Data<Products>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
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
        ("id" = String, Path, description = "Product id (UUID)"),
        ("adjustment_id" = String, Path, description = "Adjustment id (UUID)"),
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
    products: web::Data<Products>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
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
