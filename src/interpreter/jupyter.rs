//! Running code on a Jupyter server: sign in (token or password), start a
//! kernel over the REST API, send one `execute_request` on the kernel's
//! websocket, gather what the kernel prints and returns until it is idle
//! again, and shut the kernel down whatever happened.
//!
//! Everything is bounded: the whole run by the configured timeout, each
//! REST call by its own, and the text kept from each stream by
//! [`MAX_STREAM`]. Failures become an `Error: …` line in `stderr`; the
//! caller always gets an [`Outcome`].

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::Outcome;

/// Text kept from each of stdout, stderr and the results.
pub const MAX_STREAM: usize = 1024 * 1024;
/// The largest websocket message read from the kernel.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Each REST call (sign-in, kernel start and shutdown).
const REST_TIMEOUT: Duration = Duration::from_secs(20);
/// Bodies of REST answers read at most.
const MAX_BODY: usize = 256 * 1024;

/// How to sign in to the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Auth {
    None,
    Token(String),
    Password(String),
}

/// Where and how to run code.
#[derive(Clone, Debug)]
pub struct Server {
    pub url: String,
    pub auth: Auth,
    /// How long the code may run once the kernel has it.
    pub timeout: Duration,
}

/// A failure worded for the person (or model) who ran the code; details stay
/// in the log.
struct Failure(String);

fn fail(text: impl Into<String>) -> Failure {
    Failure(text.into())
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(REST_TIMEOUT)
            // The password sign-in answers with a redirect whose cookies we need.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds with static settings")
    })
}

/// A signed-in conversation with one server.
struct Session {
    base: String,
    token: Option<String>,
    headers: HeaderMap,
}

impl Session {
    fn url(&self, path: &str) -> Result<reqwest::Url, Failure> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|_| fail("Error: the Jupyter URL is not valid."))?;
        if let Some(t) = &self.token {
            url.query_pairs_mut().append_pair("token", t);
        }
        Ok(url)
    }
}

/// Runs `code` on the server and reports what it printed and returned.
pub async fn run(server: &Server, code: &str) -> Outcome {
    let started = Instant::now();
    let mut kernel: Option<(Session, String)> = None;
    let attempt = async {
        let session = sign_in(server).await?;
        let id = start_kernel(&session).await?;
        kernel = Some((session, id));
        let (session, id) = kernel.as_ref().expect("just set");
        execute(session, id, code, server.timeout).await
    };
    // The run itself has `timeout`; signing in and starting the kernel
    // have their own bounded budget on top.
    let budget = server.timeout + 3 * REST_TIMEOUT;
    let outcome = match tokio::time::timeout(budget, attempt).await {
        Ok(Ok(o)) => o,
        Ok(Err(Failure(text))) => Outcome::failed(text),
        Err(_) => Outcome::failed("Error: the Jupyter server did not finish in time."),
    };
    if let Some((session, id)) = kernel {
        shut_down(&session, &id).await;
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "jupyter run"
    );
    outcome
}

fn base_url(url: &str) -> Result<String, Failure> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| fail("Error: the Jupyter URL is not set or not valid."))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail(
            "Error: the Jupyter URL must start with http or https.",
        ));
    }
    Ok(if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    })
}

fn unreachable(e: reqwest::Error) -> Failure {
    tracing::warn!(error = %e, "jupyter server not reachable");
    if e.is_timeout() {
        fail("Error: the Jupyter server did not answer in time.")
    } else {
        fail("Error: the Jupyter server could not be reached.")
    }
}

fn refused(what: &str, status: reqwest::StatusCode) -> Failure {
    if matches!(status.as_u16(), 401 | 403) {
        fail(format!(
            "Error: the Jupyter server refused the credentials ({what}: HTTP {}).",
            status.as_u16()
        ))
    } else {
        fail(format!(
            "Error: the Jupyter server failed to {what} (HTTP {}).",
            status.as_u16()
        ))
    }
}

/// The `name=value` pairs of the response's `Set-Cookie` headers.
fn cookies_of(resp: &reqwest::Response) -> Vec<(String, String)> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let pair = v.split(';').next()?.trim();
            let (name, value) = pair.split_once('=')?;
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn merge_cookies(jar: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (name, value) in new {
        jar.retain(|(n, _)| *n != name);
        jar.push((name, value));
    }
}

async fn sign_in(server: &Server) -> Result<Session, Failure> {
    let base = base_url(&server.url)?;
    let mut session = Session {
        base,
        token: None,
        headers: HeaderMap::new(),
    };
    match &server.auth {
        Auth::None => {}
        Auth::Token(t) => session.token = Some(t.clone()),
        Auth::Password(password) => {
            let login = session.url("login")?;
            let resp = client()
                .get(login.clone())
                .send()
                .await
                .map_err(unreachable)?;
            if !resp.status().is_success() {
                return Err(refused("open the sign-in page", resp.status()));
            }
            let mut jar = cookies_of(&resp);
            let xsrf = jar
                .iter()
                .find(|(n, _)| n == "_xsrf")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| fail("Error: the Jupyter server sent no _xsrf cookie."))?;
            let resp = client()
                .post(login)
                .header(COOKIE, cookie_header(&jar))
                .header("X-XSRFToken", &xsrf)
                .form(&[("_xsrf", xsrf.as_str()), ("password", password.as_str())])
                .send()
                .await
                .map_err(unreachable)?;
            let status = resp.status();
            if !(status.is_success() || status.is_redirection()) {
                return Err(refused("sign in", status));
            }
            merge_cookies(&mut jar, cookies_of(&resp));
            let value = |s: String| {
                HeaderValue::from_str(&s)
                    .map_err(|_| fail("Error: the Jupyter server sent an unusable cookie."))
            };
            session.headers.insert(COOKIE, value(cookie_header(&jar))?);
            session.headers.insert("X-XSRFToken", value(xsrf)?);
        }
    }
    Ok(session)
}

fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn start_kernel(session: &Session) -> Result<String, Failure> {
    let resp = client()
        .post(session.url("api/kernels")?)
        .headers(session.headers.clone())
        .json(&json!({}))
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(refused("start a kernel", status));
    }
    let body = read_bounded(resp).await?;
    let kernel: Value = serde_json::from_slice(&body)
        .map_err(|_| fail("Error: the Jupyter server answered the kernel start with no JSON."))?;
    kernel
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() < 200)
        .map(str::to_string)
        .ok_or_else(|| fail("Error: the Jupyter server started no kernel."))
}

async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(fail("Error: the Jupyter server's answer is too large."));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn shut_down(session: &Session, id: &str) {
    let Ok(url) = session.url(&format!("api/kernels/{id}")) else {
        return;
    };
    let sent = client()
        .delete(url)
        .headers(session.headers.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "jupyter kernel shutdown refused"),
        Err(e) => tracing::warn!(error = %e, "jupyter kernel shutdown failed"),
    }
}

/// Appends `text` to `buf`, keeping at most [`MAX_STREAM`] bytes.
fn push_bounded(buf: &mut String, text: &str, cut: &mut bool) {
    let room = MAX_STREAM.saturating_sub(buf.len());
    if text.len() <= room {
        buf.push_str(text);
        return;
    }
    let mut end = room;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    buf.push_str(&text[..end]);
    *cut = true;
}

/// What the kernel's messages for one request add up to.
#[derive(Default)]
pub(crate) struct Gathered {
    stdout: String,
    stderr: String,
    results: Vec<String>,
    results_len: usize,
    cut: bool,
}

impl Gathered {
    /// Takes one kernel message; true once the kernel is idle again.
    pub(crate) fn take(&mut self, msg: &Value) -> bool {
        let kind = msg
            .pointer("/header/msg_type")
            .or_else(|| msg.get("msg_type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let content = msg.get("content").unwrap_or(&Value::Null);
        let text = |k: &str| content.get(k).and_then(Value::as_str).unwrap_or("");
        match kind {
            "stream" => {
                let buf = if text("name") == "stderr" {
                    &mut self.stderr
                } else {
                    &mut self.stdout
                };
                push_bounded(buf, text("text"), &mut self.cut);
            }
            "execute_result" | "display_data" => {
                let data = content.get("data").unwrap_or(&Value::Null);
                let item = if let Some(png) = data.get("image/png").and_then(Value::as_str) {
                    format!("data:image/png;base64,{}", png.trim())
                } else if let Some(plain) = data.get("text/plain").and_then(Value::as_str) {
                    plain.to_string()
                } else {
                    return false;
                };
                if self.results_len + item.len() > MAX_STREAM {
                    self.cut = true;
                } else {
                    self.results_len += item.len();
                    self.results.push(item);
                }
            }
            "error" => {
                let trace = content
                    .get("traceback")
                    .and_then(Value::as_array)
                    .map(|lines| {
                        lines
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| format!("{}: {}", text("ename"), text("evalue")));
                push_bounded(&mut self.stderr, &strip_ansi(&trace), &mut self.cut);
            }
            "status" => return text("execution_state") == "idle",
            _ => {}
        }
        false
    }

    pub(crate) fn outcome(mut self) -> Outcome {
        if self.cut {
            self.stderr
                .push_str("\n[output cut: it exceeded the size kept per run]");
        }
        Outcome {
            stdout: self.stdout.trim().to_string(),
            stderr: self.stderr.trim().to_string(),
            result: self.results.join("\n").trim().to_string(),
        }
    }
}

/// Tracebacks come coloured for terminals; the codes are noise elsewhere.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

async fn execute(
    session: &Session,
    kernel_id: &str,
    code: &str,
    timeout: Duration,
) -> Result<Outcome, Failure> {
    let mut url = session.url(&format!("api/kernels/{kernel_id}/channels"))?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme)
        .map_err(|_| fail("Error: the Jupyter URL is not valid."))?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| fail("Error: the Jupyter URL is not valid."))?;
    for (name, value) in &session.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (mut ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), false, None)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "jupyter kernel websocket refused");
                fail("Error: the Jupyter kernel's channel could not be opened.")
            })?;
    let msg_id = uuid::Uuid::new_v4().simple().to_string();
    let request = json!({
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "user",
            "session": uuid::Uuid::new_v4().simple().to_string(),
            "date": "",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": false,
            "store_history": true,
            "user_expressions": {},
            "allow_stdin": false,
            "stop_on_error": true,
        },
        "channel": "shell",
    });
    ws.send(Message::Text(request.to_string().into()))
        .await
        .map_err(|_| fail("Error: the code could not be sent to the Jupyter kernel."))?;
    let mut gathered = Gathered::default();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(n) => n,
            Err(_) => {
                let mut out = gathered.outcome();
                if !out.stderr.is_empty() {
                    out.stderr.push('\n');
                }
                out.stderr.push_str("Execution timed out.");
                let _ = ws.close(None).await;
                return Ok(out);
            }
        };
        let text = match next {
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(_)) | None => break,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "jupyter kernel websocket failed");
                let mut out = gathered.outcome();
                out.stderr
                    .push_str("\nError: the Jupyter kernel's channel broke off.");
                return Ok(out);
            }
        };
        let Ok(msg) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if msg.pointer("/parent_header/msg_id").and_then(Value::as_str) != Some(msg_id.as_str()) {
            continue;
        }
        if gathered.take(&msg) {
            break;
        }
    }
    let _ = ws.close(None).await;
    Ok(gathered.outcome())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: &str, content: Value) -> Value {
        json!({"header": {"msg_type": kind}, "content": content})
    }

    #[test]
    fn kernel_messages_add_up() {
        let mut g = Gathered::default();
        assert!(!g.take(&msg("stream", json!({"name": "stdout", "text": "a\n"}))));
        g.take(&msg("stream", json!({"name": "stderr", "text": "warn\n"})));
        g.take(&msg(
            "execute_result",
            json!({"data": {"text/plain": "42"}}),
        ));
        g.take(&msg(
            "display_data",
            json!({"data": {"image/png": "iVBO", "text/plain": "<Figure>"}}),
        ));
        g.take(&msg(
            "error",
            json!({"traceback": ["\u{1b}[0;31mZeroDivisionError\u{1b}[0m", "x"]}),
        ));
        assert!(g.take(&msg("status", json!({"execution_state": "idle"}))));
        let o = g.outcome();
        assert_eq!(o.stdout, "a");
        assert_eq!(o.result, "42\ndata:image/png;base64,iVBO");
        assert_eq!(o.stderr, "warn\nZeroDivisionError\nx");
    }

    #[test]
    fn output_is_bounded() {
        let mut g = Gathered::default();
        let big = "é".repeat(MAX_STREAM);
        g.take(&msg("stream", json!({"name": "stdout", "text": big})));
        let o = g.outcome();
        assert!(o.stdout.len() <= MAX_STREAM);
        assert!(o.stderr.contains("output cut"));
    }

    #[test]
    fn urls_are_checked() {
        assert!(base_url("").is_err());
        assert!(base_url("file:///etc").is_err());
        assert_eq!(base_url("http://h:1").ok().unwrap(), "http://h:1/");
    }
}
