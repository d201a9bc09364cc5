//! Swagger UI, the OpenAPI documents and health.

use testkit::TestSystem;

fn paths(spec: &serde_json::Value) -> Vec<String> {
    let mut p: Vec<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    p.sort();
    p
}

async fn both_services_serve_swagger_ui_and_a_complete_spec(sys: TestSystem) {
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
            "/admin/cache/warmup",
            "/admin/dead-letters",
            "/admin/dead-letters/replay",
            "/health",
            "/health/ready",
            "/orders",
            "/orders/product/{product_id}",
            "/orders/{id}",
            "/orders/{id}/cancel",
            "/orders/{id}/deliver",
            "/orders/{id}/history",
            "/orders/{id}/ship",
        ]
    );
    assert!(order.body["paths"]["/orders"]["post"]["responses"]["422"].is_object());
    let product = sys
        .get(&sys.product.base_url, "/api-docs/openapi.json")
        .await;
    assert_eq!(
        paths(&product.body),
        [
            "/admin/dead-letters",
            "/admin/dead-letters/replay",
            "/health",
            "/health/ready",
            "/products",
            "/products/{id}",
            "/products/{id}/stock-adjustments",
            "/products/{id}/stock-adjustments/{adjustment_id}",
        ]
    );
    sys.stop().await;
}

async fn health_reports_every_dependency(sys: TestSystem) {
    for base in [&sys.order.base_url, &sys.product.base_url] {
        let ready = sys.get(base, "/health/ready").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.body["ready"], true);
    }
    let (order_deps, product_deps) = sys.health_dependencies();
    for (base, deps) in [
        (&sys.order.base_url, order_deps),
        (&sys.product.base_url, product_deps),
    ] {
        let health = sys.get(base, "/health").await;
        assert_eq!(health.status, 200, "{}", health.text);
        assert_eq!(health.body["status"], "healthy", "{}", health.text);
        let reported = health.body["services"].as_object().unwrap();
        assert_eq!(reported.len(), deps.len(), "{}", health.text);
        for dep in deps {
            assert_eq!(health.body["services"][dep], "up", "{dep}: {}", health.text);
        }
    }
    sys.stop().await;
}

both!(both_services_serve_swagger_ui_and_a_complete_spec);
both!(health_reports_every_dependency);
