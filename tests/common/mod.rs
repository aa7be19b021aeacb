//! Shared test harness: the real server on 127.0.0.1:0 and a small HTTP client.
#![allow(dead_code)]

pub mod mock_llm;
pub mod scripted;
pub mod socketio;
pub mod tab;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use open_webui::{Server, Settings};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub data_dir: PathBuf,
    pub state: Option<open_webui::AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn settings_for(data_dir: &Path, secret: Option<&str>) -> Settings {
    let mut s =
        Settings::from_env("127.0.0.1".into(), 0, data_dir.to_path_buf()).expect("settings");
    s.secret_key = match secret {
        Some(k) => k.to_string(),
        None => open_webui::settings::secret_key_from_file(data_dir).expect("secret"),
    };
    // The server runs inside the test binary; uploads are parsed by the real one.
    s.extract.exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_open-webui")));
    s
}

impl TestServer {
    /// A server on a fresh temporary data folder.
    pub async fn fresh() -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = Self::start(settings_for(tmp.path(), Some("test-secret"))).await;
        t._tmp = Some(tmp);
        t.loopback_only().await;
        t
    }

    pub async fn start(settings: Settings) -> TestServer {
        let data_dir = settings.data_dir.clone();
        let server = Server::bind(settings).await.expect("bind");
        let addr = server.local_addr().unwrap();
        let state = Some(server.state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            base: format!("http://{addr}"),
            data_dir,
            state,
            stop: Some(tx),
            task: Some(task),
            _tmp: None,
        }
    }

    /// The default connections include a public OpenAI URL; tests must never
    /// reach beyond loopback, so fresh servers start with no remote connection.
    async fn loopback_only(&self) {
        let state = self.state.clone().expect("state");
        state
            .config
            .set_many(vec![
                ("openai.api_base_urls", json!([])),
                ("openai.api_keys", json!([])),
                ("ollama.enable", json!(false)),
            ])
            .await
            .unwrap();
        open_webui::llm::invalidate(&state);
    }

    /// Stops the server and waits until it has released the database.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self._tmp.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            token: None,
        }
    }
}

pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
}

impl Client {
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            base: self.base.clone(),
            http: self.http.clone(),
            token: Some(token.to_string()),
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None).await
    }

    /// POSTs a multipart form as this client; the raw response.
    pub async fn post_multipart(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.multipart(form).send().await.unwrap()
    }

    pub async fn signup(&self, name: &str, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auths/signup",
            json!({"name": name, "email": email, "password": password, "profile_image_url": ""}),
        )
        .await
    }

    pub async fn signin(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auths/signin",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs in and returns a client carrying the session token.
    pub async fn login(&self, email: &str, password: &str) -> Client {
        let r = self.signin(email, password).await;
        assert_eq!(r.status, 200, "signin {email}: {}", r.body);
        self.with_token(r.body["token"].as_str().unwrap())
    }
}

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "Admin-pass-1";
pub const USER_PASSWORD: &str = "User-pass-1";

/// Signs up the first account ("Admin", which makes it the admin) and
/// returns a client with its token.
pub async fn admin(srv: &TestServer) -> Client {
    let c = srv.client();
    let r = c.signup("Admin", ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    c.with_token(r.body["token"].as_str().unwrap())
}

/// Has the admin add a plain user `name` (email `<name in lower case>@example.com`,
/// password [`USER_PASSWORD`]) and signs in as them: their client and id.
pub async fn add_user_with_id(srv: &TestServer, admin: &Client, name: &str) -> (Client, String) {
    add_user_with_role(srv, admin, name, "user").await
}

/// [`add_user_with_id`] for an account of the given role.
pub async fn add_user_with_role(
    srv: &TestServer,
    admin: &Client,
    name: &str,
    role: &str,
) -> (Client, String) {
    let email = format!("{}@example.com", name.to_lowercase());
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": name, "email": email, "password": USER_PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    (srv.client().login(&email, USER_PASSWORD).await, id)
}

/// [`add_user_with_id`] without the id.
pub async fn add_user(srv: &TestServer, admin: &Client, name: &str) -> Client {
    add_user_with_id(srv, admin, name).await.0
}

/// Asks `/api/v1/audio/speech` to say `text`: the status and the audio bytes.
pub async fn speak(c: &Client, text: &str) -> (u16, Vec<u8>) {
    let r = c
        .http
        .post(format!("{}/api/v1/audio/speech", c.base))
        .bearer_auth(c.token.as_deref().unwrap())
        .json(&json!({"input": text}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// A loopback port nobody listens on right now (for a child process to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sets one default user permission, `path` being `section.key`
/// (`"features.notes"`), through the admin's permissions page.
pub async fn set_default_permission(admin: &Client, path: &str, on: bool) {
    let (section, key) = path.split_once('.').expect("section.key");
    let mut perms = admin.get("/api/v1/users/default/permissions").await.body;
    perms[section][key] = json!(on);
    let r = admin.post("/api/v1/users/default/permissions", perms).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Switches channels on (off by default, as upstream has them).
pub async fn enable_channels(srv: &TestServer) {
    srv.state
        .clone()
        .unwrap()
        .config
        .set_many(vec![("channels.enable", json!(true))])
        .await
        .unwrap();
}

/// Points the server's one OpenAI connection at `url` (a stand-in provider).
pub async fn connect_openai(admin: &Client, url: &str) {
    let r = admin
        .post(
            "/openai/config/update",
            json!({"ENABLE_OPENAI_API": true, "OPENAI_API_BASE_URLS": [url],
                   "OPENAI_API_KEYS": ["sk-test"], "OPENAI_API_CONFIGS": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A request a stand-in received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: axum::body::Bytes,
}

/// What a stand-in received, shared with the test.
pub type Inbox = std::sync::Arc<std::sync::Mutex<Vec<Received>>>;

/// The requests to `path`, in order.
pub fn received_at(log: &Inbox, path: &str) -> Vec<Received> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == path)
        .cloned()
        .collect()
}

/// Serves `app` (a stand-in for an outside service) on a loopback port;
/// returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.ok() });
    base
}

/// Percent-encodes everything but ASCII letters and digits (query values).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/owui-0.12.4-data")
}

/// Copies a folder recursively (tests never open the shared fixture in place).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A ZIP archive holding `entries` (path, bytes), deflated.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (p, d) in entries {
        w.start_file(*p, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(d).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Has the admin store a workspace model over the provider model `id` that
/// every user may read (so plain users can chat with a test's provider).
pub async fn open_model_to_everyone(admin: &Client, id: &str, name: &str) {
    let model = serde_json::json!({
        "id": id, "base_model_id": null, "name": name, "meta": {}, "params": {},
        "access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}],
    });
    let r = admin.post("/api/v1/models/create", model).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
