//! The OpenAPI document, generated from the handlers.

use utoipa::OpenApi;

/// The order service's API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Order service",
        description = "Places orders priced from the product catalogue and follows them through their status machine: pending, then confirmed or rejected once the inventory answers; then shipped and delivered, or cancelled. Unsafe requests accept an `Idempotency-Key`; changes of an order honour `If-Match` with the `ETag` of a read.",
        version = "0.1.0"
    ),
    paths(
        crate::api::create_order,
        crate::api::get_order,
        crate::api::list_orders,
        crate::api::list_orders_of_product,
        crate::api::order_history,
        crate::api::update_order,
        crate::api::cancel_order,
        crate::api::delete_order,
        crate::api::ship_order,
        crate::api::deliver_order,
        crate::api::warm_cache,
        adapters::http::health::health,
        adapters::http::health::ready,
        adapters::http::dead_letters::list_dead_letters,
        adapters::http::dead_letters::replay_dead_letters,
    ),
    tags(
        (name = "orders", description = "Orders and their status"),
        (name = "operations", description = "Health and cache warm-up"),
    )
)]
pub struct ApiDoc;
