//! Swagger UI, the OpenAPI documents and health.

use testkit::spawn_system;

fn paths(spec: &serde_json::Value) -> Vec<String> {
    let mut p: Vec<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    p.sort();
    p
}

#[tokio::test]
async fn both_services_serve_swagger_ui_and_a_complete_spec() {
    let sys = spawn_system().await;
    for base in [&sys.order.base_url, &sys.product.base_url] {
        let ui = sys.get(base, "/swagger-ui/").await;
        assert_eq!(ui.status, 200);
        assert!(ui.header("content-type").unwrap().starts_with("text/html"));
        assert!(
            ui.text.contains("swagger-ui"),
            "the UI page loads Swagger UI"
        );
    }
    let order = sys.get(&sys.order.base_url, "/api-docs/openapi.json").await;
    assert_eq!(
        paths(&order.body),
        [
            "/health",
            "/orders",
            "/orders/product/{product_id}",
            "/orders/{id}"
        ]
    );
    assert!(order.body["paths"]["/orders"]["post"]["responses"]["422"].is_object());
    let product = sys
        .get(&sys.product.base_url, "/api-docs/openapi.json")
        .await;
    assert_eq!(
        paths(&product.body),
        ["/health", "/products", "/products/{id}"]
    );
    sys.stop().await;
}

#[tokio::test]
async fn health_reports_every_dependency() {
    let sys = spawn_system().await;
    let order = sys.get(&sys.order.base_url, "/health").await;
    assert_eq!(order.status, 200, "{}", order.text);
    assert_eq!(order.body["status"], "healthy");
    for dep in ["database", "redis", "rabbitmq", "product_service"] {
        assert_eq!(order.body["services"][dep], "up", "{dep}: {}", order.text);
    }
    let product = sys.get(&sys.product.base_url, "/health").await;
    assert_eq!(product.body["status"], "healthy", "{}", product.text);
    for dep in ["database", "redis", "rabbitmq"] {
        assert_eq!(product.body["services"][dep], "up");
    }
    sys.stop().await;
}
