//! Talking to the services' APIs: requests to any endpoint, the answer read whole as a
//! [`Reply`], and helpers for the endpoints tests use most (products, orders).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::TestSystem;

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// Raw body.
    pub text: String,
}

impl Reply {
    /// Reads a response whole.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status and code, and returns it.
    pub fn assert_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status, body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type"
        );
        assert_eq!(self.body["code"], code, "problem code, body: {}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string());
        &self.body
    }

    /// The `field` names of a validation problem.
    pub fn failing_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestSystem {
    /// `GET` on a service.
    pub async fn get(&self, base: &str, path: &str) -> Reply {
        Reply::read(
            self.http
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("GET failed"),
        )
        .await
    }

    /// `POST` JSON on a service.
    pub async fn post_json(&self, base: &str, path: &str, body: &Value) -> Reply {
        Reply::read(
            self.http
                .post(format!("{base}{path}"))
                .json(body)
                .send()
                .await
                .expect("POST failed"),
        )
        .await
    }

    /// Any request, with headers (`If-Match`, `Idempotency-Key`...) and an optional JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{base}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::read(request.send().await.expect("request failed")).await
    }

    /// Any request as another caller: `token` is the bearer token to send, `None` for none
    /// at all (the default client would send the admin's).
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let mut request = client.request(method, format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::read(request.send().await.expect("request failed")).await
    }

    /// Places an order and waits until the inventory answered; panics unless it ends in
    /// `expected`.
    pub async fn settled_order(&self, lines: &[(&str, i64)], expected: &str) -> Value {
        let reply = self.place_order(lines).await;
        assert_eq!(reply.status, 201, "place order: {}", reply.text);
        let order = self
            .wait_settled(
                reply.body["id"].as_str().expect("an order id"),
                Duration::from_secs(20),
            )
            .await;
        assert_eq!(order["status"], expected, "{order}");
        order
    }

    /// `POST` a raw body with a content type.
    pub async fn post_raw(&self, base: &str, path: &str, content_type: &str, body: &str) -> Reply {
        Reply::read(
            self.http
                .post(format!("{base}{path}"))
                .header("content-type", content_type)
                .body(body.to_owned())
                .send()
                .await
                .expect("POST failed"),
        )
        .await
    }

    /// Creates a product and returns its body; panics unless `201`.
    pub async fn create_product(&self, name: &str, price: &str, stock: i64) -> Value {
        let reply = self
            .post_json(
                &self.product.base_url,
                "/products",
                &json!({"name": name, "price": price, "stock": stock}),
            )
            .await;
        assert_eq!(reply.status, 201, "create product: {}", reply.text);
        reply.body
    }

    /// `POST /orders` with `(product_id, quantity)` lines.
    pub async fn place_order(&self, lines: &[(&str, i64)]) -> Reply {
        let items: Vec<Value> = lines
            .iter()
            .map(|(id, q)| json!({"product_id": id, "quantity": q}))
            .collect();
        self.post_json(&self.order.base_url, "/orders", &json!({"items": items}))
            .await
    }

    /// `GET /orders/{id}`.
    pub async fn get_order(&self, id: &str) -> Reply {
        self.get(&self.order.base_url, &format!("/orders/{id}"))
            .await
    }

    /// `GET /products/{id}`.
    pub async fn get_product(&self, id: &str) -> Reply {
        self.get(&self.product.base_url, &format!("/products/{id}"))
            .await
    }

    /// Polls an order until it leaves `pending` (or `timeout` passes) and returns it.
    pub async fn wait_settled(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.get_order(id).await;
            assert_eq!(reply.status, 200, "get order: {}", reply.text);
            if reply.body["status"] != "pending" || Instant::now() >= deadline {
                return reply.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
