//! Nothing a user supplies runs as script on our origin: SVG (and other
//! non-raster) pictures are refused or never served inline, stored remote
//! pictures are not redirected to, uploaded HTML/SVG files are downloads,
//! and every response carries `X-Content-Type-Options: nosniff`.

mod common;
#[path = "data/support.rs"]
mod support;

use common::{Client, Resp, TestServer};
use reqwest::header;
use serde_json::json;
use support::*;

const SVG: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnIG9ubG9hZD0nYWxlcnQoMSknLz4=";
/// A 1x1 PNG.
const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// GET returning raw status, headers and bytes (images are not JSON).
async fn get_raw(c: &Client, path: &str) -> (u16, header::HeaderMap, Vec<u8>) {
    let mut req = c.http.get(format!("{}{}", c.base, path));
    if let Some(t) = &c.token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG")
}

async fn set_profile_image_in_db(server: &TestServer, user_id: &str, url: &str) {
    let (id, url) = (user_id.to_string(), url.to_string());
    server
        .state
        .as_ref()
        .unwrap()
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE user SET profile_image_url = ?1 WHERE id = ?2",
                [&url, &id],
            )
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn svg_profile_images_are_refused_at_every_entry() {
    let server = TestServer::fresh().await;
    let c = server.client();
    let r = c.signup("Admin", "admin@example.com", "pass-admin-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    admin
        .post(
            "/api/v1/auths/admin/config",
            json!({"ENABLE_SIGNUP": true, "DEFAULT_USER_ROLE": "pending"}),
        )
        .await;

    // Sign-up (the account would only be pending) refuses an SVG picture.
    let r = c
        .post(
            "/api/v1/auths/signup",
            json!({"name": "Eve", "email": "eve@example.com", "password": "pass-eve-12", "profile_image_url": SVG}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["detail"][0]["loc"][1], "profile_image_url");
    for bad in [
        "data:text/html;base64,PGgxPmhpPC9oMT4=",
        "javascript:alert(1)",
        "//evil.example/x.png",
        "/api/v1/files/abc/content",
    ] {
        let r = c
            .post(
                "/api/v1/auths/signup",
                json!({"name": "Eve", "email": "eve@example.com", "password": "pass-eve-12", "profile_image_url": bad}),
            )
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }

    // Profile update and the admin's user edit refuse it too.
    let r = admin
        .post(
            "/api/v1/auths/update/profile",
            json!({"name": "Admin", "profile_image_url": SVG}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let bob = second_user(&admin, &c, "bob@example.com").await;
    let bob_id = bob.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .post(
            &format!("/api/v1/users/{bob_id}/update"),
            json!({"name": "Bob", "email": "bob@example.com", "profile_image_url": SVG}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // A raster data URL is accepted and served inline, with nosniff and CSP.
    let r = bob
        .post(
            "/api/v1/auths/update/profile",
            json!({"name": "Bob", "profile_image_url": PNG}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (status, h, bytes) =
        get_raw(&admin, &format!("/api/v1/users/{bob_id}/profile/image")).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert!(is_png(&bytes));

    // An SVG stored before this check (or by hand) is never served as SVG.
    set_profile_image_in_db(&server, &bob_id, SVG).await;
    let (status, h, bytes) =
        get_raw(&admin, &format!("/api/v1/users/{bob_id}/profile/image")).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "image/png");
    assert!(is_png(&bytes), "the default avatar is served instead");
    server.stop().await;
}

#[tokio::test]
async fn profile_image_is_not_an_open_redirect() {
    let server = TestServer::fresh().await;
    let c = server.client();
    let r = c.signup("Admin", "admin@example.com", "pass-admin-1").await;
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let admin_id = r.body["id"].as_str().unwrap().to_string();
    // http(s) URLs are valid pictures (OAuth avatars) ...
    let r = admin
        .post(
            "/api/v1/auths/update/profile",
            json!({"name": "Admin", "profile_image_url": "https://evil.example/phish"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ... but the image route does not send the viewer there.
    let (status, h, bytes) =
        get_raw(&admin, &format!("/api/v1/users/{admin_id}/profile/image")).await;
    assert_eq!(status, 200);
    assert!(h.get("location").is_none());
    assert!(is_png(&bytes));
    // Nor for any other stored value.
    for stored in [
        "//evil.example/x",
        "https://evil.example/x",
        "/\\evil.example",
    ] {
        set_profile_image_in_db(&server, &admin_id, stored).await;
        let (status, h, _) =
            get_raw(&admin, &format!("/api/v1/users/{admin_id}/profile/image")).await;
        assert_eq!(status, 200, "{stored}");
        assert!(h.get("location").is_none(), "{stored}");
    }
    server.stop().await;
}

async fn channel_with_webhook(server: &TestServer, admin: &Client) -> (String, String) {
    common::enable_channels(server).await;
    let r = admin
        .post("/api/v1/channels/create", json!({"name": "general"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ch = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            &format!("/api/v1/channels/{ch}/webhooks/create"),
            json!({"name": "bot", "profile_image_url": PNG}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (ch, r.body["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn webhook_images_are_raster_only() {
    let server = TestServer::fresh().await;
    let c = server.client();
    let r = c.signup("Admin", "admin@example.com", "pass-admin-1").await;
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let (ch, hook) = channel_with_webhook(&server, &admin).await;

    let r = admin
        .post(
            &format!("/api/v1/channels/{ch}/webhooks/create"),
            json!({"name": "evil", "profile_image_url": SVG}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin
        .post(
            &format!("/api/v1/channels/{ch}/webhooks/{hook}/update"),
            json!({"name": "bot", "profile_image_url": SVG}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    let path = format!("/api/v1/channels/webhooks/{hook}/profile/image");
    let (status, h, bytes) = get_raw(&admin, &path).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(is_png(&bytes));

    // Planted SVG: the favicon, never image/svg+xml.
    let id = hook.clone();
    server
        .state
        .as_ref()
        .unwrap()
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE channel_webhook SET profile_image_url = ?1 WHERE id = ?2",
                [SVG, id.as_str()],
            )
        })
        .await
        .unwrap();
    let (status, h, _) = get_raw(&admin, &path).await;
    assert_eq!(status, 200);
    assert_ne!(h["content-type"], "image/svg+xml");
    assert_eq!(h["content-type"], "image/png");
    server.stop().await;
}

#[tokio::test]
async fn model_pictures_and_backgrounds_are_checked() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;

    // An SVG model picture is dropped; the picture route serves no SVG.
    let r = admin
        .post(
            "/api/v1/models/create",
            json!({"id": "m1", "name": "M1", "base_model_id": "gpt-x",
                   "meta": {"profile_image_url": SVG}, "params": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["meta"]["profile_image_url"].is_null(), "{}", r.body);
    let (_, h, _) = get_raw(&admin, "/api/v1/models/model/profile/image?id=m1").await;
    assert_ne!(
        h.get("content-type").map(|v| v.to_str().unwrap()),
        Some("image/svg+xml")
    );

    // Import applies the background checks create/update apply: another
    // user's file is not accessible, and a non-image file is not a picture.
    let bob = second_user(&admin, &c, "bob@example.com").await;
    let bobs = upload_ok(
        &bob,
        "secret.png",
        "image/png",
        b"\x89PNG\r\n\x1a\nxxxxxxxx",
    )
    .await;
    let text = upload_ok(&admin, "notes.txt", "text/plain", b"just text").await;
    let perms = admin.get("/api/v1/users/default/permissions").await.body;
    let mut perms = perms;
    perms["workspace"]["models"] = json!(true);
    perms["workspace"]["models_import"] = json!(true);
    let r = admin.post("/api/v1/users/default/permissions", perms).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let alice_r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Alice", "email": "alice@example.com", "password": "pass-alice-1", "role": "user"}),
        )
        .await;
    assert_eq!(alice_r.status, 200, "{}", alice_r.body);
    let alice = c.login("alice@example.com", "pass-alice-1").await;
    let r = alice
        .post(
            "/api/v1/models/import",
            json!({"models": [{"id": "stolen", "name": "S", "base_model_id": "gpt-x",
                   "meta": {"background_image_url": format!("/api/v1/files/{bobs}/content")}, "params": {}}]}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(alice.get("/api/v1/models/model?id=stolen").await.status != 200);
    let r = admin
        .post(
            "/api/v1/models/import",
            json!({"models": [{"id": "m2", "name": "M2", "base_model_id": "gpt-x",
                   "meta": {"background_image_url": format!("/api/v1/files/{text}/content")}, "params": {}}]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Updating an existing model by import is checked as well.
    let r = alice
        .post(
            "/api/v1/models/create",
            json!({"id": "mine", "name": "Mine", "base_model_id": "gpt-x", "meta": {}, "params": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = alice
        .post(
            "/api/v1/models/import",
            json!({"models": [{"id": "mine", "name": "Mine",
                   "meta": {"background_image_url": format!("/api/v1/files/{bobs}/content")}}]}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn uploaded_script_types_are_downloads() {
    let server = TestServer::fresh().await;
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    let bob = second_user(&admin, &c, "bob@example.com").await;

    for (name, ct, bytes) in [
        (
            "x.svg",
            "image/svg+xml",
            &b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"[..],
        ),
        ("x.html", "text/html", &b"<script>alert(1)</script>"[..]),
        ("x.xml", "application/xml", &b"<a/>"[..]),
        ("x.png", "text/html", &b"<script>alert(1)</script>"[..]),
    ] {
        let r = upload(&bob, name, ct, bytes, None, "?process=false").await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        let id = r.body["id"].as_str().unwrap();
        for path in [
            format!("/api/v1/files/{id}/content"),
            format!("/api/v1/files/{id}/content/{name}"),
        ] {
            let (status, h, _) = get_raw(&bob, &path).await;
            assert_eq!(status, 200, "{path}");
            let ct = h["content-type"].to_str().unwrap();
            assert!(
                !["text/html", "image/svg+xml", "application/xml"].contains(&ct),
                "{name} {path}: {ct}"
            );
            assert!(
                h["content-disposition"]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment"),
                "{name} {path}"
            );
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert!(h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("sandbox"));
        }
    }
    // What the uploader claims decides nothing: claimed HTML is a download.
    let r = upload(
        &bob,
        "y.png",
        "text/html",
        b"<b>x</b>",
        None,
        "?process=false",
    )
    .await;
    let id = r.body["id"].as_str().unwrap();
    let (_, h, _) = get_raw(&bob, &format!("/api/v1/files/{id}/content")).await;
    assert_eq!(h["content-type"], "application/octet-stream");
    // A real PNG stays inline.
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG.split_once(',').unwrap().1)
        .unwrap();
    let r = upload(&bob, "p.png", "image/png", &png, None, "?process=false").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let (_, h, _) = get_raw(&bob, &format!("/api/v1/files/{id}/content")).await;
    assert_eq!(h["content-type"], "image/png");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline"));
    server.stop().await;
}

#[tokio::test]
async fn nosniff_on_api_spa_and_errors() {
    let server = TestServer::fresh().await;
    let c = server.client();
    for path in [
        "/api/config",
        "/",
        "/auth",
        "/api/v1/nope",
        "/health",
        "/ws/socket.io/?EIO=4&transport=polling",
    ] {
        let r = c.get(path).await;
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
    }
    // Errors from the auth layer too.
    let r = c.get("/api/v1/chats/").await;
    assert_eq!(r.status, 401);
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    server.stop().await;
}
