//! The shared server as a client sees it: a real listener on a free port, so that the
//! middleware order of `http_server` and the connection bounds are what is tested.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::dead_letters::DeadLetterQueue;
use crate::http::health::Readiness;
use crate::http::observe::MetricsEndpoint;
use crate::http::rate_limit::RateLimits;
use crate::http::{JsonBody, bind, http_server};
use crate::settings::{ClassLimit, HttpLimits, HttpSettings, RateLimitSettings};

fn http_settings(limits: impl FnOnce(&mut HttpLimits)) -> HttpSettings {
    let mut settings = HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
        workers: Some(1),
        shutdown_timeout_secs: 1,
        readiness_drain_ms: 0,
        limits: HttpLimits {
            request_head_timeout_ms: 5000,
            body_timeout_ms: 10_000,
            disconnect_timeout_ms: 1000,
            keep_alive_secs: 5,
            max_connections: 100,
            max_header_bytes: 16 * 1024,
            cors_allowed_origins: Vec::new(),
        },
    };
    limits(&mut settings.limits);
    settings
}

fn rate_limits() -> RateLimits {
    let generous = ClassLimit {
        per_second: 100,
        burst: 100,
    };
    RateLimits::new(&RateLimitSettings {
        enabled: true,
        trusted_proxies: Vec::new(),
        reads: generous,
        writes: generous,
        admin: ClassLimit {
            per_second: 1,
            burst: 1,
        },
    })
    .expect("valid rate limits")
}

/// Routes standing in for a service's: a JSON body, and a page that sets its own caching.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/echo",
        web::post()
            .to(|body: JsonBody<serde_json::Value>| async move { HttpResponse::Ok().json(body.0) }),
    )
    .route(
        "/swagger-ui/index.html",
        web::get().to(|| async {
            HttpResponse::Ok()
                .insert_header(("cache-control", "max-age=60"))
                .content_type("text/html")
                .body("<html></html>")
        }),
    );
}

/// Starts the shared server with `settings`; returns its base URL and the server's handle.
async fn serve(settings: HttpSettings) -> (String, actix_web::dev::ServerHandle) {
    let (listener, port) = bind(&settings).expect("a free port");
    let mut dead_letters = ports::messaging::MockDeadLetters::new();
    dead_letters
        .expect_peek()
        .returning(|_| Ok((0, Vec::new())));
    let server = http_server(
        listener,
        &settings,
        rate_limits(),
        Readiness::new(),
        DeadLetterQueue(Arc::new(dead_letters)),
        MetricsEndpoint::new(Vec::new()),
        // Trusts no key: these tests send no token.
        crate::http::auth::Authenticator::new(
            crate::http::auth::KeySource::Static(Arc::new(Vec::new())),
            "https://id.example",
            "shop-api",
            std::time::Duration::from_secs(30),
            Arc::new(ports::SystemClock),
        ),
        routes,
    )
    .expect("the server builds");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (format!("http://127.0.0.1:{port}"), handle)
}

fn assert_secured(response: &reqwest::Response, what: &str) {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_owned()
    };
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
    assert_eq!(header("content-security-policy"), super::API_CSP, "{what}");
}

#[actix_web::test]
async fn every_answer_carries_the_security_headers() {
    let (base, handle) = serve(http_settings(|_| {})).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let ok = get("/health/ready").await.expect("an answer");
    assert_eq!(ok.status(), 200);
    assert_secured(&ok, "200");

    let unknown = get("/nowhere").await.expect("an answer");
    assert_eq!(unknown.status(), 404);
    assert_secured(&unknown, "404");

    // No token on an admin route: a problem, answered by the authentication extractor.
    let invalid = get("/admin/dead-letters?limit=many")
        .await
        .expect("an answer");
    assert_eq!(invalid.status(), 401);
    assert_eq!(
        invalid.headers()["content-type"],
        "application/problem+json"
    );
    assert_secured(&invalid, "problem");

    // The admin bucket holds one request, and the one above took it.
    let limited = get("/admin/dead-letters").await.expect("an answer");
    assert_eq!(limited.status(), 429);
    assert_secured(&limited, "429");

    let unsupported = client
        .post(format!("{base}/echo"))
        .body("{}")
        .send()
        .await
        .expect("an answer");
    assert_eq!(unsupported.status(), 415);
    assert_secured(&unsupported, "415");
    handle.stop(false).await;
}

#[actix_web::test]
async fn the_swagger_ui_gets_a_policy_it_can_run_under_and_keeps_its_own_caching() {
    let (base, handle) = serve(http_settings(|_| {})).await;
    let page = reqwest::get(format!("{base}/swagger-ui/index.html"))
        .await
        .expect("an answer");
    assert_eq!(
        page.headers()["content-security-policy"],
        super::SWAGGER_UI_CSP
    );
    assert_eq!(page.headers()["cache-control"], "max-age=60");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    handle.stop(false).await;
}

#[actix_web::test]
async fn no_cors_headers_are_sent_unless_origins_are_configured() {
    let (base, handle) = serve(http_settings(|_| {})).await;
    let client = reqwest::Client::new();
    let answer = client
        .get(format!("{base}/health/ready"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{base}/echo"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("an answer");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_configured_origin_gets_cors_headers_and_others_do_not() {
    let origin = "https://app.example.com";
    let (base, handle) = serve(http_settings(|l| {
        l.cors_allowed_origins = vec![origin.to_owned()];
    }))
    .await;
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{base}/echo"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, idempotency-key",
        )
        .send()
        .await
        .expect("an answer");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], origin);
    assert_secured(&preflight, "preflight");

    let answer = client
        .get(format!("{base}/health/ready"))
        .header("origin", origin)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.headers()["access-control-allow-origin"], origin);

    let stranger = client
        .get(format!("{base}/health/ready"))
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .expect("an answer");
    assert!(
        stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_secured(&stranger, "refused origin");
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_client_sending_its_headers_too_slowly_is_cut_off() {
    let (base, handle) = serve(http_settings(|l| l.request_head_timeout_ms = 300)).await;
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("a connection");
    let started = Instant::now();
    // Half a request head, then nothing: the server must not wait for the rest.
    stream
        .write_all(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("the first bytes go out");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection well before 5 s");
    assert!(read.is_ok() || answer.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut off after {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_body_slower_than_its_deadline_is_refused_with_408() {
    let (base, handle) = serve(http_settings(|l| l.body_timeout_ms = 300)).await;
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("a connection");
    let started = Instant::now();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
        )
        .await
        .expect("the head goes out");
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer well before 5 s")
        .expect("a readable answer");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
    handle.stop(false).await;
}

#[actix_web::test]
async fn oversized_headers_are_refused_with_431() {
    let (base, handle) = serve(http_settings(|l| l.max_header_bytes = 1024)).await;
    let answer = reqwest::Client::new()
        .get(format!("{base}/health/ready"))
        .header("x-padding", "a".repeat(2048))
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 431);
    assert_secured(&answer, "431");
    handle.stop(false).await;
}
