use super::*;
use axum::http::Request as HttpRequest;
use tower::ServiceExt;

const FAKE_MANIFEST: &str = "#test\tplaceholder=0\n\
bg\tE1-64\t100\t0\tindex.html\n\
g\tE2-5\t5\t0\t_app/immutable/a.js\n\
r\tE3-9\t9\t0\tstatic/favicon.png\n\
b\tE4-1\t1\t0\tdocs/index.html\n\
g\tE5-2\t2\t0\tpyodide/pyodide.mjs\n";

#[test]
fn manifest_parsing() {
    let idx = parse_manifest(FAKE_MANIFEST);
    assert!(!idx.placeholder);
    assert_eq!(idx.files.len(), 5);
    let f = idx.files["index.html"];
    assert!(f.br && f.gz && !f.raw);
    assert_eq!(f.etag, "E1-64");
    assert_eq!(f.size, 100);
    let f = idx.files["static/favicon.png"];
    assert!(!f.br && !f.gz && f.raw);
    let f = idx.files["docs/index.html"];
    assert!(f.br && !f.gz && !f.raw);
    assert!(
        idx.dirs.contains("_app")
            && idx.dirs.contains("_app/immutable")
            && idx.dirs.contains("static")
    );
    assert!(!idx.dirs.contains(""));
    assert!(parse_manifest("#x\tplaceholder=1\nr\te\t1\t0\tindex.html\n").placeholder);
}

#[test]
fn lookup_rules() {
    let idx = parse_manifest(FAKE_MANIFEST);
    assert_eq!(lookup(&idx, ""), Lookup::File("index.html"));
    assert_eq!(lookup(&idx, "index.html"), Lookup::File("index.html"));
    assert_eq!(
        lookup(&idx, "static/favicon.png"),
        Lookup::File("static/favicon.png")
    );
    assert_eq!(lookup(&idx, "docs"), Lookup::File("docs/index.html"));
    // A directory without its own index.html gets the app.
    assert_eq!(lookup(&idx, "static"), Lookup::File("index.html"));
    assert_eq!(
        lookup(&idx, "c/0b7a3c1e-4f0e-4c55-b7a8-2f1d3e9c0a11"),
        Lookup::File("index.html")
    );
    assert_eq!(lookup(&idx, "admin/settings"), Lookup::File("index.html"));
    assert_eq!(lookup(&idx, "_app/immutable/missing.js"), Lookup::NotFound);
    assert_eq!(lookup(&idx, "static/missing.png"), Lookup::NotFound);
    assert_eq!(lookup(&idx, "static/missing.css"), Lookup::NotFound);

    let placeholder = parse_manifest("#x\tplaceholder=1\nr\te-1\t1\t0\tindex.html\n");
    assert_eq!(lookup(&placeholder, "auth"), Lookup::File("index.html"));
    assert_eq!(lookup(&placeholder, "x.js"), Lookup::NotFound);
}

async fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut builder = HttpRequest::builder().method(method).uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let app: axum::Router = router();
    app.oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body_of(resp: Response) -> Vec<u8> {
    axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

fn header_of<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn root_serves_index_html() {
    let resp = request("GET", "/", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header_of(&resp, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header_of(&resp, "cache-control"), Some("no-cache"));
    assert_eq!(header_of(&resp, "content-encoding"), None);
    let body = body_of(resp).await;
    assert!(String::from_utf8_lossy(&body)
        .to_ascii_lowercase()
        .contains("<html"));
    assert_eq!(Some(body), asset_bytes("index.html"));
}

#[tokio::test]
async fn deep_links_get_the_app_and_missing_assets_404() {
    let index = body_of(request("GET", "/", &[]).await).await;
    for path in [
        "/auth",
        "/c/0b7a3c1e-4f0e-4c55-b7a8-2f1d3e9c0a11",
        "/admin/settings/general",
        "/s/abc?x=1",
    ] {
        let resp = request("GET", path, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(body_of(resp).await, index, "{path}");
    }
    for path in [
        "/_app/immutable/chunks/does-not-exist.js",
        "/static/nope.png",
        "/x.css",
        "/a.wasm",
    ] {
        let resp = request("GET", path, &[]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn backend_prefixes_and_traversal_are_404_json() {
    for path in [
        "/api/v1/nothing",
        "/api",
        "/ws/socket.io/",
        "/openai/models",
        "/ollama/api/tags",
        "//api/x",
    ] {
        let resp = request("GET", path, &[]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header_of(&resp, "content-type"), Some("application/json"));
        assert_eq!(body_of(resp).await, br#"{"detail":"Not Found"}"#);
    }
    for path in [
        "/static/../index.html",
        "/%2e%2e/index.html",
        "/static/%2E%2E%2Findex.html",
        "/static%5cindex.html",
    ] {
        let resp = request("GET", path, &[]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn other_methods_are_refused() {
    let resp = request("POST", "/", &[]).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn negotiation_etag_and_head() {
    let info = index().files["index.html"];
    let resp = request("GET", "/", &[("accept-encoding", "gzip, deflate, br")]).await;
    let expected = if info.br {
        Some("br")
    } else if info.gz {
        Some("gzip")
    } else {
        None
    };
    assert_eq!(header_of(&resp, "content-encoding"), expected);
    if info.br || info.gz {
        assert_eq!(header_of(&resp, "vary"), Some("Accept-Encoding"));
    }
    let etag = header_of(&resp, "etag").unwrap().to_string();

    if info.gz || info.br {
        // A gzip-only client (a browser over plain HTTP) gets gzip, twice the same.
        for _ in 0..2 {
            let resp = request("GET", "/", &[("accept-encoding", "gzip, deflate")]).await;
            assert_eq!(header_of(&resp, "content-encoding"), Some("gzip"));
            assert_eq!(header_of(&resp, "vary"), Some("Accept-Encoding"));
            let body = body_of(resp).await;
            assert_eq!(
                gunzip(&body, 0).unwrap(),
                asset_bytes("index.html").unwrap()
            );
        }
        // No encoding accepted: the plain bytes.
        let resp = request("GET", "/", &[("accept-encoding", "identity")]).await;
        assert_eq!(header_of(&resp, "content-encoding"), None);
        assert_eq!(body_of(resp).await, asset_bytes("index.html").unwrap());
    }

    let resp = request("GET", "/", &[("if-none-match", &etag)]).await;
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert!(body_of(resp).await.is_empty());

    let resp = request("HEAD", "/", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header_of(&resp, "content-length"),
        Some(info.size.to_string().as_str())
    );
    assert!(body_of(resp).await.is_empty());
}

#[test]
fn placeholder_flag_matches_index() {
    let html = String::from_utf8(asset_bytes("index.html").unwrap()).unwrap();
    assert_eq!(
        frontend_is_placeholder(),
        html.contains("Frontend not built: run ./install.sh")
    );
    if frontend_is_placeholder() {
        assert!(changelog_markdown().is_none());
        assert!(license_text().is_none());
    }
}

/// Checks against the real frontend; skipped for placeholder builds.
#[tokio::test]
async fn real_frontend_files() {
    if frontend_is_placeholder() {
        // CI must not go green with the real frontend silently untested.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the frontend is not embedded: run ./install.sh before the tests"
        );
        return;
    }
    let resp = request(
        "GET",
        "/static/favicon.png",
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header_of(&resp, "content-type"), Some("image/png"));
    assert_eq!(
        header_of(&resp, "cache-control"),
        Some(rules::CACHE_MODERATE)
    );
    assert!(body_of(resp).await.starts_with(b"\x89PNG"));

    let resp = request("GET", "/static/loader.js", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header_of(&resp, "content-type"),
        Some("text/javascript; charset=utf-8")
    );

    // Backend-only static files are present too.
    let resp = request("HEAD", "/static/swagger-ui/swagger-ui.css", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = request("GET", "/_app/version.json", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header_of(&resp, "cache-control"), Some("no-cache"));

    let immutable = index()
        .files
        .keys()
        .find(|k| k.starts_with("_app/immutable/entry/"))
        .unwrap();
    let resp = request(
        "HEAD",
        &format!("/{immutable}"),
        &[("accept-encoding", "br")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header_of(&resp, "cache-control"),
        Some(rules::CACHE_IMMUTABLE)
    );

    let wasm = index()
        .files
        .keys()
        .find(|k| k.starts_with("pyodide/") && k.ends_with(".wasm"))
        .unwrap();
    let resp = request("HEAD", &format!("/{wasm}"), &[("accept-encoding", "gzip")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header_of(&resp, "content-type"), Some("application/wasm"));
    assert_eq!(header_of(&resp, "access-control-allow-origin"), Some("*"));

    // Source maps are not shipped.
    assert!(index().files.keys().all(|k| !k.ends_with(".map")));
    assert!(index()
        .files
        .contains_key("wasm/ort-wasm-simd-threaded.jsep.wasm"));

    let license = license_text().unwrap();
    assert!(license.contains("Open WebUI"));
    let md = changelog_markdown().unwrap();
    assert!(md.starts_with("# Changelog"));
    assert_eq!(changelog_json().as_object().unwrap().len(), 5);
    assert!(changelog::cached().as_object().unwrap().len() > 100);
}

#[tokio::test]
async fn ranges_on_raw_files() {
    if frontend_is_placeholder() {
        return;
    }
    let resp = request("GET", "/static/favicon.png", &[("range", "bytes=0-3")]).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert!(header_of(&resp, "content-range")
        .unwrap()
        .starts_with("bytes 0-3/"));
    assert_eq!(body_of(resp).await, b"\x89PNG");
    let resp = request(
        "GET",
        "/static/favicon.png",
        &[("range", "bytes=99999999-")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}
