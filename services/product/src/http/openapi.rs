//! The OpenAPI document, generated from the handlers.

use adapters::http::auth::openapi::{Access, secure};
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
    modifiers(&Secured),
    tags(
        (name = "products", description = "Products and their stock"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;

/// Which operations need no token, and which a caller's role may be refused.
const ACCESS: Access = Access {
    public: &[("get", "/products"), ("get", "/products/{id}")],
    refusable: &[
        ("post", "/products"),
        ("patch", "/products/{id}"),
        ("post", "/products/{id}/stock-adjustments"),
        ("get", "/products/{id}/stock-adjustments"),
        ("get", "/products/{id}/stock-adjustments/{adjustment_id}"),
        ("get", "/admin/dead-letters"),
        ("post", "/admin/dead-letters/replay"),
    ],
};

/// The bearer scheme, and the `401`/`403`/`429` answers (see [`secure`]).
#[derive(Debug)]
struct Secured;

impl Modify for Secured {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        secure(openapi, ACCESS);
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
