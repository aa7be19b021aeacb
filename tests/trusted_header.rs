//! Sign-in behind an authenticating proxy (`WEBUI_AUTH_TRUSTED_*_HEADER`),
//! the sign-out redirect, and the `ENABLE_PASSWORD_AUTH` / `ENABLE_LOGIN_FORM`
//! switches, all through the real HTTP API.

mod common;

use common::{Client, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const EMAIL_H: &str = "X-Forwarded-Email";
const NAME_H: &str = "X-Forwarded-Name";
const GROUPS_H: &str = "X-Forwarded-Groups";
const ROLE_H: &str = "X-Forwarded-Role";

async fn proxied() -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = common::settings_for(tmp.path(), Some("k"));
    s.trusted.email = Some(EMAIL_H.into());
    s.trusted.name = Some(NAME_H.into());
    s.trusted.groups = Some(GROUPS_H.into());
    s.trusted.role = Some(ROLE_H.into());
    s.signout_redirect_url = Some("https://sso.example.test/logged-out".into());
    (TestServer::start(s).await, tmp)
}

/// The web client's sign-in behind the proxy: an empty form plus the headers.
async fn sign_in(srv: &TestServer, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(srv.url("/api/v1/auths/signin"))
        .json(&json!({"email": "", "password": ""}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn signed_in(srv: &TestServer, headers: &[(&str, &str)]) -> Value {
    let (status, body) = sign_in(srv, headers).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn member_ids(admin: &Client, group: &str) -> Vec<String> {
    let r = admin
        .get(&format!("/api/v1/groups/id/{group}/export"))
        .await;
    r.body["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_proxy_names_the_person_and_the_account_follows() {
    let (srv, _tmp) = proxied().await;
    let r = srv.client().get("/api/config").await;
    assert_eq!(r.body["features"]["auth_trusted_header"], true);

    // The first account is the admin, as with a sign-up.
    let boss = signed_in(&srv, &[(EMAIL_H, "Boss@Example.com")]).await;
    assert_eq!(boss["email"], "boss@example.com");
    assert_eq!(boss["name"], "boss@example.com", "named after the email");
    assert_eq!(boss["role"], "admin");
    let admin = srv.client().with_token(boss["token"].as_str().unwrap());

    let first = signed_in(
        &srv,
        &[
            (EMAIL_H, "jorg@example.com"),
            (NAME_H, "J%C3%B6rg%20%C3%98"),
        ],
    )
    .await;
    assert_eq!(first["name"], "Jörg Ø");
    assert_eq!(first["role"], "pending");
    let again = signed_in(
        &srv,
        &[(EMAIL_H, "jorg@example.com"), (NAME_H, "Someone Else")],
    )
    .await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["name"], "Jörg Ø", "later names do not rename");

    // Without the header even the right password is refused.
    let (status, body) = sign_in(&srv, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("token").is_none());
    let (status, _) = sign_in(&srv, &[(EMAIL_H, "not an address")]).await;
    assert_eq!(status, 400);

    // Role header: valid names apply, others are ignored.
    let promoted = signed_in(&srv, &[(EMAIL_H, "jorg@example.com"), (ROLE_H, " USER ")]).await;
    assert_eq!(promoted["role"], "user");
    let ignored = signed_in(
        &srv,
        &[(EMAIL_H, "jorg@example.com"), (ROLE_H, "superuser")],
    )
    .await;
    assert_eq!(ignored["role"], "user");

    // A session shown next to another person's header is refused.
    let jorg = srv.client().with_token(promoted["token"].as_str().unwrap());
    let own = jorg
        .http
        .get(srv.url("/api/v1/auths/"))
        .bearer_auth(jorg.token.as_ref().unwrap())
        .header(EMAIL_H, "jorg@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let crossed = jorg
        .http
        .get(srv.url("/api/v1/auths/"))
        .bearer_auth(jorg.token.as_ref().unwrap())
        .header(EMAIL_H, "boss@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(crossed.status(), 401);

    // The proxy owns the credentials.
    let r = jorg
        .post(
            "/api/v1/auths/update/password",
            json!({"password": "x", "new_password": "New-pass-123"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Groups: the header sets memberships among existing groups only.
    let mut ids = Vec::new();
    for name in ["red", "blue"] {
        let r = admin
            .post(
                "/api/v1/groups/create",
                json!({"name": name, "description": ""}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let uid = first["id"].as_str().unwrap().to_string();
    signed_in(
        &srv,
        &[
            (EMAIL_H, "jorg@example.com"),
            (GROUPS_H, " red , blue,nowhere"),
        ],
    )
    .await;
    assert!(member_ids(&admin, &ids[0]).await.contains(&uid));
    assert!(member_ids(&admin, &ids[1]).await.contains(&uid));
    signed_in(&srv, &[(EMAIL_H, "jorg@example.com"), (GROUPS_H, "blue")]).await;
    assert!(!member_ids(&admin, &ids[0]).await.contains(&uid));
    assert!(member_ids(&admin, &ids[1]).await.contains(&uid));
    signed_in(&srv, &[(EMAIL_H, "jorg@example.com"), (GROUPS_H, "")]).await;
    assert!(
        member_ids(&admin, &ids[1]).await.contains(&uid),
        "empty list keeps"
    );
    let names: Vec<Value> = admin
        .get("/api/v1/groups/")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].clone())
        .collect();
    assert!(!names.contains(&json!("nowhere")), "never creates a group");

    // Sign-out tells the client where to go.
    let out = jorg.get("/api/v1/auths/signout").await;
    assert_eq!(out.status, 200);
    assert_eq!(
        out.body,
        json!({"status": true, "redirect_url": "https://sso.example.test/logged-out"})
    );
}

#[tokio::test]
async fn password_auth_off_refuses_password_and_ldap_sign_in() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = common::settings_for(tmp.path(), Some("k"));
    s.enable_password_auth = false;
    let srv = TestServer::start(s).await;
    let admin = common::admin(&srv).await;
    let r = srv
        .client()
        .signin(common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.get("token").is_none());
    let r = admin
        .post(
            "/api/v1/auths/admin/config/ldap",
            json!({"enable_ldap": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = srv
        .client()
        .post("/api/v1/auths/ldap", json!({"user": "a", "password": "b"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Without a redirect URL the sign-out answer is the plain one.
    assert_eq!(
        admin.get("/api/v1/auths/signout").await.body,
        json!({"status": true})
    );
}

#[tokio::test]
async fn login_form_off_closes_sign_up_but_not_sign_in() {
    let srv = TestServer::fresh().await;
    let state = srv.state.clone().unwrap();
    state
        .config
        .set("ui.enable_login_form", json!(false))
        .await
        .unwrap();
    // Not even the first admin signs up (ENABLE_INITIAL_ADMIN_SIGNUP is off).
    let r = srv
        .client()
        .signup("Admin", common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    state
        .config
        .set("ui.enable_login_form", json!(true))
        .await
        .unwrap();
    common::admin(&srv).await;
    state
        .config
        .set("ui.enable_login_form", json!(false))
        .await
        .unwrap();
    let r = srv
        .client()
        .signup("Late", "late@example.com", "Late-pass-1")
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The form is hidden, but the API sign-in still works (as upstream).
    let r = srv
        .client()
        .signin(common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = srv.client().get("/api/config").await;
    assert_eq!(r.body["features"]["enable_login_form"], false);
    assert_eq!(r.body["features"]["auth_trusted_header"], false);
}
