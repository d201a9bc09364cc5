//! The OpenAPI document, generated from the handlers.

use adapters::http::auth::openapi::{Access, secure};
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
    modifiers(&Secured),
    tags(
        (name = "orders", description = "Orders and their status"),
        (name = "operations", description = "Health and cache warm-up"),
    )
)]
pub struct ApiDoc;

/// Which operations need no token, and which a caller's role may be refused.
const ACCESS: Access = Access {
    public: &[],
    refusable: &[
        ("post", "/orders"),
        ("post", "/orders/{id}/ship"),
        ("post", "/orders/{id}/deliver"),
        ("post", "/admin/cache/warmup"),
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
