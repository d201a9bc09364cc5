//! HTTP handlers of the product service.

use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpResponse, get, post, web};

use adapters::http::{ApiError, Cursor, FieldError, JsonBody, page_request, parse_id};
use domain::{Currency, Money, ProductId, ProductName, Stock};
use ports::inventory::{CacheStatus, NewProduct};

use crate::dto::{CreateProductRequest, ListProductsQuery, ProductPage, ProductResponse};
use crate::startup::Products;

/// The deployment currency, shared with the handlers.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentCurrency(pub Currency);

fn etag(version: u32) -> ETag {
    ETag(EntityTag::new_strong(version.to_string()))
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
    if let Some(sent) = &body.currency
        && sent != currency.code()
    {
        errors.push(FieldError::new(
            "currency",
            format!("prices are in {currency} in this deployment, not `{sent}`"),
        ));
    }
    match (name, price, stock) {
        (Some(name), Some(price), Some(stock)) if errors.is_empty() => {
            Ok(NewProduct { name, price, stock })
        }
        _ => Err(ApiError::validation(errors)),
    }
}

/// Creates a product.
#[utoipa::path(
    post,
    path = "/products",
    tag = "products",
    request_body = CreateProductRequest,
    responses(
        (status = 201, description = "Created", body = ProductResponse,
            headers(("Location" = String, description = "URL of the new product"), ("ETag" = String, description = "The product's version"))),
        (status = 400, description = "Invalid body: each failing field is named", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = adapters::http::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = adapters::http::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/products")]
pub async fn create_product(
    products: web::Data<Products>,
    currency: web::Data<DeploymentCurrency>,
    body: JsonBody<CreateProductRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = parse_new_product(body.0, currency.0)?;
    let product = products.create_product(new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/products/{}", product.id())))
        .insert_header(etag(product.version()))
        .json(ProductResponse::from(&product)))
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
    let product = product
        .ok_or_else(|| ApiError::not_found("product_not_found", format!("no product {id}")))?;
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
