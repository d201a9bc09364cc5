//! `405 Method Not Allowed` with `Allow` for a path the API has but not with that method, from
//! the service's own OpenAPI document: the routes the document declares are the routes the
//! server serves (each service checks that its committed document is current), so the `Allow`
//! list cannot drift from the handlers.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};

use super::ApiError;

/// The declared methods of every path template of a service.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<&'static str>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

fn segments(template: &str) -> Vec<Segment> {
    template
        .trim_matches('/')
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Parameter
            } else {
                Segment::Literal(s.to_owned())
            }
        })
        .collect()
}

impl RouteTable {
    /// The paths and methods `openapi` declares (`HEAD` and `OPTIONS` aside).
    pub fn from_openapi(openapi: &utoipa::openapi::OpenApi) -> Self {
        let routes = openapi
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, declared)| declared.then_some(m))
                .collect();
                (segments(path), methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods declared for `path`, when some template matches it. A literal segment
    /// wins over a parameter (`/orders/product/{id}` is not `/orders/{id}/history`).
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut found: Option<(usize, &Vec<&'static str>)> = None;
        for (template, methods) in &self.routes {
            if template.len() != parts.len() {
                continue;
            }
            let literal_matches =
                template
                    .iter()
                    .zip(&parts)
                    .try_fold(0, |n, (seg, part)| match seg {
                        Segment::Literal(l) if l == part => Some(n + 1),
                        Segment::Literal(_) => None,
                        Segment::Parameter if !part.is_empty() => Some(n),
                        Segment::Parameter => None,
                    });
            if let Some(n) = literal_matches
                && found.is_none_or(|(best, _)| n > best)
            {
                found = Some((n, methods));
            }
        }
        found.map(|(_, methods)| methods.clone())
    }
}

/// `405` with `Allow` when `path` exists with other methods than `method`.
pub fn not_allowed(table: &RouteTable, method: &Method, path: &str) -> Option<ApiError> {
    let allowed = table.allowed(path)?;
    if allowed.iter().any(|m| *m == method.as_str()) {
        return None;
    }
    let allow = allowed.join(", ");
    Some(
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        )
        .detail(format!(
            "{method} is not served on {path}; allowed: {allow}"
        ))
        .header(
            header::ALLOW,
            HeaderValue::from_str(&allow).unwrap_or_else(|_| HeaderValue::from_static("GET")),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable {
            routes: vec![
                (segments("/orders"), vec!["GET", "POST"]),
                (segments("/orders/{id}"), vec!["GET", "PATCH", "DELETE"]),
                (segments("/orders/{id}/history"), vec!["GET"]),
                (segments("/orders/product/{product_id}"), vec!["GET"]),
            ],
        }
    }

    #[test]
    fn a_declared_path_with_another_method_is_405_with_allow() {
        let refused = not_allowed(&table(), &Method::TRACE, "/orders").expect("a 405");
        assert_eq!(refused.problem().status, 405);
        let refused = not_allowed(&table(), &Method::PUT, "/orders/abc").expect("a 405");
        assert_eq!(refused.problem().code, "method_not_allowed");
        assert!(
            refused
                .problem()
                .detail
                .as_deref()
                .unwrap()
                .ends_with("GET, PATCH, DELETE")
        );
    }

    #[test]
    fn the_most_literal_template_wins_and_unknown_paths_are_not_405() {
        assert_eq!(table().allowed("/orders/product/x"), Some(vec!["GET"]));
        assert_eq!(table().allowed("/orders/x/history"), Some(vec!["GET"]));
        assert_eq!(table().allowed("/nowhere"), None);
        assert_eq!(table().allowed("/orders/x/y/z"), None);
        assert!(not_allowed(&table(), &Method::GET, "/orders").is_none());
    }
}
