//! The OpenAPI document, generated from the handlers.

use utoipa::OpenApi;

/// The product service's API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Product service",
        description = "Products and stock. Stock is reserved for orders all-or-nothing through RabbitMQ events; this API creates and reads products.",
        version = "0.1.0"
    ),
    paths(
        crate::api::create_product,
        crate::api::get_product,
        crate::api::list_products,
        adapters::http::health::health,
    ),
    tags(
        (name = "products", description = "Products and their stock"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;
