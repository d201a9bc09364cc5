//! The OpenAPI document, generated from the handlers.

use utoipa::OpenApi;

/// The product service's API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Product service",
        description = "Products and stock. Stock is reserved for orders all-or-nothing through RabbitMQ events, released when an order is cancelled and consumed when it ships; this API creates, reads and changes products and adjusts their stock.",
        version = "0.1.0"
    ),
    paths(
        crate::api::create_product,
        crate::api::get_product,
        crate::api::list_products,
        crate::api::update_product,
        crate::api::adjust_stock,
        crate::api::list_adjustments,
        crate::api::get_adjustment,
        adapters::http::health::health,
        adapters::http::health::ready,
        adapters::http::dead_letters::list_dead_letters,
        adapters::http::dead_letters::replay_dead_letters,
    ),
    tags(
        (name = "products", description = "Products and their stock"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;
