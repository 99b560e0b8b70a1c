//! The operator UI at `/ui/`: plain HTML, CSS and JavaScript from `vaultd/ui/`,
//! compiled into the binary, with no build step and nothing from elsewhere.
//! The pages talk to the vault only through the HTTP API under `/v1/`, with
//! the user's token in `X-Vault-Token`, so the ACL decides what each user
//! sees. The headers let a page load nothing but these files and be framed by
//! nobody; nothing here authenticates by cookie, so there is nothing to forge
//! a cross-site request with.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;

/// Scripts, styles and fetches from this origin only: no inline script or
/// style, no eval, no framing, no form posts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file of the UI.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $kind:expr),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $kind,
            body: include_bytes!(concat!("../ui/", $name)),
        }),*]
    };
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `vaultd/ui/` (a unit test checks none is left out).
const ASSETS: &[Asset] = assets! {
    "index.html" => HTML,
    "app.css" => CSS,
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "pages/status.js" => JS,
    "pages/unseal.js" => JS,
    "pages/login.js" => JS,
    "pages/secrets.js" => JS,
    "pages/leases.js" => JS,
    "pages/access.js" => JS,
    "pages/audit.js" => JS,
};

/// The UI's routes: `/` and `/ui` lead to `/ui/`, which is the index.
pub fn router() -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::any(to_index))
        .route("/ui", axum::routing::any(to_index))
        .route("/ui/", axum::routing::any(index))
        .route("/ui/{*file}", axum::routing::any(file))
        // Browsers ask for it by themselves; there is none.
        .route("/favicon.ico", axum::routing::any(no_icon))
}

async fn no_icon() -> Response {
    plain(StatusCode::NOT_FOUND, "")
}

/// With `ui = false`: `/ui/` is not found, and says why.
pub fn off() -> axum::Router {
    let off = || async {
        plain(
            StatusCode::NOT_FOUND,
            "the UI is off (ui = false in the config)",
        )
    };
    axum::Router::new()
        .route("/ui", axum::routing::any(off))
        .route("/ui/", axum::routing::any(off))
        .route("/ui/{*file}", axum::routing::any(off))
}

async fn to_index() -> Response {
    let mut response = plain(StatusCode::TEMPORARY_REDIRECT, "");
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/ui/"));
    response
}

async fn index(method: Method) -> Response {
    serve(&method, "index.html")
}

async fn file(method: Method, Path(name): Path<String>) -> Response {
    serve(&method, &name)
}

fn serve(method: &Method, name: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the UI's files are only read",
        );
    }
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return plain(StatusCode::NOT_FOUND, "no such file in the UI");
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(asset.body)
    };
    with_headers(Response::new(body), asset.content_type)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = with_headers(Response::new(Body::from(text)), "text/plain; charset=utf-8");
    *response.status_mut() = status;
    response
}

/// The headers every UI answer carries. The files change only with the
/// binary, but `no-cache` makes a browser ask again, so an upgrade is seen
/// at the next load.
fn with_headers(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Files under `dir`, relative to `root`, with `/` between folders.
    fn files(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_file_of_the_ui_is_served_and_nothing_else() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        files(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        served.sort();
        assert_eq!(served, on_disk);
        for asset in ASSETS {
            let kind = if asset.name.ends_with(".html") {
                HTML
            } else if asset.name.ends_with(".js") {
                JS
            } else {
                CSS
            };
            assert_eq!(asset.content_type, kind, "{}", asset.name);
        }
    }
}
