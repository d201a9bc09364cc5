//! Token verification and the middleware, with keys made here and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::{App, HttpResponse, web};
use chrono::{TimeZone, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};

use super::issue::{KeyPair, TokenIssuer};
use super::*;
use ports::clock::ManualClock;

const ISS: &str = "https://id.example";
const AUD: &str = "shop-api";

struct Fixture {
    pair: KeyPair,
    issuer: TokenIssuer,
    clock: Arc<ManualClock>,
    auth: Authenticator,
}

fn fixture() -> Fixture {
    let pair = KeyPair::generate().unwrap();
    let issuer = TokenIssuer::new(&pair, None, ISS, AUD).unwrap();
    let clock = Arc::new(ManualClock::at(
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
    ));
    let keys = KeySource::Static(Arc::new(vec![
        VerifyingKey::from_pem(&pair.public_pem, None).unwrap(),
    ]));
    let auth = Authenticator::new(keys, ISS, AUD, Duration::from_secs(30), clock.clone());
    Fixture {
        pair,
        issuer,
        clock,
        auth,
    }
}

fn hour() -> chrono::Duration {
    chrono::Duration::hours(1)
}

#[test]
fn a_valid_token_names_its_caller() {
    let f = fixture();
    let token = f
        .issuer
        .issue("alice", Role::Customer, f.clock.now(), hour())
        .unwrap();
    let caller = f.auth.verify(&token).unwrap();
    assert_eq!(caller.subject().as_str(), "alice");
    assert_eq!(caller.role(), Role::Customer);
    let admin = f
        .issuer
        .issue("ops", Role::Admin, f.clock.now(), hour())
        .unwrap();
    assert_eq!(f.auth.verify(&admin).unwrap().role(), Role::Admin);
}

#[test]
fn an_expired_token_is_refused_after_the_leeway_only() {
    let f = fixture();
    let token = f
        .issuer
        .issue("alice", Role::Customer, f.clock.now(), hour())
        .unwrap();
    assert!(
        f.auth.verify(&token).is_ok(),
        "valid, and now remembered as verified"
    );
    f.clock.advance(chrono::Duration::seconds(3600 + 30));
    assert!(f.auth.verify(&token).is_ok(), "within the leeway");
    f.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        f.auth.verify(&token),
        Err(TokenError::Expired),
        "a remembered token is refused once it expires"
    );
}

#[test]
fn a_token_from_the_future_is_refused() {
    let f = fixture();
    let later = f.clock.now() + chrono::Duration::minutes(5);
    let token = f
        .issuer
        .issue("alice", Role::Customer, later, hour())
        .unwrap();
    assert_eq!(f.auth.verify(&token), Err(TokenError::NotYetValid));
}

#[test]
fn wrong_audience_issuer_or_key_is_refused() {
    let f = fixture();
    let now = f.clock.now();
    let other_aud = f
        .issuer
        .issue_for("alice", "customer", "another-api", now, hour())
        .unwrap();
    assert_eq!(f.auth.verify(&other_aud), Err(TokenError::Audience));
    let stranger = TokenIssuer::new(&f.pair, None, "https://evil.example", AUD).unwrap();
    let other_iss = stranger.issue("alice", Role::Admin, now, hour()).unwrap();
    assert_eq!(f.auth.verify(&other_iss), Err(TokenError::Issuer));
    let other_key = TokenIssuer::new(&KeyPair::generate().unwrap(), None, ISS, AUD).unwrap();
    let forged = other_key.issue("alice", Role::Admin, now, hour()).unwrap();
    assert_eq!(f.auth.verify(&forged), Err(TokenError::Signature));
}

#[test]
fn a_token_without_a_known_role_or_with_a_bad_subject_is_refused() {
    let f = fixture();
    let now = f.clock.now();
    let no_role = f
        .issuer
        .issue_for("alice", "superuser", AUD, now, hour())
        .unwrap();
    assert_eq!(f.auth.verify(&no_role), Err(TokenError::Role));
    let bad_sub = f
        .issuer
        .issue("alice smith", Role::Customer, now, hour())
        .unwrap();
    assert_eq!(f.auth.verify(&bad_sub), Err(TokenError::Subject));
}

#[test]
fn symmetric_and_unsigned_tokens_are_refused() {
    let f = fixture();
    let claims = serde_json::json!({"sub": "alice", "role": "admin", "iss": ISS, "aud": AUD,
        "exp": f.clock.now().timestamp() + 60});
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(f.pair.public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(f.auth.verify(&hs), Err(TokenError::Algorithm));
    assert_eq!(f.auth.verify("not.a.token"), Err(TokenError::Malformed));
}

async fn serve_jwks(set: Arc<std::sync::Mutex<Option<JwkSet>>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(move || {
        let set = Arc::clone(&set);
        App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let current = set.lock().unwrap().clone();
                async move {
                    match current {
                        Some(set) => HttpResponse::Ok().json(set),
                        None => HttpResponse::ServiceUnavailable().finish(),
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/jwks.json")
}

fn jwk_of(pair: &KeyPair, kid: &str) -> Jwk {
    let key = EncodingKey::from_ec_pem(pair.private_pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

#[actix_web::test]
async fn jwks_keys_are_used_by_kid_and_kept_when_a_refresh_fails() {
    let pair = KeyPair::generate().unwrap();
    let served = Arc::new(std::sync::Mutex::new(Some(JwkSet {
        keys: vec![jwk_of(&pair, "k1")],
    })));
    let url = serve_jwks(Arc::clone(&served)).await;
    let cache = Arc::new(JwksCache::new(&url, Duration::from_secs(2)).unwrap());
    assert_eq!(cache.refresh().await.unwrap(), 1);
    let clock = Arc::new(ManualClock::starting_now());
    let auth = Authenticator::new(
        KeySource::Jwks(Arc::clone(&cache)),
        ISS,
        AUD,
        Duration::from_secs(30),
        clock.clone(),
    );
    let signer = TokenIssuer::new(&pair, Some("k1".into()), ISS, AUD).unwrap();
    let token = signer
        .issue("alice", Role::Customer, clock.now(), hour())
        .unwrap();
    assert!(auth.verify(&token).is_ok());
    let unknown_kid = TokenIssuer::new(&pair, Some("k9".into()), ISS, AUD)
        .unwrap()
        .issue("alice", Role::Customer, clock.now(), hour())
        .unwrap();
    assert_eq!(auth.verify(&unknown_kid), Err(TokenError::Signature));
    // The provider fails: the last good keys stay.
    *served.lock().unwrap() = None;
    assert!(cache.refresh().await.is_err());
    assert!(auth.verify(&token).is_ok(), "last good keys kept");
}

async fn whoami(caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let caller = caller.require(Action::ReadOrders)?;
    Ok(HttpResponse::Ok().body(caller.subject().as_str().to_owned()))
}

async fn ship(caller: Authenticated) -> Result<HttpResponse, ApiError> {
    caller.require(Action::ShipOrder)?;
    Ok(HttpResponse::Ok().finish())
}

#[actix_web::test]
async fn the_middleware_answers_401_403_or_lets_the_caller_through() {
    let f = fixture();
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(f.auth.clone()))
            .wrap(actix_web::middleware::from_fn(authenticate))
            .route("/me", web::get().to(whoami))
            .route("/ship", web::post().to(ship))
            .route(
                "/public",
                web::get().to(|| async { HttpResponse::Ok().finish() }),
            ),
    )
    .await;
    let call = |path: &'static str, method: &'static str, token: Option<String>| {
        let mut req = atest::TestRequest::default()
            .uri(path)
            .method(method.parse().unwrap());
        if let Some(token) = token {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        req.to_request()
    };
    let anonymous = atest::call_service(&app, call("/me", "GET", None)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"shop\""
    );
    assert_eq!(
        anonymous.headers().get("content-type").unwrap(),
        "application/problem+json"
    );

    let public = atest::call_service(&app, call("/public", "GET", None)).await;
    assert_eq!(public.status(), StatusCode::OK);

    let expired = f
        .issuer
        .issue(
            "alice",
            Role::Customer,
            f.clock.now() - chrono::Duration::hours(2),
            hour(),
        )
        .unwrap();
    let refused = atest::call_service(&app, call("/public", "GET", Some(expired))).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let body: serde_json::Value = atest::read_body_json(refused).await;
    assert_eq!(body["code"], "invalid_token");
    assert_eq!(body["detail"], "the token has expired");

    let alice = f
        .issuer
        .issue("alice", Role::Customer, f.clock.now(), hour())
        .unwrap();
    let me = atest::call_service(&app, call("/me", "GET", Some(alice.clone()))).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(atest::read_body(me).await, "alice");
    let forbidden = atest::call_service(&app, call("/ship", "POST", Some(alice))).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = atest::read_body_json(forbidden).await;
    assert_eq!(body["code"], "forbidden");

    let admin = f
        .issuer
        .issue("ops", Role::Admin, f.clock.now(), hour())
        .unwrap();
    let shipped = atest::call_service(&app, call("/ship", "POST", Some(admin))).await;
    assert_eq!(shipped.status(), StatusCode::OK);
}
