//! Handlers of products: create, get, list (a page or named ids) and update.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};

use adapters::http::auth::Authenticated;
use adapters::http::idempotency::Idempotency;
use adapters::http::{
    ApiError, Cursor, JsonBody, RawBody, etag, if_match, json_body, page_request, parse_id,
};
use domain::{Action, ProductId};
use ports::inventory::CacheStatus;

use super::dto::{
    CreateProductRequest, ListProductsQuery, ProductPage, ProductResponse, UpdateProductRequest,
};
use super::errors::{product_not_found, update_error};
use super::parse::{parse_change, parse_ids, parse_new_product};
use super::{DeploymentCurrency, Products};

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
    caller: Authenticated,
    req: HttpRequest,
    products: web::Data<Products>,
    currency: web::Data<DeploymentCurrency>,
    idempotency: web::Data<Idempotency>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::ManageCatalog)?;
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
    params(("id" = uuid::Uuid, Path, description = "Product id (UUID)")),
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
        ("id" = uuid::Uuid, Path, description = "Product id (UUID)"),
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
    caller: Authenticated,
    req: HttpRequest,
    products: web::Data<Products>,
    currency: web::Data<DeploymentCurrency>,
    path: web::Path<String>,
    body: JsonBody<UpdateProductRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::ManageCatalog)?;
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
