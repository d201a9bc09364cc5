//! Request bodies and actix's own extractor errors as problem+json: JSON bodies report type
//! errors with the path of the failing field (`items[1].quantity`).

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::problem::{ApiError, FieldError, MAX_BODY_BYTES};

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
        Box::pin(async move { bytes.await.map(RawBody).map_err(|e| body_error(&e)) })
    }
}

/// Why a body could not be read: its deadline passed (`408`), or it is too large (`413`).
fn body_error(e: &actix_web::Error) -> ApiError {
    if super::security::is_body_timeout(e) {
        return super::security::body_timeout();
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "Body too large",
    )
    .detail(e.to_string())
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
            let body = bytes.await.map_err(|e| body_error(&e))?;
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
    if let Some(table) = req.app_data::<actix_web::web::Data<super::methods::RouteTable>>()
        && let Some(refused) = super::methods::not_allowed(table, req.method(), req.path())
    {
        return refused.error_response();
    }
    ApiError::not_found(
        "route_not_found",
        format!("no route for {} {}", req.method(), req.path()),
    )
    .error_response()
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
}
