//! Sign-up, sign-in, roles, cookies, API keys and bad input, over real HTTP.

mod common;

use common::TestServer;
use reqwest::{header, Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn first_signup_is_admin_and_closes_signup() {
    let srv = TestServer::fresh().await;
    let c = srv.client();

    let cfg = c.get("/api/config").await;
    assert_eq!(cfg.status, 200);
    assert_eq!(cfg.body["onboarding"], true);
    assert!(
        cfg.body["features"].get("enable_api_keys").is_none(),
        "anonymous shape only"
    );

    let r = c.signup("Admin", "Admin@Example.com", "Passw0rd!x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "admin");
    assert_eq!(r.body["email"], "admin@example.com");
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["permissions"]["chat"]["controls"].is_boolean());
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("token=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=lax")
    );

    // Onboarding is over and sign-up closed itself.
    let cfg = c.get("/api/config").await;
    assert!(cfg.body.get("onboarding").is_none());
    assert_eq!(cfg.body["features"]["enable_signup"], false);
    let second = c.signup("Bob", "bob@example.com", "Passw0rd!x").await;
    assert_eq!(second.status, StatusCode::FORBIDDEN);
    assert!(second.body["detail"].is_string());

    // The stored hash is upstream's bcrypt flavour.
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    let hash: String = db
        .query_row("SELECT password FROM auth", [], |r| r.get(0))
        .unwrap();
    assert!(hash.starts_with("$2b$12$") && hash.len() == 60);
    let signup_flag: String = db
        .query_row(
            "SELECT value FROM config WHERE key = 'ui.enable_signup'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(signup_flag, "false");
}

#[tokio::test]
async fn pending_users_and_roles() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let admin = c.with_token(
        c.signup("Admin", "admin@example.com", "Passw0rd!x")
            .await
            .body["token"]
            .as_str()
            .unwrap(),
    );

    // Re-open sign-up through the admin settings page's endpoint.
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    assert_eq!(cfg["DEFAULT_USER_ROLE"], "pending");
    cfg["ENABLE_SIGNUP"] = json!(true);
    let saved = admin.post("/api/v1/auths/admin/config", cfg).await;
    assert_eq!(saved.status, 200);
    assert_eq!(saved.body["ENABLE_SIGNUP"], true);

    let r = c.signup("Bob", "bob@example.com", "Bob-pass-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "pending");
    let bob = c.with_token(r.body["token"].as_str().unwrap());

    // Pending: may see the session and the overlay config, nothing else.
    assert_eq!(bob.get("/api/v1/auths/").await.status, 200);
    let cfg = bob.get("/api/config").await.body;
    assert!(cfg["ui"].get("pending_user_overlay_title").is_some());
    assert!(cfg.get("permissions").is_none());
    assert_eq!(
        bob.get("/api/v1/chats/").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        bob.get("/api/v1/users/user/settings").await.status,
        StatusCode::UNAUTHORIZED
    );

    // The admin sees the new account as pending; nobody else may list users.
    let list = admin.get("/api/v1/users/?query=BOB").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["users"][0]["role"], "pending");
    assert_eq!(list.body["users"][0]["group_ids"], json!([]));
    assert_eq!(admin.get("/api/v1/users/").await.body["total"], 2);
    assert_eq!(
        bob.get("/api/v1/users/").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Users may not touch admin routes.
    assert_eq!(
        bob.get("/api/v1/auths/admin/config").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.get("/api/v1/auths/admin/config").await.status,
        StatusCode::UNAUTHORIZED
    );

    // The admin can add a user directly with a role.
    let added = admin
        .post("/api/v1/auths/add", json!({"name": "Carol", "email": "carol@example.com", "password": "pw-carol", "role": "user"}))
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["role"], "user");
    let carol = c.login("carol@example.com", "pw-carol").await;
    assert_eq!(carol.get("/api/v1/chats/").await.status, 200);
    let dup = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "C2", "email": "CAROL@example.com", "password": "x"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cookie_bearer_and_api_keys() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    let token = r.body["token"].as_str().unwrap().to_string();
    let admin = c.with_token(&token);

    // Cookie only, as the browser sends it for /api/config and <img>.
    let cookie_resp = c
        .http
        .get(srv.url("/api/config"))
        .header(header::COOKIE, format!("token={token}"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = cookie_resp.json().await.unwrap();
    assert!(
        body["features"]["enable_api_keys"].is_boolean(),
        "full shape with cookie"
    );
    let img = c
        .http
        .get(srv.url(&format!(
            "/api/v1/users/{}/profile/image",
            r.body["id"].as_str().unwrap()
        )))
        .header(header::COOKIE, format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_ne!(img.status(), StatusCode::UNAUTHORIZED);

    // GET /api/v1/auths/ re-sets the cookie.
    let s = admin.get("/api/v1/auths/").await;
    assert_eq!(s.status, 200);
    assert!(s.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains(&token));
    assert!(s.body.get("bio").is_some());

    // A bad token with a cookie: 401 and the cookie is cleared.
    let bad = c
        .http
        .get(srv.url("/api/v1/auths/"))
        .header(header::COOKIE, "token=garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        c.get("/api/v1/auths/").await.status,
        StatusCode::UNAUTHORIZED
    );

    // API keys are off by default.
    let denied = admin.post("/api/v1/auths/api_key", json!({})).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    cfg["ENABLE_API_KEYS"] = json!(true);
    assert_eq!(
        admin.post("/api/v1/auths/admin/config", cfg).await.status,
        200
    );
    let created = admin.post("/api/v1/auths/api_key", json!({})).await;
    assert_eq!(created.status, 200);
    let key = created.body["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-") && key.len() == 35);
    assert_eq!(
        admin.get("/api/v1/auths/api_key").await.body["api_key"],
        key.as_str()
    );

    let by_key = c.with_token(&key);
    assert_eq!(by_key.get("/api/v1/chats/").await.status, 200);
    let human = by_key.get("/api/v1/auths/").await;
    assert_eq!(human.status, StatusCode::FORBIDDEN);
    assert_eq!(human.body["detail"], "A human session is required.");
    // x-api-key header works too.
    let xk = c
        .http
        .get(srv.url("/api/v1/chats/"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(xk.status(), 200);

    assert_eq!(
        admin.delete("/api/v1/auths/api_key").await.body,
        json!(true)
    );
    assert_eq!(
        by_key.get("/api/v1/chats/").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn password_change_revokes_old_sessions() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let old = c.with_token(
        c.signup("Admin", "admin@example.com", "first-pw")
            .await
            .body["token"]
            .as_str()
            .unwrap(),
    );
    let wrong = old
        .post(
            "/api/v1/auths/update/password",
            json!({"password": "nope", "new_password": "second-pw"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let ok = old
        .post(
            "/api/v1/auths/update/password",
            json!({"password": "first-pw", "new_password": "second-pw"}),
        )
        .await;
    assert_eq!(ok.body, json!(true));
    assert_eq!(
        old.get("/api/v1/auths/").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.signin("admin@example.com", "first-pw").await.status,
        StatusCode::BAD_REQUEST
    );
    let fresh = c.login("admin@example.com", "second-pw").await;
    let p = fresh
        .post(
            "/api/v1/auths/update/profile",
            json!({"name": "Renamed", "profile_image_url": "/user.png", "bio": "hi"}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(fresh.get("/api/v1/auths/").await.body["name"], "Renamed");
    let tz = fresh
        .post(
            "/api/v1/auths/update/timezone",
            json!({"timezone": "Europe/Lisbon"}),
        )
        .await;
    assert_eq!(tz.body, json!({"status": true}));
    let settings = json!({"ui": {"theme": "dark", "models": ["m"]}});
    assert_eq!(
        fresh.get("/api/v1/users/user/settings").await.body,
        serde_json::Value::Null
    );
    assert_eq!(
        fresh
            .post("/api/v1/users/user/settings/update", settings.clone())
            .await
            .body,
        settings
    );
    assert_eq!(
        fresh.get("/api/v1/users/user/settings").await.body,
        settings
    );
    assert_eq!(
        c.get("/api/v1/auths/signout").await.body,
        json!({"status": true})
    );
}

#[tokio::test]
async fn bad_input_is_4xx_with_detail() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = common::settings_for(tmp.path(), Some("k"));
    settings.max_body_bytes = 1024 * 1024;
    let srv = TestServer::start(settings).await;
    let c = srv.client();
    let raw = |body: &'static str| {
        c.http
            .post(srv.url("/api/v1/auths/signin"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    for (body, status) in [
        ("not json", 422),
        ("{\"email\": \"a@b.c\"}", 422),
        ("{\"email\": 5, \"password\": []}", 422),
        ("[]", 422),
        ("", 422),
    ] {
        let r = raw(body).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "body {body:?}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["detail"].is_array(), "{v}");
    }
    // No content type at all.
    let r = c
        .http
        .post(srv.url("/api/v1/auths/signin"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Oversized body.
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = c
        .http
        .post(srv.url("/api/v1/auths/signup"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!("{{\"name\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Unknown API path: JSON 404, not the SPA.
    let r = c.get("/api/v1/does-not-exist").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["detail"], "Not Found");
    // Wrong method.
    let r = c.send(Method::DELETE, "/api/config", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // Invalid sign-up fields.
    assert_eq!(c.signup("A", "not-an-email", "pw").await.status, 400);
    assert_eq!(c.signup("A", "a@b.c", &"p".repeat(73)).await.status, 400);
    assert_eq!(c.signup("", "a@b.c", "pw").await.status, 400);
    // Unknown user and wrong password: the same 400.
    c.signup("A", "a@b.c", "right").await;
    let unknown = c.signin("who@b.c", "x").await;
    let wrong = c.signin("a@b.c", "wrong").await;
    assert_eq!(
        (unknown.status, wrong.status),
        (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST)
    );
    assert_eq!(unknown.body, wrong.body);
}

#[tokio::test]
async fn signin_is_rate_limited_per_email() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    c.signup("A", "a@b.c", "right").await;
    let mut statuses = vec![];
    for _ in 0..16 {
        statuses.push(c.signin("a@b.c", "wrong").await.status.as_u16());
    }
    assert!(statuses[..15].iter().all(|s| *s == 400), "{statuses:?}");
    assert_eq!(statuses[15], 429);
    // Other accounts are unaffected.
    assert_eq!(c.signin("other@b.c", "x").await.status, 400);
}

#[tokio::test]
async fn page_load_endpoints_answer_with_upstream_shapes() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let admin = common::admin(&srv).await;
    assert_eq!(
        c.get("/api/version").await.body,
        json!({"version": "0.12.4", "deployment_id": ""})
    );
    assert_eq!(c.get("/health").await.body, json!({"status": true}));
    assert_eq!(c.get("/health/db").await.status, 200);
    assert!(c.get("/api/changelog").await.body.is_object());
    for path in [
        "/api/v1/configs/banners",
        "/api/v1/tools/",
        "/api/v1/functions/",
        "/api/v1/skills/",
        "/api/v1/notes/pinned",
        "/api/v1/terminals/",
        "/api/v1/chats/?page=1",
        "/api/v1/chats/pinned",
        "/api/v1/chats/all/tags",
        "/api/v1/folders/",
        "/api/v1/folders/shared",
    ] {
        let r = admin.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body, json!([]), "{path}");
    }
    assert_eq!(admin.get("/api/models").await.body, json!({"data": []}));
    // Channels are off by default: the list the app shell asks for on socket
    // connects is empty rather than an error.
    let ch = admin.get("/api/v1/channels/").await;
    assert_eq!((ch.status.as_u16(), ch.body), (200, json!([])));
    let cfg = admin.get("/api/config").await.body;
    for k in [
        "default_models",
        "code",
        "audio",
        "file",
        "permissions",
        "ui",
        "license_metadata",
    ] {
        assert!(cfg.get(k).is_some(), "missing {k}");
    }
    assert_eq!(cfg["features"]["enable_folders"], true);
    let m = c.get("/manifest.json").await;
    assert_eq!(m.body["name"], "Open WebUI");
    let os = c
        .http
        .get(srv.url("/opensearch.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(os.contains("<ShortName>Open WebUI</ShortName>"));
}

#[tokio::test]
async fn restart_keeps_secret_sessions_and_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = TestServer::start(common::settings_for(tmp.path(), None)).await;
    let secret_file = tmp.path().join(".webui_secret_key");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(secret.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret_file)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let c = srv.client();
    let token = c.signup("Admin", "admin@example.com", "pw").await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = c.with_token(&token);
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    cfg["JWT_EXPIRES_IN"] = json!("2h");
    cfg["ENABLE_SIGNUP"] = json!(true);
    admin.post("/api/v1/auths/admin/config", cfg).await;
    srv.stop().await;

    let srv = TestServer::start(common::settings_for(tmp.path(), None)).await;
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    let admin = srv.client().with_token(&token);
    assert_eq!(admin.get("/api/v1/auths/").await.status, 200);
    let cfg = admin.get("/api/v1/auths/admin/config").await.body;
    assert_eq!(cfg["JWT_EXPIRES_IN"], "2h");
    assert_eq!(cfg["ENABLE_SIGNUP"], true);
    srv.stop().await;
}

#[tokio::test]
async fn auth_disabled_mode_signs_everyone_in_as_the_local_admin() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = common::settings_for(tmp.path(), Some("k"));
    settings.webui_auth = false;
    let srv = TestServer::start(settings).await;
    let c = srv.client();
    assert_eq!(c.get("/api/config").await.body["features"]["auth"], false);
    let a = c.signin("", "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["role"], "admin");
    assert_eq!(a.body["email"], "admin@localhost");
    let b = c.signin("anything@x.y", "whatever").await;
    assert_eq!(b.body["id"], a.body["id"], "always the same single user");
    assert_eq!(
        c.signup("X", "x@y.z", "pw").await.status,
        StatusCode::FORBIDDEN
    );
}

/// A client whose connections come from `ip` (any 127.x address is loopback).
fn client_from(srv: &TestServer, ip: &str) -> common::Client {
    common::Client {
        base: srv.base.clone(),
        http: reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap(),
        token: None,
    }
}

#[tokio::test]
async fn failures_from_one_address_do_not_lock_the_owner_out() {
    let srv = TestServer::fresh().await;
    let owner = client_from(&srv, "127.0.0.1");
    let attacker = client_from(&srv, "127.0.0.2");
    assert_eq!(
        owner
            .signup("Admin", "admin@example.com", "Passw0rd!x")
            .await
            .status,
        200
    );
    for i in 0..15 {
        let r = attacker
            .signin("admin@example.com", &format!("guess{i}"))
            .await;
        assert_eq!(r.status, 400, "attempt {i}: {}", r.body);
    }
    // The attacker's address is cut off for that account, right password or not.
    let r = attacker.signin("ADMIN@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    // The owner, from elsewhere, signs in as usual.
    let r = owner.signin("admin@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, 200, "the owner was locked out: {}", r.body);

    // Successful sign-ins are not counted: 14 failures, successes, then the
    // 15th failure is still an ordinary 400 and only the next attempt is refused.
    let third = client_from(&srv, "127.0.0.3");
    for i in 0..14 {
        assert_eq!(
            third
                .signin("admin@example.com", &format!("g{i}"))
                .await
                .status,
            400
        );
    }
    for _ in 0..3 {
        assert_eq!(
            third.signin("admin@example.com", "Passw0rd!x").await.status,
            200
        );
    }
    assert_eq!(third.signin("admin@example.com", "nope").await.status, 400);
    assert_eq!(
        third.signin("admin@example.com", "Passw0rd!x").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    srv.stop().await;
}

#[tokio::test]
async fn auth_turned_off_signs_in_only_the_local_admin() {
    // A fresh folder: the local admin is created with upstream's fixed password,
    // so the same folder keeps working with authentication turned back on.
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = common::settings_for(tmp.path(), Some("k"));
    settings.webui_auth = false;
    let srv = TestServer::start(settings).await;
    let a = srv.client().signin("", "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["email"], "admin@localhost");
    srv.stop().await;
    let srv = TestServer::start(common::settings_for(tmp.path(), Some("k"))).await;
    let r = srv.client().signin("admin@localhost", "admin").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], a.body["id"]);
    srv.stop().await;
}

#[tokio::test]
async fn signing_out_ends_only_that_token() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    c.signup("Admin", "admin@example.com", "pw-one").await;
    let first = c.login("admin@example.com", "pw-one").await;
    let second = c.login("admin@example.com", "pw-one").await;
    assert_ne!(first.token, second.token);
    assert_eq!(first.get("/api/v1/auths/").await.status, StatusCode::OK);
    assert_eq!(
        first.get("/api/v1/auths/signout").await.body,
        json!({"status": true})
    );
    assert_eq!(
        first.get("/api/v1/auths/").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        first.get("/api/models").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(second.get("/api/v1/auths/").await.status, StatusCode::OK);
    // An API key of the same account is not a session and keeps working.
    let mut cfg = second.get("/api/v1/auths/admin/config").await.body;
    cfg["ENABLE_API_KEYS"] = json!(true);
    assert_eq!(
        second.post("/api/v1/auths/admin/config", cfg).await.status,
        200
    );
    let key = second.post("/api/v1/auths/api_key", json!({})).await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.body);
    let k = c.with_token(key.body["api_key"].as_str().unwrap());
    assert_eq!(k.get("/api/v1/auths/signout").await.status, StatusCode::OK);
    assert_eq!(k.get("/api/v1/chats/").await.status, StatusCode::OK);
    assert_eq!(second.get("/api/v1/auths/").await.status, StatusCode::OK);
}
