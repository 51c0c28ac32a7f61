//! The shoppers' app as files: an installable web app (manifest, service worker, icons)
//! built into the binary, so a server needs no directory of assets and no CDN: every byte a
//! page loads comes from here. The pages are plain HTML, CSS and JavaScript; the one library
//! is JsBarcode (MIT), vendored, which draws the card's barcode on the device.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every file of the app: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../web/app/index.html")),
    ("flyer.html", "text/html; charset=utf-8", include_bytes!("../web/app/flyer.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../web/app/app.js")),
    ("flyer.js", "text/javascript; charset=utf-8", include_bytes!("../web/app/flyer.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../web/app/app.css")),
    ("sw.js", "text/javascript; charset=utf-8", include_bytes!("../web/app/sw.js")),
    ("jsbarcode.min.js", "text/javascript; charset=utf-8", include_bytes!("../web/app/jsbarcode.min.js")),
    ("manifest.webmanifest", "application/manifest+json", include_bytes!("../web/app/manifest.webmanifest")),
    ("icon-192.png", "image/png", include_bytes!("../web/app/icon-192.png")),
    ("icon-512.png", "image/png", include_bytes!("../web/app/icon-512.png")),
    ("icon-maskable-512.png", "image/png", include_bytes!("../web/app/icon-maskable-512.png")),
];

/// What the app's pages may load and talk to: this server only.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; manifest-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

fn file(name: &str) -> Response {
    let Some((_, kind, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return crate::error::ApiError::new(unico_app::Code::NotFound, "no such page").into_response();
    };
    let mut r = (StatusCode::OK, *bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // The service worker decides what is kept offline; the browser always asks again.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if name == "sw.js" {
        h.insert("service-worker-allowed", HeaderValue::from_static("/app/"));
    }
    r
}

/// `GET /app`: to the app's start page.
#[utoipa::path(get, path = "/app", tag = "app",
    responses((status = 308, description = "to /app/"), (status = 200, body = String, content_type = "text/html", description = "the app, when the client follows the redirect")))]
pub async fn app_root() -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "/app/")]).into_response()
}

/// `GET /app/`: the app's shell.
#[utoipa::path(get, path = "/app/", tag = "app",
    responses((status = 200, body = String, content_type = "text/html")))]
pub async fn app_index() -> Response {
    file("index.html")
}

/// `GET /app/{file}`: one of its files (pages, script, style, icons, manifest, worker).
#[utoipa::path(get, path = "/app/{file}", tag = "app", params(("file" = String, Path)),
    responses((status = 200, body = String, content_type = "*/*")))]
pub async fn app_file(Path(name): Path<String>) -> Response {
    file(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_the_pages_name_is_served() {
        let names: Vec<&str> = super::FILES.iter().map(|f| f.0).collect();
        for (page, _, bytes) in super::FILES.iter().filter(|f| f.0.ends_with(".html") || f.0 == "sw.js") {
            let text = std::str::from_utf8(bytes).expect("text");
            for piece in text.split(['"', '\'']) {
                if let Some(name) = piece.strip_prefix("/app/").filter(|n| !n.is_empty() && !n.contains('#')) {
                    assert!(names.contains(&name), "{page} names /app/{name}, which is not served");
                }
                assert!(!piece.starts_with("http://") && !piece.starts_with("https://"), "{page} loads {piece}");
            }
        }
    }
}
