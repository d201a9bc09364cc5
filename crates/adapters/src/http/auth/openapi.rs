//! What authentication and rate limiting add to a service's OpenAPI document, from one place
//! so that both services say the same: the `bearer` (JWT) security scheme, the requirement on
//! every operation that needs a token with its `401`, the `403` of operations a role may be
//! refused, and the `429` every limited operation can answer.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::ObjectBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Type};

/// The scheme's name in `components.securitySchemes`.
pub const SCHEME: &str = "bearer";

/// Which operations a service leaves open and which a customer may be refused.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// `(method, path)` of the operations that need no token (lower-case method).
    pub public: &'static [(&'static str, &'static str)],
    /// `(method, path)` of the operations that answer `403` to some callers.
    pub refusable: &'static [(&'static str, &'static str)],
}

/// Paths never authenticated nor limited.
fn unguarded(path: &str) -> bool {
    path == "/metrics" || path == "/health" || path.starts_with("/health/")
}

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        super::super::PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    )
}

fn integer_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
        .description(Some(description))
        .build()
}

fn text_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

fn unauthorized() -> Response {
    problem("No bearer token, or one that does not verify (expired, another issuer or audience, unknown key)")
        .header(
            "WWW-Authenticate",
            text_header("`Bearer realm=\"shop\"`, with `error=\"invalid_token\"` for a token that does not verify"),
        )
        .build()
}

fn forbidden() -> Response {
    problem(
        "The caller's role may not do this (an admin action), or a customer named another customer",
    )
    .build()
}

fn too_many() -> Response {
    problem("Over the caller's rate limit; retry after `Retry-After`")
        .header(
            "Retry-After",
            integer_header("Seconds until a request is allowed again"),
        )
        .header(
            "RateLimit-Policy",
            text_header("The route class's quota, e.g. `\"writes\";q=400;w=2`"),
        )
        .header(
            "RateLimit",
            text_header("What is left of it, e.g. `\"writes\";r=0;t=1`"),
        )
        .build()
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// Adds the scheme, and to each operation its requirement and the `401`/`403`/`429` it can
/// answer.
pub fn secure(openapi: &mut OpenApi, access: Access) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An ES256 or RS256 JWT from the configured issuer, with `role` customer or admin",
                ))
                .build(),
        ),
    );
    for (path, item) in openapi.paths.paths.iter_mut() {
        if unguarded(path) {
            continue;
        }
        for (method, op) in operations(item) {
            let responses = &mut op.responses.responses;
            responses.insert("429".to_owned(), RefOr::T(too_many()));
            if access.public.contains(&(method, path.as_str())) {
                continue;
            }
            op.security = Some(vec![SecurityRequirement::new(SCHEME, Vec::<String>::new())]);
            responses.insert("401".to_owned(), RefOr::T(unauthorized()));
            if access.refusable.contains(&(method, path.as_str())) {
                responses.insert("403".to_owned(), RefOr::T(forbidden()));
            }
        }
    }
}
