//! Operations handlers: the price cache warm-up.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, post, web};

use adapters::http::auth::Authenticated;
use adapters::http::{ApiError, FieldError, JsonBody};
use domain::{Action, ProductId};

use super::Orders;
use super::dto::{WarmupRequest, WarmupResponse};

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
    caller: Authenticated,
    orders: web::Data<Orders>,
    body: JsonBody<WarmupRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Operate)?;
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
