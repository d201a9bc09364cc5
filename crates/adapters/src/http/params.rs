//! Request parameters both services share: `If-Match` and ETags, ids in paths, keyset
//! cursors and page sizes.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::problem::{ApiError, FieldError};

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
            errors.extend(e.problem().errors.clone());
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
