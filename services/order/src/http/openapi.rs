//! The OpenAPI document, generated from the handlers.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The order service's API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Order service",
        description = "Places orders priced from the product catalogue and follows them through their status machine: pending, then confirmed or rejected once the inventory answers; then shipped and delivered, or cancelled. Unsafe requests accept an `Idempotency-Key`; changes of an order honour `If-Match` with the `ETag` of a read.",
        version = "0.1.0"
    ),
    paths(
        crate::http::orders::create_order,
        crate::http::orders::get_order,
        crate::http::orders::list_orders,
        crate::http::orders::list_orders_of_product,
        crate::http::orders::order_history,
        crate::http::changes::update_order,
        crate::http::changes::cancel_order,
        crate::http::changes::delete_order,
        crate::http::changes::ship_order,
        crate::http::changes::deliver_order,
        crate::http::admin::warm_cache,
        adapters::http::health::health,
        adapters::http::health::ready,
        adapters::http::dead_letters::list_dead_letters,
        adapters::http::dead_letters::replay_dead_letters,
    ),
    tags(
        (name = "orders", description = "Orders and their status"),
        (name = "operations", description = "Health and cache warm-up"),
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Declares the bearer (JWT) scheme, named `bearer`, as what every operation requires (Swagger
/// UI's Authorize button sends it), except the health probes, which answer anyone.
#[derive(Debug)]
struct BearerAuth;

/// Paths whose `GET` needs no token.
const PUBLIC_GETS: &[&str] = &["/health", "/health/ready"];

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An ES256 or RS256 JWT from the issuer named in `[auth]`, for its audience: its `role` claim is `customer` (its own orders only) or `admin` (everything).",
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

    /// `openapi/order.json` is exactly what `make openapi` writes from this code, so that the
    /// committed contract never drifts from the server.
    #[test]
    fn the_committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/order.json");
        let committed = std::fs::read_to_string(path).expect("openapi/order.json is readable");
        let current = super::ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document renders");
        assert!(
            committed == format!("{current}\n"),
            "openapi/order.json is stale: run make openapi and commit it"
        );
    }
}
