use std::time::Duration;

use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::test::{TestRequest, call_service, init_service, read_body_json};
use actix_web::{App, HttpResponse};
use governor::clock::FakeRelativeClock;

use super::*;

const PEER: &str = "198.51.100.7:40000";
const PROXY: &str = "10.0.0.2:40000";

fn settings(reads: u32, writes: u32, admin: u32) -> RateLimitSettings {
    let limit = |burst| ClassLimit {
        per_second: 1,
        burst,
    };
    RateLimitSettings {
        enabled: true,
        trusted_proxies: vec!["10.0.0.0/8".into()],
        reads: limit(reads),
        writes: limit(writes),
        admin: limit(admin),
    }
}

fn limits(reads: u32, writes: u32, admin: u32) -> (RateLimits, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let limits = RateLimits::with_clock(
        &settings(reads, writes, admin),
        LimiterClock::Fake(clock.clone()),
    )
    .expect("valid settings");
    (limits, clock)
}

/// An app with every kind of route, limited by `limits`; a `x-caller` header stands in for the
/// authentication middleware, naming the caller with a [`CallerKey`].
macro_rules! app {
    ($limits:expr) => {
        init_service(
            App::new()
                .app_data(web::Data::new($limits))
                .wrap(from_fn(middleware))
                .wrap(from_fn(authenticate))
                .route("/orders", web::get().to(HttpResponse::Ok))
                .route("/orders", web::post().to(HttpResponse::Created))
                .route("/health", web::get().to(HttpResponse::Ok))
                .route("/health/ready", web::get().to(HttpResponse::Ok))
                .route("/metrics", web::get().to(HttpResponse::Ok))
                .route("/admin/dead-letters", web::get().to(HttpResponse::Ok))
                .route(
                    "/admin/dead-letters/replay",
                    web::post().to(HttpResponse::Ok),
                ),
        )
        .await
    };
}

async fn authenticate(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let caller = request
        .headers()
        .get("x-caller")
        .and_then(|v| v.to_str().ok())
        .map(|caller| CallerKey(caller.to_owned()));
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    next.call(request).await
}

fn get(path: &str, peer: &str) -> TestRequest {
    TestRequest::get()
        .uri(path)
        .peer_addr(peer.parse().expect("a socket address"))
}

fn text<B>(response: &ServiceResponse<B>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn an_exhausted_burst_answers_429_with_retry_after_and_ratelimit_headers() {
    let (limits, _clock) = limits(2, 10, 10);
    let app = app!(limits);
    for remaining in [1, 0] {
        let ok = call_service(&app, get("/orders", PEER).to_request()).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(text(&ok, "ratelimit-policy"), "\"reads\";q=2;w=2");
        assert!(text(&ok, "ratelimit").starts_with(&format!("\"reads\";r={remaining};t=")));
    }
    let refused = call_service(&app, get("/orders", PEER).to_request()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(text(&refused, "retry-after"), "1");
    assert_eq!(text(&refused, "ratelimit-policy"), "\"reads\";q=2;w=2");
    assert_eq!(text(&refused, "ratelimit"), "\"reads\";r=0;t=1");
    assert_eq!(
        text(&refused, header::CONTENT_TYPE.as_str()),
        "application/problem+json"
    );
    let body: serde_json::Value = read_body_json(refused).await;
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["status"], 429);
}

#[actix_web::test]
async fn retry_after_rounds_the_wait_up_to_whole_seconds() {
    let (limits, clock) = limits(1, 1, 1);
    let app = app!(limits);
    call_service(&app, get("/orders", PEER).to_request()).await;
    clock.advance(Duration::from_millis(100));
    let refused = call_service(&app, get("/orders", PEER).to_request()).await;
    // 0.9 s left: a client waiting 0 s would be refused again.
    assert_eq!(text(&refused, "retry-after"), "1");
}

#[actix_web::test]
async fn a_caller_is_allowed_again_once_the_clock_has_refilled_its_bucket() {
    let (limits, clock) = limits(1, 1, 1);
    let app = app!(limits);
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        200
    );
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        429
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn two_addresses_have_separate_buckets() {
    let (limits, _clock) = limits(1, 1, 1);
    let app = app!(limits);
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        200
    );
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        429
    );
    let other = "203.0.113.9:5000";
    assert_eq!(
        call_service(&app, get("/orders", other).to_request())
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn two_authenticated_callers_behind_one_address_have_separate_buckets() {
    let (limits, _clock) = limits(1, 1, 1);
    let app = app!(limits);
    let as_caller = |who| {
        get("/orders", PEER)
            .insert_header(("x-caller", who))
            .to_request()
    };
    assert_eq!(call_service(&app, as_caller("alice")).await.status(), 200);
    assert_eq!(call_service(&app, as_caller("alice")).await.status(), 429);
    assert_eq!(call_service(&app, as_caller("bob")).await.status(), 200);
    // The address's own bucket is untouched by its authenticated callers.
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let (limits, _clock) = limits(1, 1, 1);
    let app = app!(limits);
    let spoofed = |client: &str| {
        get("/orders", PEER)
            .insert_header(("x-forwarded-for", client.to_owned()))
            .to_request()
    };
    assert_eq!(call_service(&app, spoofed("192.0.2.1")).await.status(), 200);
    // A fresh forwarded address does not buy the peer a fresh bucket.
    assert_eq!(call_service(&app, spoofed("192.0.2.2")).await.status(), 429);
}

#[actix_web::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let (limits, _clock) = limits(1, 1, 1);
    let app = app!(limits);
    // The client wrote the leftmost hop itself; the proxies appended the rest.
    let via_proxy = |chain: &str| {
        get("/orders", PROXY)
            .insert_header(("x-forwarded-for", chain.to_owned()))
            .to_request()
    };
    assert_eq!(
        call_service(&app, via_proxy("1.1.1.1, 192.0.2.1, 10.0.0.9"))
            .await
            .status(),
        200
    );
    assert_eq!(
        call_service(&app, via_proxy("8.8.8.8, 192.0.2.1, 10.0.0.9"))
            .await
            .status(),
        429
    );
    assert_eq!(
        call_service(&app, via_proxy("192.0.2.2")).await.status(),
        200
    );
}

#[test]
fn the_client_is_the_rightmost_untrusted_hop() {
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("a network")];
    let mut headers = HeaderMap::new();
    headers.append(
        HeaderName::from_static("x-forwarded-for"),
        HeaderValue::from_static("6.6.6.6, 192.0.2.1"),
    );
    headers.append(
        HeaderName::from_static("x-forwarded-for"),
        HeaderValue::from_static("10.1.1.1"),
    );
    let proxy: IpAddr = "10.0.0.2".parse().expect("an address");
    let client = client_ip(Some(proxy), &headers, &trusted);
    assert_eq!(client, Some("192.0.2.1".parse().expect("an address")));
    let stranger: IpAddr = "192.0.2.50".parse().expect("an address");
    assert_eq!(
        client_ip(Some(stranger), &headers, &trusted),
        Some(stranger)
    );
    assert_eq!(
        client_ip(Some(proxy), &HeaderMap::new(), &trusted),
        Some(proxy)
    );
}

#[test]
fn ipv6_clients_are_keyed_by_their_64_block() {
    let (limits, _clock) = limits(1, 1, 1);
    let key = |peer: &str| limits.caller(&get("/orders", peer).to_srv_request());
    assert_eq!(
        key("[2001:db8:1:2::1]:443"),
        key("[2001:db8:1:2:ffff::9]:443")
    );
    assert_ne!(key("[2001:db8:1:2::1]:443"), key("[2001:db8:1:3::1]:443"));
}

#[actix_web::test]
async fn health_and_metrics_are_never_limited() {
    let (limits, _clock) = limits(1, 1, 1);
    let app = app!(limits);
    for path in ["/health", "/health/ready", "/metrics"] {
        for _ in 0..5 {
            let response = call_service(&app, get(path, PEER).to_request()).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(response.headers().get(RATELIMIT).is_none());
        }
    }
}

#[actix_web::test]
async fn classes_have_independent_buckets() {
    let (limits, _clock) = limits(1, 1, 1);
    let app = app!(limits);
    let post = |path: &str| {
        TestRequest::default()
            .method(Method::POST)
            .uri(path)
            .peer_addr(PEER.parse().expect("a socket address"))
            .to_request()
    };
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        200
    );
    assert_eq!(
        call_service(&app, get("/orders", PEER).to_request())
            .await
            .status(),
        429
    );
    assert_eq!(call_service(&app, post("/orders")).await.status(), 201);
    assert_eq!(call_service(&app, post("/orders")).await.status(), 429);
    // Admin reads and writes share the admin class, whatever the method.
    let admin = call_service(&app, get("/admin/dead-letters", PEER).to_request()).await;
    assert_eq!(admin.status(), 200);
    assert_eq!(text(&admin, "ratelimit-policy"), "\"admin\";q=1;w=1");
    assert_eq!(
        call_service(&app, post("/admin/dead-letters/replay"))
            .await
            .status(),
        429
    );
}

#[test]
fn paths_are_classed_by_segment_not_by_prefix() {
    assert_eq!(
        RouteClass::of(&Method::GET, "/healthy"),
        Some(RouteClass::Reads)
    );
    assert_eq!(
        RouteClass::of(&Method::GET, "/administrators"),
        Some(RouteClass::Reads)
    );
    assert_eq!(RouteClass::of(&Method::GET, "/health/ready"), None);
    assert_eq!(
        RouteClass::of(&Method::DELETE, "/orders/1"),
        Some(RouteClass::Writes)
    );
    assert_eq!(
        RouteClass::of(&Method::HEAD, "/orders/1"),
        Some(RouteClass::Reads)
    );
}

#[test]
fn buckets_full_again_are_dropped_by_the_periodic_cleanup() {
    let (limits, clock) = limits(1, 1, 1);
    for i in 0..100 {
        limits.check(RouteClass::Reads, &format!("ip:192.0.2.{i}"));
    }
    assert_eq!(limits.tracked(RouteClass::Reads), 100);
    clock.advance(CLEANUP_EVERY);
    // The next request triggers the cleanup; every other bucket has refilled by now.
    limits.check(RouteClass::Reads, "ip:203.0.113.1");
    assert!(limits.tracked(RouteClass::Reads) <= 1);
}

#[test]
fn disabled_limits_let_everything_through() {
    let mut off = settings(1, 1, 1);
    off.enabled = false;
    let limits = RateLimits::new(&off).expect("valid settings");
    for _ in 0..5 {
        assert_eq!(
            limits.check(RouteClass::Writes, "ip:192.0.2.1"),
            Decision::Exempt
        );
    }
}

#[test]
fn invalid_settings_are_refused_at_startup() {
    let mut zero = settings(1, 1, 1);
    zero.writes.burst = 0;
    assert!(RateLimits::new(&zero).is_err());
    let mut bad_proxy = settings(1, 1, 1);
    bad_proxy.trusted_proxies = vec!["10.0.0.0/33".into()];
    assert!(RateLimits::new(&bad_proxy).is_err());
}
