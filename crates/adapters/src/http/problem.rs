//! Errors as RFC 9457 `application/problem+json`: a stable machine `code`, a title, and per
//! field details for validation failures; 5xx are generic to the client and logged in full.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

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
    headers: Vec<(header::HeaderName, HeaderValue)>,
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
            headers: Vec::new(),
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

    /// Adds a header to the answer (`WWW-Authenticate`, rate-limit headers).
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// `401`: no credentials, or credentials that do not verify. `challenge` is the
    /// `WWW-Authenticate` value (RFC 6750).
    pub fn unauthorized(code: &str, detail: impl Into<String>, challenge: HeaderValue) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, "Unauthorized")
            .detail(detail)
            .header(header::WWW_AUTHENTICATE, challenge)
    }

    /// `403`: the caller is known and its role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").detail(detail)
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
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(serde_json::to_string(&self.problem).unwrap_or_default())
    }
}
