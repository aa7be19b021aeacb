//! An authorization matrix generated from the route table.
//!
//! The routes are read from the source (`.route("…", get(…).post(…))` calls under
//! `src/`) and each one is classified by the `auth` level upstream declares for it
//! in `tests/data/endpoints.json` (a copy of the reference's file), or by an
//! entry in `OUR_ROUTES` for routes upstream does not have. An unclassified route
//! fails the test, so no route ships without a decision. Every classified route
//! is then called as anonymous, pending, user, admin and with a user's API key,
//! with a placeholder body, and the answers must fit the level.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Routes upstream does not declare, with the level we give them and why.
const OUR_ROUTES: &[(&str, &str, &str)] = &[
    (
        "GET /api/v1/auths/signout",
        "none",
        "sign-out also answers GET so a plain link works",
    ),
    (
        "GET /api/v1/evaluations/leaderboard/{*rest}",
        "admin",
        "upstream's `leaderboard/{model_id:path}/history` (a path parameter followed by a \
         suffix), which axum routes as one catch-all",
    ),
    (
        "GET /api/v1/analytics/models/{*rest}",
        "admin",
        "upstream's `models/{model_id:path}/chats` and `/overview` (a path parameter followed by \
         a suffix), which axum routes as one catch-all",
    ),
    (
        "GET /ready",
        "none",
        "readiness probe for container platforms, next to /health",
    ),
    (
        "ANY /api/v1/terminals/{server_id}/api/terminals/{session_id}",
        "user",
        "upstream's terminal session WebSocket (its first message signs in); the same path \
         without an upgrade is the signed-in proxy, as upstream's catch-all answers it",
    ),
    (
        "GET /api/v1/audio/realtime",
        "none",
        "upstream's realtime voice call WebSocket (not in its HTTP route list): the connection \
         is accepted as it is and its first message signs in",
    ),
];

/// Routes whose answers may differ from the declared level for one caller, and why.
/// Known defects are listed here too, with the owner who fixes them, so the
/// matrix stays green while they are tracked; remove an entry once fixed.
const DIFFERS: &[(&str, &str, &str)] = &[
    // (route, caller, reason): none at the moment.
];

/// Routes the matrix calls only anonymously and as a pending user, because a
/// successful call would change the credentials the matrix itself uses.
const CREDENTIAL_CHANGING: &[(&str, &str)] = &[
    (
        "POST /api/v1/auths/api_key",
        "regenerates the API key the matrix calls with",
    ),
    (
        "DELETE /api/v1/auths/api_key",
        "deletes the API key the matrix calls with",
    ),
];

/// Routes that end the session they are called with: in the sweep only the
/// anonymous caller uses them; every session signs out at the very end.
const SESSION_ENDING: &[&str] = &["GET /api/v1/auths/signout", "POST /api/v1/auths/signout"];

/// What the auth layer says when it refuses a request (see `src/auth/extract.rs`).
const AUTH_REFUSALS: &[&str] = &[
    "Not authenticated",
    "Invalid token",
    "Your session has expired or the token is invalid. Please sign in again.",
    "API keys are not enabled on this server.",
    "Invalid API key.",
    "This API key has expired.",
    "Your account may not use API keys.",
    "You do not have permission to access this resource. Please ask your administrator for access.",
    "A human session is required.",
    "This API key may not be used for this endpoint.",
];

// ------------------------------------------------------------- route table

/// Path with every parameter written `{}` (names differ between implementations).
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(ch),
        }
    }
    out
}

fn concrete(path: &str) -> String {
    normalize(path).replace("{}", "x-placeholder")
}

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The first string literal in `s` (no escapes needed for paths).
fn first_literal(s: &str) -> Option<&str> {
    let start = s.find('"')? + 1;
    let end = start + s[start..].find('"')?;
    Some(&s[start..end])
}

/// `(METHOD, path as written)` of every `.route(…)` call in the crate's source.
/// Paths built with `format!("{base}…")` resolve `base` from a `let base = "…"`
/// in the same file.
fn source_routes() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rs_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let base = text
            .find("let base = \"")
            .and_then(|i| first_literal(&text[i..]))
            .map(str::to_string);
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            let call = &rest[i + ".route(".len()..];
            // The call's extent: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let mut end = call.len();
            for (j, ch) in call.char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let args = &call[..end];
            rest = &call[end..];
            let raw = first_literal(args)
                .unwrap_or_else(|| panic!("{}: a route without a literal path", f.display()));
            let path = if args.trim_start().starts_with('"') {
                raw.to_string()
            } else {
                let b = base
                    .as_deref()
                    .unwrap_or_else(|| panic!("{}: format! route without `base`", f.display()));
                raw.replace("{base}", b)
                    .replace("{{", "{")
                    .replace("}}", "}")
            };
            let after_path = &args[args.find(raw).unwrap() + raw.len()..];
            let bytes = after_path.as_bytes();
            let mut found = false;
            for (m, name) in [
                ("GET", "get("),
                ("POST", "post("),
                ("PUT", "put("),
                ("DELETE", "delete("),
                ("PATCH", "patch("),
                ("ANY", "any("),
            ] {
                let mut from = 0;
                while let Some(k) = after_path[from..].find(name) {
                    let at = from + k;
                    let prev = if at == 0 { b' ' } else { bytes[at - 1] };
                    if !(prev.is_ascii_alphanumeric() || prev == b'_') {
                        routes.push((m.to_string(), path.clone()));
                        found = true;
                        break;
                    }
                    from = at + name.len();
                }
            }
            assert!(found, "{}: route {path} has no method", f.display());
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

/// `(METHOD, normalized path)` → upstream's auth level.
fn upstream_levels() -> HashMap<(String, String), String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/endpoints.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut out = HashMap::new();
    for r in v["routes"].as_array().unwrap() {
        let spec = r["method"].as_str().unwrap();
        let methods: Vec<&str> = if spec.starts_with("ANY") {
            vec!["GET", "POST", "PUT", "DELETE", "PATCH", "ANY"]
        } else if spec == "GET/POST/PUT/DELETE" {
            vec!["GET", "POST", "PUT", "DELETE", "ANY"]
        } else {
            spec.split('/').collect()
        };
        for m in methods {
            out.entry((m.to_string(), normalize(r["path"].as_str().unwrap())))
                .or_insert_with(|| r["auth"].as_str().unwrap().to_string());
        }
    }
    out
}

// ------------------------------------------------------------------ calls

struct Caller {
    name: &'static str,
    token: Option<String>,
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let m = if method == "ANY" {
        Method::GET
    } else {
        Method::from_bytes(method.as_bytes()).unwrap()
    };
    let mut req = http.request(m.clone(), format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if matches!(m, Method::POST | Method::PUT | Method::PATCH) {
        req = req.json(&json!({}));
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn auth_refusal(status: StatusCode, body: &Value) -> bool {
    matches!(status.as_u16(), 401 | 403)
        && body["detail"]
            .as_str()
            .is_some_and(|d| AUTH_REFUSALS.contains(&d))
}

fn refused(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 403)
}

/// Whether `who`'s answer fits the level; `None` when the level says nothing about `who`.
fn fits(level: &str, who: &str, status: StatusCode, body: &Value) -> Option<bool> {
    let allowed = !auth_refusal(status, body);
    let anon_refused = status == StatusCode::UNAUTHORIZED;
    Some(match (level, who) {
        ("admin" | "user" | "any-auth" | "session", "anonymous") => anon_refused,
        ("admin", "admin") => allowed,
        ("admin", _) => refused(status),
        ("user", "pending") => refused(status),
        ("user", _) => allowed,
        ("any-auth", _) => allowed,
        ("session", "api-key") => refused(status),
        ("session", _) => allowed,
        ("none" | "optional", "anonymous") => allowed,
        _ => return None,
    })
}

async fn setup(srv: &TestServer) -> Vec<Caller> {
    let c = srv.client();
    let r = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    let mut tokens = HashMap::new();
    for (name, role) in [("user", "user"), ("pending", "pending")] {
        let r = admin
            .post(
                "/api/v1/auths/add",
                json!({"name": name, "email": format!("{name}@example.com"),
                       "password": "Passw0rd!u", "role": role}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        tokens.insert(name, r.body["token"].as_str().unwrap().to_string());
    }
    // API keys on, and users allowed to hold one.
    let r = admin
        .post(
            "/api/v1/auths/admin/config",
            json!({"ENABLE_API_KEYS": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    common::set_default_permission(&admin, "features.api_keys", true).await;
    let user = c.with_token(&tokens["user"]);
    let r = user.post("/api/v1/auths/api_key", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = r.body["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-"));
    vec![
        Caller {
            name: "anonymous",
            token: None,
        },
        Caller {
            name: "pending",
            token: Some(tokens["pending"].clone()),
        },
        Caller {
            name: "user",
            token: Some(tokens["user"].clone()),
        },
        Caller {
            name: "api-key",
            token: Some(key),
        },
        Caller {
            name: "admin",
            token: admin.token.clone(),
        },
    ]
}

/// Every route of the source with its auth level; fails on unclassified routes.
fn classified_routes() -> BTreeMap<String, (String, String, String)> {
    let routes = source_routes();
    assert!(routes.len() > 200, "route scan found only {}", routes.len());
    let upstream = upstream_levels();
    let ours: HashMap<&str, &str> = OUR_ROUTES.iter().map(|(r, l, _)| (*r, *l)).collect();

    let mut unclassified = Vec::new();
    let mut classified: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (method, path) in &routes {
        let key = format!("{method} {path}");
        let level = upstream
            .get(&(method.clone(), normalize(path)))
            .cloned()
            .or_else(|| {
                ours.iter()
                    .find(|(r, _)| normalize(r) == normalize(&key))
                    .map(|(_, l)| l.to_string())
            });
        match level {
            Some(l) => {
                classified.insert(key, (method.clone(), path.clone(), l));
            }
            None => unclassified.push(key),
        }
    }
    assert!(
        unclassified.is_empty(),
        "routes with no auth classification (add them to OUR_ROUTES with a reason): {unclassified:#?}"
    );
    classified
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_route_answers_according_to_its_auth_level() {
    let classified = classified_routes();
    let srv = TestServer::fresh().await;
    let callers = setup(&srv).await;
    let http = http_client();
    let limited: HashMap<&str, &str> = CREDENTIAL_CHANGING.iter().copied().collect();
    let differs: Vec<(&str, &str)> = DIFFERS.iter().map(|(r, w, _)| (*r, *w)).collect();

    let mut failures = Vec::new();
    let mut checked = 0;
    for (key, (method, path, level)) in &classified {
        if level == "scim-token" {
            continue;
        }
        let url = concrete(path);
        for c in &callers {
            if limited.contains_key(key.as_str()) && !matches!(c.name, "anonymous" | "pending") {
                continue;
            }
            if SESSION_ENDING.contains(&key.as_str()) && c.name != "anonymous" {
                continue;
            }
            let (status, body) = call(&http, &srv.base, method, &url, c.token.as_deref()).await;
            let Some(ok) = fits(level, c.name, status, &body) else {
                continue;
            };
            checked += 1;
            if !ok && !differs.contains(&(key.as_str(), c.name)) {
                failures.push(format!(
                    "{key} [{level}] as {}: {status} {}",
                    c.name, body["detail"]
                ));
            }
        }
    }
    println!(
        "{} routes, {checked} checked calls, {} failures",
        classified.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // The credentials still work after the whole run (nothing above revoked
    // them); then signing out ends each session token, not the API key.
    for c in callers.iter().filter(|c| c.token.is_some()) {
        let ask = |method: &'static str, path: &'static str| {
            call(&http, &srv.base, method, path, c.token.as_deref())
        };
        let before = ask("GET", "/api/v1/auths/api_key").await.0;
        assert_ne!(
            before,
            StatusCode::UNAUTHORIZED,
            "{} lost its session",
            c.name
        );
        let out = ask("POST", "/api/v1/auths/signout").await.0;
        assert_eq!(out, StatusCode::OK, "{} signing out", c.name);
        let after = ask("GET", "/api/v1/auths/api_key").await.0;
        let survives = c.name == "api-key";
        assert_eq!(
            after != StatusCode::UNAUTHORIZED,
            survives,
            "{} after signing out: {after}",
            c.name
        );
    }
    srv.stop().await;
}

// ------------------------------------------------ configuration variants
//
// The same route table, called with the settings an admin can make: a
// setting that is stored but not enforced fails one of these.

fn token_of(callers: &[Caller], name: &str) -> String {
    callers
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.token.clone())
        .unwrap()
}

async fn save_admin_config(srv: &TestServer, admin: &str, changes: Value) {
    let admin = srv.client().with_token(admin);
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    for (k, v) in changes.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let r = admin.post("/api/v1/auths/admin/config", cfg).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Calls every route that needs a signed-in caller with `token` and lists the
/// answers `ok(path, level, status, body)` rejects; also returns the count.
async fn sweep(
    srv: &TestServer,
    token: &str,
    ok: impl Fn(&str, &str, StatusCode, &Value) -> bool,
) -> (usize, Vec<String>) {
    let http = http_client();
    let limited: HashMap<&str, &str> = CREDENTIAL_CHANGING.iter().copied().collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (key, (method, path, level)) in &classified_routes() {
        if !matches!(level.as_str(), "admin" | "user" | "any-auth" | "session")
            || limited.contains_key(key.as_str())
        {
            continue;
        }
        let url = concrete(path);
        let (status, body) = call(&http, &srv.base, method, &url, Some(token)).await;
        checked += 1;
        if !ok(&url, level, status, &body) {
            failures.push(format!("{key} [{level}]: {status} {}", body["detail"]));
        }
    }
    (checked, failures)
}

/// Upstream's matching: an allowed entry itself or anything below it.
fn allowed_path(allowed: &[&str], path: &str) -> bool {
    allowed
        .iter()
        .any(|a| path == *a || path.starts_with(&format!("{a}/")))
}

#[tokio::test]
async fn restricted_api_keys_reach_only_the_allowed_endpoints() {
    let srv = TestServer::fresh().await;
    let callers = setup(&srv).await;
    let (admin, user, key) = (
        token_of(&callers, "admin"),
        token_of(&callers, "user"),
        token_of(&callers, "api-key"),
    );
    let allowed = [
        "/api/v1/chats",
        "/api/models",
        "/api/v1/users/user/settings",
    ];
    save_admin_config(
        &srv,
        &admin,
        json!({"ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS": true,
               "API_KEYS_ALLOWED_ENDPOINTS": " /api/v1/chats, /api/models ,/api/v1/users/user/settings"}),
    )
    .await;
    let (checked, failures) = sweep(&srv, &key, |path, level, status, body| {
        if allowed_path(&allowed, path) {
            // Inside the list the key acts as its user, as without restrictions.
            fits(level, "api-key", status, body).unwrap_or(true)
        } else {
            auth_refusal(status, body) && status == StatusCode::FORBIDDEN
        }
    })
    .await;
    println!("{checked} restricted-key calls");
    assert!(checked > 200, "only {checked} calls");
    assert!(failures.is_empty(), "{failures:#?}");
    // The allowed paths answer for real, and the key works in every header.
    let c = srv.client().with_token(&key);
    assert_eq!(c.get("/api/v1/chats/").await.status, 200);
    assert_eq!(c.get("/api/models").await.status, 200);
    assert_eq!(c.get("/api/v1/users/user/settings").await.status, 200);
    let http = http_client();
    for (name, value) in [
        ("x-api-key", key.clone()),
        ("cookie", format!("token={key}")),
    ] {
        let r = http
            .get(srv.url("/api/v1/users/"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "key in {name}");
    }
    // A session of the same user is not restricted.
    let session = srv.client().with_token(&user);
    assert_eq!(session.get("/api/v1/auths/").await.status, 200);
    assert_eq!(session.get("/api/v1/folders/").await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn api_keys_switched_off_or_not_permitted_refuse_every_route() {
    let srv = TestServer::fresh().await;
    let callers = setup(&srv).await;
    let (admin, key) = (token_of(&callers, "admin"), token_of(&callers, "api-key"));
    let refused = |_: &str, _: &str, status: StatusCode, body: &Value| auth_refusal(status, body);
    // The permission withdrawn: the user's key stops working everywhere.
    let admin_c = srv.client().with_token(&admin);
    let mut perms = admin_c.get("/api/v1/users/default/permissions").await.body;
    perms["features"]["api_keys"] = json!(false);
    let r = admin_c
        .post("/api/v1/users/default/permissions", perms)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (checked, failures) = sweep(&srv, &key, refused).await;
    assert!(
        checked > 200 && failures.is_empty(),
        "{checked}: {failures:#?}"
    );
    // API keys switched off: even with the permission back, nothing answers.
    let mut perms = admin_c.get("/api/v1/users/default/permissions").await.body;
    perms["features"]["api_keys"] = json!(true);
    admin_c
        .post("/api/v1/users/default/permissions", perms)
        .await;
    assert_eq!(
        srv.client()
            .with_token(&key)
            .get("/api/v1/chats/")
            .await
            .status,
        200,
        "the key works again once permitted"
    );
    save_admin_config(&srv, &admin, json!({"ENABLE_API_KEYS": false})).await;
    let (checked, failures) = sweep(&srv, &key, refused).await;
    assert!(
        checked > 200 && failures.is_empty(),
        "{checked}: {failures:#?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn signup_switch_and_default_role_are_enforced() {
    let srv = TestServer::fresh().await;
    let c = srv.client();
    let admin = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    let admin = admin.body["token"].as_str().unwrap().to_string();
    // The first sign-up closed sign-up.
    let r = c.signup("Late", "late@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body["detail"].is_string());
    for (role, n) in [("pending", 1), ("user", 2), ("admin", 3)] {
        save_admin_config(
            &srv,
            &admin,
            json!({"ENABLE_SIGNUP": true, "DEFAULT_USER_ROLE": role}),
        )
        .await;
        let r = c
            .signup("New", &format!("new{n}@example.com"), "Passw0rd!x")
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["role"], role);
        // The role holds on the server, not only in the answer.
        let me = c.with_token(r.body["token"].as_str().unwrap());
        let users = me.get("/api/v1/users/").await.status;
        let chats = me.get("/api/v1/chats/").await.status;
        match role {
            "pending" => assert!(refused(users) && refused(chats), "{users} {chats}"),
            "user" => assert!(refused(users) && chats == 200, "{users} {chats}"),
            _ => assert!(users == 200 && chats == 200, "{users} {chats}"),
        }
    }
    save_admin_config(&srv, &admin, json!({"ENABLE_SIGNUP": false})).await;
    let r = c.signup("Shut", "shut@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The login form switched off also closes sign-up.
    save_admin_config(
        &srv,
        &admin,
        json!({"ENABLE_SIGNUP": true, "ENABLE_LOGIN_FORM": false}),
    )
    .await;
    let r = c.signup("Form", "form@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    srv.stop().await;
}

#[tokio::test]
async fn auth_turned_off_refuses_a_data_folder_with_accounts() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = TestServer::start(common::settings_for(tmp.path(), Some("k"))).await;
    let c = srv.client();
    let admin = c.signup("Admin", "admin@example.com", "Passw0rd!x").await;
    assert_eq!(admin.status, 200);
    let admin = c.with_token(admin.body["token"].as_str().unwrap());
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "U", "email": "u@example.com", "password": "Passw0rd!u", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    srv.stop().await;

    let mut settings = common::settings_for(tmp.path(), Some("k"));
    settings.webui_auth = false;
    let srv = TestServer::start(settings).await;
    let c = srv.client();
    for (email, pw) in [
        ("", ""),
        ("admin@example.com", ""),
        ("admin@localhost", "admin"),
    ] {
        let r = c.signin(email, pw).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{email}: {}", r.body);
        assert!(r.body["detail"].is_string() && r.body.get("token").is_none());
        assert!(r.headers.get("set-cookie").is_none());
    }
    let r = c.signup("X", "x@example.com", "pw").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let users = rusqlite::Connection::open(tmp.path().join("webui.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM user", [], |r| r.get::<_, i64>(0))
        .unwrap();
    assert_eq!(users, 2, "no local admin was added");
    srv.stop().await;
}

#[test]
fn route_scan_reads_literal_and_formatted_paths() {
    let routes = source_routes();
    assert!(routes.contains(&("GET".into(), "/api/v1/users/".into())));
    assert!(routes.contains(&("DELETE".into(), "/api/v1/groups/id/{id}/delete".into())));
    assert!(routes
        .iter()
        .any(|(m, p)| m == "GET" && p.starts_with("/api/v1/channels/")));
}
