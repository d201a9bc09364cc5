//! `Idempotency-Key` for unsafe requests: the first request with a key runs; a retry with the
//! same key and the same request gets the first answer again (status, headers, body: the same
//! order id); the same key with a different request is `422`; a retry while the first still
//! runs is `409` with `Retry-After`; a server error (5xx) gives the key back, so the client can
//! retry. Keys expire after the configured retention and are purged.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};
use tracing::warn;
use uuid::Uuid;

use super::{ApiError, FieldError};
use ports::idempotency::{Claim, IdempotencyStore, StoredResponse};

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// Set on a replayed response.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// What a handler learns about its request's key.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyContext {
    /// The key's digest scoped to the caller ([`scoped_key`]), when the client sent a key:
    /// what the store and the order history keep, never the key itself.
    pub key: Option<String>,
    /// An id reserved for what this key's request creates (stable across retries).
    pub resource_id: Option<Uuid>,
}

/// The idempotency policy of a service.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    lease: Duration,
    retention: Duration,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        req.query_string().as_bytes(),
        req.headers()
            .get(header::IF_MATCH)
            .map_or(&b""[..], HeaderValue::as_bytes),
        body,
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    format!("{:x}", hash.finalize())
}

fn key_of(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::validation(vec![FieldError::new(
            HEADER,
            "1 to 255 visible ASCII characters, such as a UUID",
        )])
    };
    let key = value.to_str().map_err(|_| invalid())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// The key as stored: a digest of the caller's subject (empty for an anonymous request) and
/// the client's key. Two callers sending the same key never meet (neither can replay or block
/// the other's request), the stored value has one length whatever the key's (every accepted
/// key fits its column), and no raw key is kept anywhere.
pub fn scoped_key(req: &HttpRequest, key: &str) -> String {
    use actix_web::HttpMessage;
    let extensions = req.extensions();
    let subject = extensions
        .get::<domain::Caller>()
        .map_or("", |caller| caller.subject().as_str());
    let mut hash = Sha256::new();
    for part in [subject.as_bytes(), key.as_bytes()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    format!("{:x}", hash.finalize())
}

/// Headers a replay repeats.
const KEPT: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::RETRY_AFTER,
];

fn rebuild(status: u16, headers: &[(String, String)], body: String) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    for (name, value) in headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.body(body)
}

impl Idempotency {
    /// Keys in `store`; a claim is held `lease` long, a key kept `retention` long.
    pub fn new(store: Arc<dyn IdempotencyStore>, lease: Duration, retention: Duration) -> Self {
        Self {
            store,
            lease,
            retention,
        }
    }

    /// Runs `handler` under the request's `Idempotency-Key` (or plainly, without one).
    /// `body` is the raw request body: part of what makes two requests "the same".
    pub async fn run<F, Fut>(
        &self,
        req: &HttpRequest,
        body: &[u8],
        handler: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce(IdempotencyContext) -> Fut,
        Fut: Future<Output = Result<HttpResponse, ApiError>>,
    {
        let Some(key) = key_of(req)? else {
            return handler(IdempotencyContext::default()).await;
        };
        let key = scoped_key(req, &key);
        let claim = self
            .store
            .claim(&key, &fingerprint(req, body), self.lease, self.retention)
            .await?;
        let resource_id = match claim {
            Claim::Fresh { resource_id } => resource_id,
            Claim::Replay(stored) => {
                crate::observe::idempotency_replay();
                let mut response = rebuild(stored.status, &stored.headers, stored.body);
                response.headers_mut().insert(
                    HeaderName::from_static("idempotent-replayed"),
                    HeaderValue::from_static("true"),
                );
                return Ok(response);
            }
            Claim::Mismatch => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "Idempotency key reused",
                )
                .detail("this Idempotency-Key was used for a different request; use a new key"));
            }
            Claim::InProgress => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_progress",
                    "Request in progress",
                )
                .detail("a request with this Idempotency-Key is still running; retry shortly")
                .retry_after(1));
            }
        };
        let context = IdempotencyContext {
            key: Some(key.clone()),
            resource_id: Some(resource_id),
        };
        let response = match handler(context).await {
            Ok(response) => response,
            Err(e) => e.error_response(),
        };
        if response.status().is_server_error() {
            if let Err(e) = self.store.release(&key).await {
                warn!(error = %format!("{:#}", anyhow::Error::from(e)), "could not release an idempotency key; it frees itself when its lease ends");
            }
            return Ok(response);
        }
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = KEPT
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("unreadable response body: {e}")))?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let stored = StoredResponse {
            status,
            headers,
            body,
        };
        if let Err(e) = self.store.complete(&key, &stored).await {
            // The answer still goes out; a retry after the lease re-runs the request, which
            // finds what this run created through the reserved resource id.
            warn!(error = %format!("{:#}", anyhow::Error::from(e)), "could not store an idempotent response");
        }
        Ok(rebuild(stored.status, &stored.headers, stored.body))
    }
}

impl crate::settings::IdempotencySettings {
    /// The policy over `store`.
    pub fn policy(
        &self,
        store: std::sync::Arc<dyn ports::idempotency::IdempotencyStore>,
    ) -> Idempotency {
        Idempotency::new(
            store,
            Duration::from_secs(self.lease_secs),
            Duration::from_secs(self.retention_hours * 3600),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use ports::idempotency::MockIdempotencyStore;

    fn policy(store: MockIdempotencyStore) -> Idempotency {
        Idempotency::new(
            Arc::new(store),
            Duration::from_secs(30),
            Duration::from_secs(3600),
        )
    }

    fn keyed() -> HttpRequest {
        TestRequest::post()
            .uri("/orders")
            .insert_header((HEADER, "key-1"))
            .to_http_request()
    }

    #[tokio::test]
    async fn without_a_key_the_handler_just_runs() {
        let mut store = MockIdempotencyStore::new();
        store.expect_claim().never();
        let req = TestRequest::post().uri("/orders").to_http_request();
        let response = policy(store)
            .run(&req, b"{}", |ctx| async move {
                assert!(ctx.key.is_none() && ctx.resource_id.is_none());
                Ok(HttpResponse::Created().finish())
            })
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn a_first_request_runs_and_its_answer_is_stored() {
        let reserved = Uuid::now_v7();
        let mut store = MockIdempotencyStore::new();
        store
            .expect_claim()
            .withf(|key, fp, _, _| key == scoped_key(&keyed(), "key-1") && fp.len() == 64)
            .returning(move |_, _, _, _| {
                Ok(Claim::Fresh {
                    resource_id: reserved,
                })
            });
        store
            .expect_complete()
            .times(1)
            .withf(|key, stored| {
                key == scoped_key(&keyed(), "key-1")
                    && stored.status == 201
                    && stored.body == "made"
                    && stored
                        .headers
                        .contains(&("location".to_owned(), "/orders/1".to_owned()))
            })
            .returning(|_, _| Ok(()));
        store.expect_release().never();
        let response = policy(store)
            .run(&keyed(), b"{}", |ctx| async move {
                assert_eq!(ctx.resource_id, Some(reserved));
                Ok(HttpResponse::Created()
                    .insert_header((header::LOCATION, "/orders/1"))
                    .body("made"))
            })
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn a_server_error_gives_the_key_back() {
        let mut store = MockIdempotencyStore::new();
        store.expect_claim().returning(|_, _, _, _| {
            Ok(Claim::Fresh {
                resource_id: Uuid::now_v7(),
            })
        });
        store.expect_complete().never();
        store.expect_release().times(1).returning(|_| Ok(()));
        let response = policy(store)
            .run(&keyed(), b"{}", |_| async {
                Err(ApiError::internal(anyhow::anyhow!("database exploded")))
            })
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn a_replay_repeats_the_stored_answer_without_running() {
        let mut store = MockIdempotencyStore::new();
        store.expect_claim().returning(|_, _, _, _| {
            Ok(Claim::Replay(StoredResponse {
                status: 201,
                headers: vec![("location".into(), "/orders/1".into())],
                body: "made".into(),
            }))
        });
        let response = policy(store)
            .run(&keyed(), b"{}", |_| async {
                panic!("a replay must not run the handler")
            })
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            response.headers().get("idempotent-replayed").unwrap(),
            "true"
        );
        assert_eq!(
            response.headers().get(header::LOCATION).unwrap(),
            "/orders/1"
        );
    }

    #[tokio::test]
    async fn reuse_and_concurrency_are_refused() {
        for (claim, status, code) in [
            (Claim::Mismatch, 422, "idempotency_key_reused"),
            (Claim::InProgress, 409, "idempotency_key_in_progress"),
        ] {
            let mut store = MockIdempotencyStore::new();
            store
                .expect_claim()
                .return_once(move |_, _, _, _| Ok(claim));
            let err = policy(store)
                .run(&keyed(), b"{}", |_| async { panic!("must not run") })
                .await
                .unwrap_err();
            assert_eq!(err.problem().status, status);
            assert_eq!(err.problem().code, code);
        }
    }

    #[test]
    fn the_fingerprint_covers_method_path_precondition_and_body() {
        let a = TestRequest::post()
            .uri("/orders/1/cancel")
            .to_http_request();
        let b = TestRequest::post()
            .uri("/orders/2/cancel")
            .to_http_request();
        let c = TestRequest::post()
            .uri("/orders/1/cancel")
            .insert_header((header::IF_MATCH, "\"2\""))
            .to_http_request();
        assert_eq!(fingerprint(&a, b"x"), fingerprint(&a, b"x"));
        assert_ne!(fingerprint(&a, b"x"), fingerprint(&b, b"x"));
        assert_ne!(fingerprint(&a, b"x"), fingerprint(&c, b"x"));
        assert_ne!(fingerprint(&a, b"x"), fingerprint(&a, b"y"));
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        for bad in ["", "has space", &"k".repeat(256)] {
            let req = TestRequest::post()
                .insert_header((HEADER, bad))
                .to_http_request();
            assert!(key_of(&req).is_err(), "{bad:?}");
        }
    }
}
