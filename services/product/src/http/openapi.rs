//! The OpenAPI document, generated from the handlers.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The product service's API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Product service",
        description = "Products and stock. Stock is reserved for orders all-or-nothing through RabbitMQ events, released when an order is cancelled and consumed when it ships; this API creates, reads and changes products and adjusts their stock.",
        version = "0.1.0"
    ),
    paths(
        crate::http::products::create_product,
        crate::http::products::get_product,
        crate::http::products::list_products,
        crate::http::products::update_product,
        crate::http::stock::adjust_stock,
        crate::http::stock::list_adjustments,
        crate::http::stock::get_adjustment,
        adapters::http::health::health,
        adapters::http::health::ready,
        adapters::http::dead_letters::list_dead_letters,
        adapters::http::dead_letters::replay_dead_letters,
    ),
    tags(
        (name = "products", description = "Products and their stock"),
        (name = "operations", description = "Health"),
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Declares the bearer (JWT) scheme, named `bearer`, as what every operation requires (Swagger
/// UI's Authorize button sends it), except the product reads and the health probes, which answer anyone.
#[derive(Debug)]
struct BearerAuth;

/// Paths whose `GET` needs no token.
const PUBLIC_GETS: &[&str] = &["/products", "/products/{id}", "/health", "/health/ready"];

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An ES256 or RS256 JWT from the issuer named in `[auth]`, for its audience: its `role` claim is `customer` or `admin`, and changes, stock adjustments and operations need `admin`.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        for path in PUBLIC_GETS {
            let item = openapi.paths.paths.get_mut(*path);
            if let Some(operation) = item.and_then(|item| item.get.as_mut()) {
                // An empty requirement: no credentials needed.
                operation.security = Some(vec![SecurityRequirement::default()]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// `openapi/product.json` is exactly what `make openapi` writes from this code, so that the
    /// committed contract never drifts from the server.
    #[test]
    fn the_committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/product.json");
        let committed = std::fs::read_to_string(path).expect("openapi/product.json is readable");
        let current = super::ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document renders");
        assert!(
            committed == format!("{current}\n"),
            "openapi/product.json is stale: run make openapi and commit it"
        );
    }
}
