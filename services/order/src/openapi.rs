//! The OpenAPI document, generated from the handlers.

use utoipa::OpenApi;

/// The order service's API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Order service",
        description = "Places orders priced from the product catalogue and follows them through their status machine: pending, then confirmed or rejected once the inventory answers over RabbitMQ.",
        version = "0.1.0"
    ),
    paths(
        crate::api::create_order,
        crate::api::get_order,
        crate::api::list_orders,
        crate::api::list_orders_of_product,
        adapters::http::health::health,
    ),
    tags(
        (name = "orders", description = "Orders and their status"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;
