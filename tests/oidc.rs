//! OAuth / OpenID Connect sign-in against a real provider: npm's certified
//! `oidc-provider`, run by node from `e2e/oidc-provider.mjs` on loopback. A
//! cookie-keeping HTTP "browser" walks the redirect dance and submits the
//! provider's login and consent forms.
//!
//! Needs node and `e2e/node_modules` (`npm ci` in e2e/, as .ci/run does):
//! without them these tests skip, except under `CI=true`, where they fail.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Client, TestServer};
use open_webui::auth::oauth::OAuthSettings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const CLIENT_ID: &str = "owui-rs";
const CLIENT_SECRET: &str = "owui-rs-secret-0123456789abcdef";

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("e2e")
}

/// Whether node and the provider package are installed; under CI they must be.
fn provider_available() -> bool {
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let has_pkg = e2e_dir()
        .join("node_modules/oidc-provider/package.json")
        .exists();
    if has_node && has_pkg {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true: node and e2e/node_modules/oidc-provider are required (npm ci in e2e/)");
    }
    eprintln!("skipped: node or e2e/node_modules/oidc-provider missing (run npm ci in e2e/)");
    false
}

struct Idp {
    base: String,
    accounts: PathBuf,
    child: tokio::process::Child,
    http: reqwest::Client,
}

impl Idp {
    fn set_accounts(&self, accounts: Value) {
        std::fs::write(&self.accounts, accounts.to_string()).unwrap();
    }

    async fn next_mode(&self, mode: Option<&str>) {
        let r = self
            .http
            .post(format!("{}/test/next", self.base))
            .body(json!({ "mode": mode }).to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/test/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn logout_token(&self, sub: &str, aud: Option<&str>) -> String {
        let mut url = format!("{}/test/logout-token?sub={sub}", self.base);
        if let Some(a) = aud {
            url.push_str(&format!("&aud={a}"));
        }
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The server and its provider, wired to each other.
struct Setup {
    srv: TestServer,
    idp: Idp,
    admin: Client,
    _dir: tempfile::TempDir,
}

async fn setup(extra_env: &[(&str, &str)], provider_env: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let idp_port = common::free_port();
    let idp_base = format!("http://127.0.0.1:{idp_port}");
    let mut vars: HashMap<String, String> = [
        ("OAUTH_CLIENT_ID", CLIENT_ID.to_string()),
        ("OAUTH_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        (
            "OPENID_PROVIDER_URL",
            format!("{idp_base}/.well-known/openid-configuration"),
        ),
        ("OAUTH_PROVIDER_NAME", "Corp SSO".to_string()),
        ("OAUTH_SCOPES", "openid email profile groups".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra_env {
        vars.insert(k.to_string(), v.to_string());
    }
    let data = dir.path().join("data");
    let mut settings = common::settings_for(&data, Some("test-secret"));
    settings.oauth = OAuthSettings::from_lookup(&move |k| vars.get(k).cloned());
    let srv = TestServer::start(settings).await;
    let state = srv.state.clone().unwrap();
    state
        .config
        .set_many(vec![
            ("openai.api_base_urls", json!([])),
            ("ollama.enable", json!(false)),
            ("oauth.enable_signup", json!(true)),
        ])
        .await
        .unwrap();
    let admin = common::admin(&srv).await;

    let accounts = dir.path().join("accounts.json");
    std::fs::write(&accounts, "{}").unwrap();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(e2e_dir().join("oidc-provider.mjs"))
        .current_dir(e2e_dir())
        .env("OIDC_PORT", idp_port.to_string())
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env(
            "OIDC_REDIRECT_URI",
            format!("{}/oauth/oidc/login/callback", srv.base),
        )
        .env("OIDC_ACCOUNTS", &accounts)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in provider_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the provider starts within 20 s")
        .unwrap()
        .unwrap_or_default();
    assert!(ready.starts_with("ready"), "provider said {ready:?}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let idp = Idp {
        base: idp_base,
        accounts,
        child,
        http: reqwest::Client::new(),
    };
    Setup {
        srv,
        idp,
        admin,
        _dir: dir,
    }
}

/// A browser that keeps cookies per host and stops at every redirect.
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
    url: String,
}

fn absolute(base: &str, loc: &str) -> String {
    reqwest::Url::parse(base)
        .unwrap()
        .join(loc)
        .unwrap()
        .to_string()
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    fn host_of(url: &str) -> String {
        let u = reqwest::Url::parse(url).unwrap();
        format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(80))
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar.get(&Self::host_of(url))?.get(name).cloned()
    }

    async fn request(
        &mut self,
        method: Method,
        url: &str,
        form: Option<Vec<(String, String)>>,
    ) -> Page {
        let host = Self::host_of(url);
        let cookies = self
            .jar
            .get(&host)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let mut req = self.http.request(method, url);
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        if let Some(f) = form {
            req = req.form(&f);
        }
        let resp = req.send().await.unwrap();
        let jar = self.jar.entry(host).or_default();
        for sc in resp.headers().get_all("set-cookie") {
            let sc = sc.to_str().unwrap();
            let first = sc.split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            let gone = sc.to_ascii_lowercase().contains("max-age=0")
                || sc.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
            if gone || v.is_empty() {
                jar.remove(k.trim());
            } else {
                jar.insert(k.trim().to_string(), v.to_string());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|l| absolute(url, l.to_str().unwrap()));
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            location,
            body,
            url: url.to_string(),
        }
    }

    async fn get(&mut self, url: &str) -> Page {
        self.request(Method::GET, url, None).await
    }

    /// Fills and submits the page's form (login fields when it has them).
    async fn submit(&mut self, page: &Page, login: &str, password: &str) -> Page {
        let action = regex::Regex::new(r#"action="([^"]+)""#)
            .unwrap()
            .captures(&page.body)
            .unwrap_or_else(|| panic!("no form on {}: {}", page.url, page.body))[1]
            .replace("&#38;", "&");
        let mut form = vec![];
        if page.body.contains("name=\"login\"") {
            form.push(("login".to_string(), login.to_string()));
            form.push(("password".to_string(), password.to_string()));
        }
        let url = absolute(&page.url, &action);
        self.request(Method::POST, &url, Some(form)).await
    }
}

/// Walks from "Continue with Corp SSO" to the callback; returns the
/// callback's answer (the redirect back to the sign-in page) and the
/// callback URL that was used.
async fn sign_in(b: &mut Browser, srv: &TestServer, login: &str, password: &str) -> (Page, String) {
    let mut page = b.get(&format!("{}/oauth/oidc/login", srv.base)).await;
    assert_eq!(page.status, StatusCode::FOUND, "login: {}", page.body);
    for _ in 0..20 {
        if page.status == StatusCode::OK {
            page = b.submit(&page, login, password).await;
            continue;
        }
        let next = page
            .location
            .clone()
            .unwrap_or_else(|| panic!("stuck at {} ({}): {}", page.url, page.status, page.body));
        let is_callback = next.starts_with(&format!("{}/oauth/oidc/login/callback", srv.base));
        let answer = b.get(&next).await;
        if is_callback {
            return (answer, next);
        }
        page = answer;
    }
    panic!("the redirect dance did not end");
}

fn token_of(b: &Browser, srv: &TestServer) -> Option<String> {
    b.cookie(&srv.base, "token")
}

fn landing_error(page: &Page) -> Option<String> {
    let loc = page.location.as_deref()?;
    let url = reqwest::Url::parse(loc).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.to_string())
}

fn person(login: &str, sub: &str, name: &str, groups: Value) -> Value {
    json!({login: {"password": "pw-1", "sub": sub, "claims": {
        "email": login, "email_verified": true, "name": name, "groups": groups,
    }}})
}

async fn user_count(admin: &Client) -> usize {
    admin.get("/api/v1/users/?page=1").await.body["total"]
        .as_u64()
        .unwrap() as usize
}

async fn create_group(admin: &Client, name: &str) -> String {
    let r = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": name, "description": ""}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn members(admin: &Client, group: &str) -> Vec<String> {
    let r = admin
        .get(&format!("/api/v1/groups/id/{group}/export"))
        .await;
    serde_json::from_value(r.body["user_ids"].clone()).unwrap()
}

#[tokio::test]
async fn sign_in_creates_the_account_and_later_sign_ins_merge_and_move_groups() {
    if !provider_available() {
        return;
    }
    let s = setup(&[], &[]).await;
    let cfg = s.admin.get("/api/config").await;
    assert_eq!(cfg.body["oauth"]["providers"], json!({"oidc": "Corp SSO"}));
    s.srv
        .state
        .as_ref()
        .unwrap()
        .config
        .set("oauth.enable_group_mapping", json!(true))
        .await
        .unwrap();
    let red = create_group(&s.admin, "red").await;
    let blue = create_group(&s.admin, "blue").await;
    s.idp
        .set_accounts(person("ada@example.com", "ada-1", "Ada", json!(["red"])));

    let mut b = Browser::new();
    let (cb, _) = sign_in(&mut b, &s.srv, "ada@example.com", "pw-1").await;
    assert_eq!(cb.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        cb.location.as_deref(),
        Some(format!("{}/auth", s.srv.base).as_str())
    );
    let token = token_of(&b, &s.srv).expect("the callback set the session cookie");
    assert!(b.cookie(&s.srv.base, "oauth_session_id").is_some());
    let me = s
        .srv
        .client()
        .with_token(&token)
        .get("/api/v1/auths/")
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["name"], "Ada", "the name comes from userinfo");
    let id = me.body["id"].as_str().unwrap().to_string();
    assert_eq!(members(&s.admin, &red).await, vec![id.clone()]);
    assert!(members(&s.admin, &blue).await.is_empty());
    let sessions = s
        .admin
        .get(&format!("/api/v1/users/{id}/oauth/sessions"))
        .await;
    assert_eq!(sessions.status, 200);
    assert!(
        sessions.body[0].get("token").is_none(),
        "tokens stay server-side"
    );

    // the provider moves her to blue: a fresh browser signs in again
    s.idp
        .set_accounts(person("ada@example.com", "ada-1", "Ada", json!(["blue"])));
    let mut b2 = Browser::new();
    let (cb2, _) = sign_in(&mut b2, &s.srv, "ada@example.com", "pw-1").await;
    assert_eq!(landing_error(&cb2), None);
    let token2 = token_of(&b2, &s.srv).unwrap();
    let me2 = s
        .srv
        .client()
        .with_token(&token2)
        .get("/api/v1/auths/")
        .await;
    assert_eq!(
        me2.body["id"],
        json!(id),
        "the second sign-in is the same account"
    );
    assert!(members(&s.admin, &red).await.is_empty(), "left red");
    assert_eq!(
        members(&s.admin, &blue).await,
        vec![id.clone()],
        "joined blue"
    );
    assert_eq!(user_count(&s.admin).await, 2);

    // signing out points the browser at the provider's end-session page
    let out = b2
        .request(
            Method::POST,
            &format!("{}/api/v1/auths/signout", s.srv.base),
            None,
        )
        .await;
    let body: Value = serde_json::from_str(&out.body).unwrap();
    let redirect = body["redirect_url"].as_str().expect("redirect_url");
    assert!(
        redirect.starts_with(&format!("{}/session/end?id_token_hint=", s.idp.base)),
        "{redirect}"
    );
}

#[tokio::test]
async fn an_existing_account_is_merged_by_email_only_when_allowed() {
    if !provider_available() {
        return;
    }
    let s = setup(&[], &[]).await;
    let r = s
        .admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Bob Local", "email": "bob@example.com", "password": "pw-local-1", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let local_id = r.body["id"].as_str().unwrap().to_string();
    s.idp
        .set_accounts(person("bob@example.com", "bob-1", "Bob", json!([])));

    // merging off: the address is taken, nothing is created
    let mut b = Browser::new();
    let (cb, _) = sign_in(&mut b, &s.srv, "bob@example.com", "pw-1").await;
    assert!(landing_error(&cb).is_some(), "refused with a message");
    assert!(token_of(&b, &s.srv).is_none());
    assert_eq!(user_count(&s.admin).await, 2);

    let state = s.srv.state.as_ref().unwrap();
    state
        .config
        .set("oauth.merge_accounts_by_email", json!(true))
        .await
        .unwrap();
    let mut b = Browser::new();
    sign_in(&mut b, &s.srv, "bob@example.com", "pw-1").await;
    let token = token_of(&b, &s.srv).expect("merged sign-in");
    let me = s
        .srv
        .client()
        .with_token(&token)
        .get("/api/v1/auths/")
        .await;
    assert_eq!(me.body["id"], json!(local_id));
    assert_eq!(user_count(&s.admin).await, 2);
}

#[tokio::test]
async fn tampered_expired_or_foreign_id_tokens_are_refused_and_create_nothing() {
    if !provider_available() {
        return;
    }
    let s = setup(&[], &[]).await;
    for (i, mode) in ["tamper", "expire", "audience", "nonce"].iter().enumerate() {
        let login = format!("eve{i}@example.com");
        s.idp
            .set_accounts(person(&login, &format!("eve-{i}"), "Eve", json!([])));
        s.idp.next_mode(Some(mode)).await;
        let mut b = Browser::new();
        let (cb, _) = sign_in(&mut b, &s.srv, &login, "pw-1").await;
        assert_eq!(cb.status, StatusCode::TEMPORARY_REDIRECT, "{mode}");
        assert!(
            landing_error(&cb).is_some(),
            "{mode}: refused with a message"
        );
        assert!(token_of(&b, &s.srv).is_none(), "{mode}: no session");
        assert_eq!(user_count(&s.admin).await, 1, "{mode}: no account");
    }
    // the same provider, unaltered, signs in
    s.idp
        .set_accounts(person("ok@example.com", "ok-1", "Ok", json!([])));
    let mut b = Browser::new();
    sign_in(&mut b, &s.srv, "ok@example.com", "pw-1").await;
    assert!(token_of(&b, &s.srv).is_some());
}

#[tokio::test]
async fn es256_id_tokens_are_accepted() {
    if !provider_available() {
        return;
    }
    let s = setup(&[], &[("OIDC_ID_TOKEN_ALG", "ES256")]).await;
    s.idp
        .set_accounts(person("ec@example.com", "ec-1", "Ec", json!([])));
    let mut b = Browser::new();
    let (cb, _) = sign_in(&mut b, &s.srv, "ec@example.com", "pw-1").await;
    assert_eq!(landing_error(&cb), None);
    assert!(token_of(&b, &s.srv).is_some());
}

#[tokio::test]
async fn a_replayed_or_foreign_callback_is_refused() {
    if !provider_available() {
        return;
    }
    let s = setup(&[], &[]).await;
    s.idp
        .set_accounts(person("cat@example.com", "cat-1", "Cat", json!([])));
    let mut b = Browser::new();
    let (_, callback) = sign_in(&mut b, &s.srv, "cat@example.com", "pw-1").await;
    assert!(token_of(&b, &s.srv).is_some());
    let before = user_count(&s.admin).await;

    // the same state again, in the same browser and in another one
    let again = b.get(&callback).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(serde_json::from_str::<Value>(&again.body).unwrap()["detail"].is_string());
    let mut other = Browser::new();
    assert_eq!(other.get(&callback).await.status, StatusCode::BAD_REQUEST);

    // a state this browser never started (a login started elsewhere)
    let mut starter = Browser::new();
    let start = starter
        .get(&format!("{}/oauth/oidc/login", s.srv.base))
        .await;
    let st = reqwest::Url::parse(start.location.as_deref().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let mut victim = Browser::new();
    let forged = format!("{}/oauth/oidc/login/callback?code=x&state={st}", s.srv.base);
    assert_eq!(victim.get(&forged).await.status, StatusCode::BAD_REQUEST);

    // malformed and unknown
    for path in [
        "/oauth/oidc/login/callback",
        "/oauth/oidc/callback?state=",
        "/oauth/oidc/login/callback?code=a&state=unknown",
    ] {
        let r = b.get(&format!("{}{path}", s.srv.base)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
    }
    let r = b.get(&format!("{}/oauth/nope/login", s.srv.base)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(user_count(&s.admin).await, before);
}

#[tokio::test]
async fn an_expiring_provider_token_is_refreshed_before_it_is_forwarded() {
    if !provider_available() {
        return;
    }
    // access tokens live 60 s: inside the five minutes before expiry
    let s = setup(&[], &[("OIDC_ACCESS_TTL", "60")]).await;
    s.srv
        .state
        .as_ref()
        .unwrap()
        .config
        .set_many(vec![("oauth.enable_role_mapping", json!(true))])
        .await
        .unwrap();
    s.idp.set_accounts(
        json!({"root@example.com": {"password": "pw-1", "sub": "root-1",
        "claims": {"email": "root@example.com", "name": "Root", "roles": ["admin"]}}}),
    );
    let mut b = Browser::new();
    sign_in(&mut b, &s.srv, "root@example.com", "pw-1").await;
    assert!(token_of(&b, &s.srv).is_some());

    // a tool server that records the bearer it is sent
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    let app = axum::Router::new().route(
        "/openapi.json",
        axum::routing::get(move |h: axum::http::HeaderMap| {
            let seen = seen2.clone();
            async move {
                let auth = h
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                seen.lock().unwrap().push(auth);
                axum::Json(json!({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tools = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let verify = |b: &mut Browser| {
        let url = format!("{}/api/v1/configs/tool_servers/verify", s.srv.base);
        let body = json!({"url": tools, "path": "openapi.json", "type": "openapi",
            "auth_type": "system_oauth", "key": "", "config": {}});
        let token = token_of(b, &s.srv).unwrap();
        let http = b.http.clone();
        let cookie = format!(
            "token={token}; oauth_session_id={}",
            b.cookie(&s.srv.base, "oauth_session_id").unwrap()
        );
        async move {
            http.post(url)
                .header("cookie", cookie)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(s.idp.stats().await["refresh"], 0);
    assert_eq!(verify(&mut b).await, StatusCode::OK);
    assert_eq!(
        s.idp.stats().await["refresh"],
        1,
        "refreshed before forwarding"
    );
    let first = seen.lock().unwrap().last().cloned().unwrap();
    assert!(first.starts_with("Bearer ") && first.len() > 20, "{first}");

    // the provider refuses the next refresh: nothing is forwarded, the session goes
    s.idp.next_mode(Some("refuse-refresh")).await;
    assert_eq!(verify(&mut b).await, StatusCode::OK);
    assert_eq!(s.idp.stats().await["refresh"], 2);
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        "",
        "no stale token forwarded"
    );
    let token = token_of(&b, &s.srv).unwrap();
    let gone = s
        .srv
        .client()
        .with_token(&token)
        .delete("/api/v1/auths/oauth/sessions/oidc")
        .await;
    assert_eq!(gone.status, 404, "the refused refresh dropped the session");
}

#[tokio::test]
async fn back_channel_logout_ends_only_the_named_accounts_sessions() {
    if !provider_available() {
        return;
    }
    let s = setup(&[("ENABLE_OAUTH_BACKCHANNEL_LOGOUT", "true")], &[]).await;
    let mut tokens = vec![];
    let mut ids = vec![];
    for (login, sub) in [
        ("leave@example.com", "leave-1"),
        ("stay@example.com", "stay-1"),
    ] {
        s.idp.set_accounts(person(login, sub, "P", json!([])));
        let mut b = Browser::new();
        sign_in(&mut b, &s.srv, login, "pw-1").await;
        let t = token_of(&b, &s.srv).unwrap();
        let me = s.srv.client().with_token(&t).get("/api/v1/auths/").await;
        ids.push(me.body["id"].as_str().unwrap().to_string());
        tokens.push(t);
    }
    let has_session = |id: String| {
        let admin = &s.admin;
        async move {
            admin
                .get(&format!("/api/v1/users/{id}/oauth/sessions"))
                .await
                .status
                == 200
        }
    };
    let post = |token: String| {
        let url = format!("{}/oauth/backchannel-logout", s.srv.base);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&[("logout_token", token)])
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // another audience, and garbage: refused, nothing ends
    let foreign = s.idp.logout_token("leave-1", Some("another-client")).await;
    let (st, body) = post(foreign).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    let (st, _) = post("not.a.jwt".into()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(has_session(ids[0].clone()).await);

    let good = s.idp.logout_token("leave-1", None).await;
    let (st, _) = post(good).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        !has_session(ids[0].clone()).await,
        "the named account's sessions ended"
    );
    assert!(
        has_session(ids[1].clone()).await,
        "the other account keeps its session"
    );
    let me = s
        .srv
        .client()
        .with_token(&tokens[0])
        .get("/api/v1/auths/")
        .await;
    assert_eq!(me.status, 401, "its session token is revoked too");
    let me = s
        .srv
        .client()
        .with_token(&tokens[1])
        .get("/api/v1/auths/")
        .await;
    assert_eq!(me.status, 200);
}
