//! The routes each HTTP function answers, declared once per function (its `ROUTES`), as API
//! Gateway routes them (code review W6). The local stack dispatches a request to the function
//! whose table holds its path; a function answers 405 for a path it holds under another method and
//! 404 otherwise; and a test holds `infra/template.yaml` and `openapi.yaml` to the tables, both
//! ways.

use lambda_http::Request;

use crate::ApiError;

/// One route: a method and a path template whose `{name}` segments match any one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

impl Route {
    pub const fn new(method: &'static str, path: &'static str) -> Self {
        Self { method, path }
    }

    /// Whether `path` (without its query) fits the template.
    pub fn holds(&self, path: &str) -> bool {
        let mut given = path.split('/');
        let mut template = self.path.split('/');
        loop {
            match (template.next(), given.next()) {
                (None, None) => return true,
                (Some(t), Some(g)) if t.starts_with('{') && t.ends_with('}') && !g.is_empty() => {}
                (Some(t), Some(g)) if t == g => {}
                _ => return false,
            }
        }
    }
}

/// Whether any of `routes` holds `path`, under any method.
pub fn holds(routes: &[Route], path: &str) -> bool {
    routes.iter().any(|r| r.holds(path))
}

/// The answer for a request the function's own match did not take: 405 if its table holds the
/// path under another method, else 404.
pub fn not_routed(routes: &[Route], req: &Request) -> ApiError {
    let path = req.uri().path();
    if holds(routes, path) { ApiError::MethodNotAllowed } else { ApiError::NotFound }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_holds_paths_segment_by_segment() {
        let r = Route::new("GET", "/v1/breaches/{id}/escalations/{escalation_id}");
        assert!(r.holds("/v1/breaches/B1/escalations/E1"));
        assert!(!r.holds("/v1/breaches/B1/escalations"));
        assert!(!r.holds("/v1/breaches//escalations/E1"), "a parameter is never empty");
        assert!(!r.holds("/v1/breaches/B1/escalations/E1/x"));
        assert!(Route::new("GET", "/healthz").holds("/healthz"));
        assert!(!Route::new("GET", "/healthz").holds("/healthz/"));
    }
}
