//! What every answer and every request of the API goes through besides routing: security
//! headers on every answer (errors and unknown routes included), a bound on the size of a
//! request's headers and on the time its body may take, and CORS, off unless origins are
//! configured.
//!
//! The headers: `X-Content-Type-Options: nosniff` and `X-Frame-Options: DENY` always;
//! `Referrer-Policy: no-referrer`; `Cache-Control: no-store` unless the handler chose a policy
//! (answers hold orders and stock, which no shared cache should keep); and a
//! `Content-Security-Policy` that allows nothing for the API (its answers are JSON, never a
//! page) and, under `/swagger-ui/`, what the Swagger UI page needs: its own scripts and styles,
//! inline styles (React sets `style` attributes) and `data:` images (its icons), and requests
//! to this origin only ("Try it out" calls the API it is served by).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Condition, Next};
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::Stream;

use super::ApiError;
use crate::settings::HttpLimits;

/// The policy of API answers: nothing may be loaded, framed or run.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The policy of the Swagger UI page.
pub const SWAGGER_UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// Where the Swagger UI is served.
const SWAGGER_UI: &str = "/swagger-ui/";

/// The request limits [`security_headers`] enforces, handed to the server as app data.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Total bytes of header names and values.
    pub max_header_bytes: usize,
    /// Time a body may take to arrive.
    pub body_timeout: Duration,
}

impl From<&HttpLimits> for RequestLimits {
    fn from(limits: &HttpLimits) -> Self {
        Self {
            max_header_bytes: limits.max_header_bytes,
            body_timeout: Duration::from_millis(limits.body_timeout_ms),
        }
    }
}

/// The middleware: refuses oversized headers with `431`, puts a deadline on the body, and
/// adds the security headers to whatever comes back, errors included.
pub async fn security_headers(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let swagger_ui = request.path().starts_with(SWAGGER_UI);
    let limits = request
        .app_data::<web::Data<RequestLimits>>()
        .map(|l| *l.get_ref());
    let mut response = match limits {
        Some(limits) if header_bytes(&request) > limits.max_header_bytes => {
            let refused = ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request headers too large",
            )
            .detail(format!(
                "the request's headers exceed {} bytes",
                limits.max_header_bytes
            ))
            .error_response();
            request.into_response(refused).map_into_right_body()
        }
        _ => {
            if let Some(limits) = limits {
                let payload = request.take_payload();
                if !matches!(payload, Payload::None) {
                    let deadline = tokio::time::Instant::now() + limits.body_timeout;
                    request.set_payload(Payload::Stream {
                        payload: Box::pin(BodyDeadline::new(payload, deadline)),
                    });
                }
            }
            // Handler and extractor errors arrive here as answers already (actix renders
            // them inside); an `Err` could only come from a middleware further in, and the
            // ones there (CORS, the rate limiter) answer their refusals instead.
            next.call(request).await?.map_into_left_body()
        }
    };
    let headers = response.headers_mut();
    let mut default = |name, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    default(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    default(header::X_FRAME_OPTIONS, "DENY");
    default(header::REFERRER_POLICY, "no-referrer");
    default(header::CACHE_CONTROL, "no-store");
    default(
        header::CONTENT_SECURITY_POLICY,
        if swagger_ui { SWAGGER_UI_CSP } else { API_CSP },
    );
    Ok(response)
}

fn header_bytes(request: &ServiceRequest) -> usize {
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// CORS for `origins`, or no CORS middleware at all when there are none (no CORS headers, so
/// browsers keep the same-origin policy).
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("traceparent"),
            header::HeaderName::from_static("tracestate"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            super::rate_limit::RATELIMIT,
            super::rate_limit::RATELIMIT_POLICY,
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

/// A request body that fails with `TimedOut` once its deadline passes: a client trickling its
/// body holds a worker's connection no longer than the deadline.
struct BodyDeadline {
    payload: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl BodyDeadline {
    fn new(payload: Payload, deadline: tokio::time::Instant) -> Self {
        Self {
            payload,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            expired: false,
        }
    }
}

impl Stream for BodyDeadline {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.payload).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let timed_out = std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            );
            return Poll::Ready(Some(Err(PayloadError::Io(timed_out))));
        }
        Poll::Pending
    }
}

/// Whether an extractor's error is the body deadline of [`security_headers`] passing.
pub fn is_body_timeout(error: &actix_web::Error) -> bool {
    let timed_out = |e: &PayloadError| matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut);
    error.as_error::<PayloadError>().is_some_and(timed_out)
}

/// `408 request_timeout`: the body did not arrive before its deadline.
pub fn body_timeout() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "Request timeout",
    )
    .detail("the request body did not arrive in time")
}

#[cfg(test)]
mod tests;
