//! Inbound HTTP helpers shared by both services.
//!
//! - [`ApiError`] renders RFC 9457 `application/problem+json` with a stable `code` and, for
//!   validation failures, one entry per failing field.
//! - [`JsonBody`] extracts a JSON body and reports type errors with the path of the field
//!   (`items[1].quantity`), not a serde message about line and column.
//! - [`Cursor`] is the opaque keyset cursor.
//! - [`health`] aggregates dependency probes into `GET /health`.
//! - [`idempotency`] runs unsafe requests at most once per `Idempotency-Key`.
//! - [`configure_extractors`] makes actix's own extractor errors problem+json too.

pub mod dead_letters;
pub mod health;
pub mod idempotency;

use std::fmt;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use uuid::Uuid;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Largest accepted request body (an order of 100 lines is about 10 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One failing field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where: a JSON path such as `items[1].quantity`, or a query or path parameter name.
    #[schema(example = "items[0].quantity")]
    pub field: String,
    /// What is wrong with it.
    #[schema(example = "quantity 0 must be between 1 and 10000")]
    pub message: String,
}

impl FieldError {
    /// A failing field.
    pub fn new(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type: `/problems/{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short, human-readable summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code, such as `validation_failed`, `unknown_products`,
    /// `product_not_found` or `service_unavailable`.
    pub code: String,
    /// Per-field errors, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members specific to the problem type.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// An error answered to an HTTP client. 4xx errors are specific; 5xx errors say little to the
/// client and log the full cause chain once, here.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    problem: Box<Problem>,
    retry_after: Option<u64>,
    source: Option<anyhow::Error>,
}

impl ApiError {
    /// A problem with a status, a stable code and a title.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            status,
            problem: Box::new(Problem {
                problem_type: format!("/problems/{code}"),
                title: title.to_owned(),
                status: status.as_u16(),
                detail: None,
                code: code.to_owned(),
                errors: Vec::new(),
                extensions: serde_json::Map::new(),
            }),
            retry_after: None,
            source: None,
        }
    }

    /// Adds the occurrence's detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.problem.detail = Some(detail.into());
        self
    }

    /// Adds an extension member (never one of the standard members: `type`, `title`,
    /// `status`, `detail`, `code`, `errors`).
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        debug_assert!(
            !["type", "title", "status", "detail", "code", "errors"].contains(&key),
            "`{key}` is a standard problem member"
        );
        if let Ok(v) = serde_json::to_value(value) {
            self.problem.extensions.insert(key.to_owned(), v);
        }
        self
    }

    /// Names the failing fields.
    pub fn errors(mut self, errors: Vec<FieldError>) -> Self {
        self.problem.errors = errors;
        self
    }

    /// Asks the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Keeps the underlying cause for the log (never shown to the client).
    pub fn caused_by(mut self, source: anyhow::Error) -> Self {
        self.source = Some(source);
        self
    }

    /// `400 validation_failed` naming each failing field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Invalid request",
        )
        .detail(detail);
        e.problem.errors = errors;
        e
    }

    /// `404 <code>`.
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not found").detail(detail)
    }

    /// `503 service_unavailable` with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, source: anyhow::Error) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service temporarily unavailable",
        )
        .detail(detail)
        .retry_after(1);
        e.source = Some(source);
        e
    }

    /// `500 internal_error`; the cause is logged, not shown.
    pub fn internal(source: anyhow::Error) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
        .detail("an unexpected error occurred; it has been logged");
        e.source = Some(source);
        e
    }

    /// The problem document.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.problem.code)
    }
}

impl From<ports::StoreError> for ApiError {
    fn from(e: ports::StoreError) -> Self {
        match e {
            ports::StoreError::Unavailable(source) => {
                Self::unavailable("the database is busy or unreachable", source)
            }
            ports::StoreError::Duplicate => {
                Self::new(StatusCode::CONFLICT, "already_exists", "Already exists")
                    .detail("a resource with this identity exists already")
            }
            ports::StoreError::Unknown(source) => Self::internal(source),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.source {
            tracing::error!(status = self.status.as_u16(), code = %self.problem.code, error = %format!("{source:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(&self.problem).unwrap_or_default())
    }
}

/// A JSON request body parsed with field paths in its errors.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Parses a JSON document, naming the failing field on type errors.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let malformed = |e: &serde_json::Error| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON")
            .detail(format!("the body is not valid JSON: {e}"))
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => value,
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(malformed(inner));
            }
            let path = err.path().to_string();
            let message = inner.to_string();
            // serde reports a missing field on its parent: name the field itself.
            let field = match message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                Some(missing) if path == "." => missing.to_owned(),
                Some(missing) => format!("{path}.{missing}"),
                None if path == "." => "body".to_owned(),
                None => path,
            };
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            return Err(ApiError::validation(vec![FieldError::new(field, message)]));
        }
    };
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// The raw request body (at most [`MAX_BODY_BYTES`]), for handlers that parse it themselves
/// (idempotent requests fingerprint the exact bytes).
#[derive(Debug, Clone)]
pub struct RawBody(pub web::Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            bytes.await.map(RawBody).map_err(|e| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "Body too large",
                )
                .detail(e.to_string())
            })
        })
    }
}

/// Whether the request says its body is JSON (`application/json` or `+json`).
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || v.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Parses a raw request body as JSON (`415` unless it says it is JSON), naming the failing
/// field on type errors: for handlers that also need the raw bytes (idempotency).
pub fn json_body<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    if !is_json(req) {
        return Err(unsupported_media_type());
    }
    parse_json(body)
}

/// Parses an optional JSON body: an empty body is `T::default()`.
pub fn optional_json_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(req, body)
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Unsupported media type",
    )
    .detail("send the body as application/json")
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(unsupported_media_type());
            }
            let body = bytes.await.map_err(|e| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "Body too large",
                )
                .detail(e.to_string())
            })?;
            parse_json(&body).map(JsonBody)
        })
    }
}

/// Makes actix's own extractor failures (query strings, path segments, body size) answer
/// problem+json like everything else.
pub fn configure_extractors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(|err, _req| {
            ApiError::validation(vec![FieldError::new("query", err)]).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|err, _req| {
            ApiError::validation(vec![FieldError::new("path", err)]).into()
        }));
}

/// Answers unknown routes with a problem document.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(
        "route_not_found",
        format!("no route for {} {}", req.method(), req.path()),
    )
    .error_response()
}

/// The version a client's `If-Match` header requires (`If-Match: "3"`), `None` without the
/// header or with `If-Match: *`. A malformed header is a 400 naming it.
pub fn if_match(req: &HttpRequest) -> Result<Option<u32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::validation(vec![FieldError::new(
            "If-Match",
            "expected the ETag of a read, such as \"3\"",
        )])
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix("W/")
        .unwrap_or(text)
        .trim_matches('"')
        .parse::<u32>()
        .map(Some)
        .map_err(|_| invalid())
}

/// `412 precondition_failed`: the resource changed since the client read it.
pub fn precondition_failed(current_version: u32) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "Precondition failed",
    )
    .detail(format!(
        "the resource is at version {current_version}; read it again and retry with its ETag"
    ))
    .with("current_version", current_version)
}

/// The `ETag` of a version: `"3"`.
pub fn etag(version: u32) -> header::ETag {
    header::ETag(header::EntityTag::new_strong(version.to_string()))
}

/// Parses an id from a path segment or parameter, naming the field when it is not a UUID.
pub fn parse_id<T>(
    field: &str,
    raw: &str,
    parse: impl Fn(&str) -> Result<T, domain::IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|e| ApiError::validation(vec![FieldError::new(field, e)]))
}

/// The opaque keyset cursor handed to clients: it encodes the last id of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub Uuid);

impl Cursor {
    const VERSION: &'static str = "v1:";

    /// The cursor's text.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{}", Self::VERSION, self.0))
    }

    /// Reads a cursor a client sent back.
    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::validation(vec![FieldError::new(
                "cursor",
                "not a cursor returned by this API",
            )])
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let id = text.strip_prefix(Self::VERSION).ok_or_else(invalid)?;
        Uuid::try_parse(id).map(Cursor).map_err(|_| invalid())
    }
}

/// Parses `limit` (default and bounds from [`ports::store`]) and `cursor` into a page request.
pub fn page_request(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<ports::PageRequest, ApiError> {
    let mut errors = Vec::new();
    let limit = limit.unwrap_or(i64::from(ports::store::DEFAULT_PAGE_SIZE));
    if !(1..=i64::from(ports::store::MAX_PAGE_SIZE)).contains(&limit) {
        errors.push(FieldError::new(
            "limit",
            format!(
                "limit {limit} must be between 1 and {}",
                ports::store::MAX_PAGE_SIZE
            ),
        ));
    }
    let after = match cursor.filter(|c| !c.is_empty()).map(Cursor::decode) {
        Some(Ok(c)) => Some(c.0),
        Some(Err(e)) => {
            errors.extend(e.problem.errors.clone());
            None
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    ports::PageRequest::new(limit as u32, after)
        .ok_or_else(|| ApiError::validation(vec![FieldError::new("limit", "out of range")]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        product_id: String,
        quantity: i64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        items: Vec<Item>,
    }

    fn field_of(body: &str) -> String {
        let err = parse_json::<Body>(body.as_bytes()).unwrap_err();
        assert_eq!(err.problem().code, "validation_failed", "{body}");
        err.problem().errors[0].field.clone()
    }

    #[test]
    fn type_errors_name_the_field_path() {
        assert_eq!(
            field_of(
                r#"{"items":[{"product_id":"a","quantity":1},{"product_id":"b","quantity":"x"}]}"#
            ),
            "items[1].quantity"
        );
        assert_eq!(
            field_of(r#"{"items":[{"quantity":1}]}"#),
            "items[0].product_id"
        );
        assert_eq!(field_of(r#"{}"#), "items");
        assert_eq!(field_of(r#"[]"#), "body");
    }

    #[test]
    fn broken_json_is_malformed_json() {
        for body in ["{", "{\"items\": [}", "", "{\"items\": []} trailing"] {
            let err = parse_json::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(err.problem().code, "malformed_json", "{body:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor(Uuid::now_v7());
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("garbage!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v2:x")).is_err());
    }

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(page_request(None, None).unwrap().limit(), 20);
        assert!(page_request(Some(0), None).is_err());
        assert!(page_request(Some(101), None).is_err());
        assert_eq!(page_request(Some(100), None).unwrap().limit(), 100);
    }
}
