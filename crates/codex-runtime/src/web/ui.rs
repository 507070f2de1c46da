//! The single-page UI: static HTML, CSS and JS embedded in the binary (no build step).
//!
//! It reads the bearer token from the page's URL fragment (`/#token=...`, never sent to the
//! server) and talks to the API with `fetch`, reading SSE from the response body (so the token
//! goes in a header, not in a URL). Model text is only ever set with `textContent`, and the
//! page's Content-Security-Policy allows no inline script.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// The page.
pub const INDEX_HTML: &str = include_str!("ui/index.html");
/// Its script.
pub const APP_JS: &str = include_str!("ui/app.js");
/// Its style sheet.
pub const STYLE_CSS: &str = include_str!("ui/style.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// `/` (the page), `/app.js` and `/style.css`; merge it with [`crate::web::WebAdapter::router`].
pub fn router() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}
