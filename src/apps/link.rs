//! The live connection to each active app: we dial its Socket.IO endpoint
//! (`<url path>/socket.io`, namespace `/apps`) with its API key, it proves
//! its identity with an Ed25519-signed JWT over our challenge, and then both
//! sides call each other: we send `app:event`, it sends `app:request`.
//! A supervisor per app reconnects with backoff; a reconcile loop starts and
//! stops supervisors as apps are connected, changed or uninstalled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures::future::BoxFuture;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::peers::{config, Peer};
use super::sio::{self, Client};
use super::{crypto, get_app, net, Gate};
use crate::db::apps::{self as store, AppRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const NAMESPACE: &str = "/apps";

/// Runs an app's `app:request` operation; installed by the room (`ops::run`)
/// so the connection does not name what the operations do.
pub type Exec = fn(AppState, AppRow, String, Value) -> BoxFuture<'static, ApiResult<Value>>;

static EXEC: OnceLock<Exec> = OnceLock::new();

pub fn install(exec: Exec) {
    let _ = EXEC.set(exec);
}

/// Opens a first connection (enrolling the app: its installation id and
/// connection token are stored, then it is made active) and keeps it.
pub async fn connect(state: &AppState, app: AppRow) -> ApiResult<AppRow> {
    let conns = &state.apps;
    let lock = conns.lock_for(&app.id);
    let _held = lock.lock().await;
    conns.remove(&app.id);
    let peer = match tokio::time::timeout(Duration::from_secs(20), open(state, app, true)).await {
        Ok(Ok(p)) => p,
        Ok(Err(
            e @ (ApiError::Forbidden(_) | ApiError::Conflict(_) | ApiError::Relayed { .. }),
        )) => return Err(e),
        Ok(Err(e)) => {
            tracing::warn!("app connection failed: {e}");
            return Err(ApiError::BadGateway(
                "App connection failed. Check the API key, the pinned public key and the app's Socket.IO endpoint."
                    .into(),
            ));
        }
        Err(_) => {
            return Err(ApiError::GatewayTimeout(
                "The app did not complete its connection in time.".into(),
            ))
        }
    };
    let app = peer.app.clone();
    let id = app.id.clone();
    conns.peers.lock().unwrap().insert(id.clone(), peer.clone());
    let st = state.clone();
    let task = tokio::spawn(async move {
        peer.client.closed().await;
        supervise(st, id).await;
    });
    conns
        .tasks
        .lock()
        .unwrap()
        .insert(app.id.clone(), task.abort_handle());
    Ok(app)
}

/// Keeps reconnecting the app (with backoff) while it stays active.
async fn supervise(state: AppState, app_id: String) {
    let mut delay = 1u64;
    loop {
        state.apps.peers.lock().unwrap().remove(&app_id);
        let current = state
            .db
            .read({
                let id = app_id.clone();
                move |c| store::get(c, &id)
            })
            .await
            .ok()
            .flatten();
        let Some(app) = current.filter(|a| a.is_active && a.data.get("connection_token").is_some())
        else {
            state.apps.tasks.lock().unwrap().remove(&app_id);
            return;
        };
        match tokio::time::timeout(Duration::from_secs(20), open(&state, app, false)).await {
            Ok(Ok(peer)) => {
                delay = 1;
                state
                    .apps
                    .peers
                    .lock()
                    .unwrap()
                    .insert(app_id.clone(), peer.clone());
                peer.client.closed().await;
            }
            Ok(Err(e)) => tracing::debug!("app {app_id} unavailable: {e}"),
            Err(_) => tracing::debug!("app {app_id} did not connect in time"),
        }
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        tokio::time::sleep(Duration::from_secs_f64(delay as f64 * jitter)).await;
        delay = (delay * 2).min(30);
    }
}

/// Every 5 seconds: supervise each active, enrolled app and drop the others.
pub fn start(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            reconcile(&state).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    })
}

async fn reconcile(state: &AppState) {
    let enabled = state.config.get_bool("apps.enable");
    let apps = if enabled {
        state.db.read(store::all).await.unwrap_or_default()
    } else {
        vec![]
    };
    let wanted: HashMap<String, AppRow> = apps
        .into_iter()
        .filter(|a| a.is_active && a.data.get("connection_token").is_some())
        .map(|a| (a.id.clone(), a))
        .collect();
    let running: Vec<String> = state.apps.tasks.lock().unwrap().keys().cloned().collect();
    for id in &running {
        let stale = match (wanted.get(id), state.apps.peer(id)) {
            (None, _) => true,
            (Some(a), Some(p)) => config(a) != config(&p.app),
            (Some(_), None) => false,
        };
        if stale {
            state.apps.remove(id);
        }
    }
    for id in wanted.keys() {
        let mut tasks = state.apps.tasks.lock().unwrap();
        if !tasks.contains_key(id) {
            let st = state.clone();
            let app_id = id.clone();
            tasks.insert(
                id.clone(),
                tokio::spawn(supervise(st, app_id)).abort_handle(),
            );
        }
    }
}

/// Sends an event to the app and returns its status and answer (`data` for
/// a 200, `error` otherwise).
pub async fn send(
    state: &AppState,
    app: &AppRow,
    payload: Value,
    timeout: Duration,
) -> ApiResult<(u16, Value)> {
    let peer = state
        .apps
        .peer(&app.id)
        .filter(|p| config(&p.app) == config(app));
    let Some(peer) = peer else {
        if app.data.get("connection_token").is_none() {
            return Err(ApiError::Conflict(
                "Reconnect this app to upgrade its transport".into(),
            ));
        }
        reconcile(state).await;
        return Err(ApiError::Unavailable(
            "The app is disconnected; the event was not sent.".into(),
        ));
    };
    if !peer.ready.load(Ordering::SeqCst) {
        return Err(ApiError::Unavailable(
            "The app is disconnected; the event was not sent.".into(),
        ));
    }
    let result = peer.client.call("app:event", &payload, timeout).await?;
    if !result.is_object() || result.to_string().len() > 262_144 + 128 {
        return Err(ApiError::BadGateway(
            "The app returned an invalid or oversized answer.".into(),
        ));
    }
    let Some(status) = result
        .get("status")
        .and_then(Value::as_u64)
        .filter(|s| *s < 1000)
    else {
        return Err(ApiError::BadGateway(
            "The app returned an invalid status.".into(),
        ));
    };
    let body = if status == 200 {
        &result["data"]
    } else {
        &result["error"]
    };
    Ok((status as u16, body.clone()))
}

/// Dials the app and runs the handshake; `enroll` stores what the app
/// returned and activates it.
async fn open(state: &AppState, app: AppRow, enroll: bool) -> ApiResult<Arc<Peer>> {
    let secret = state.settings.secret_key.clone();
    let url_text = app.data["url"].as_str().unwrap_or_default().to_string();
    let allow_private = net::validate_url(&url_text)
        .map_err(|e| ApiError::bad_request(net::url_error_detail(e)))?;
    let url =
        reqwest::Url::parse(&url_text).map_err(|_| ApiError::bad_request("Invalid app URL"))?;
    let (_, addr) = net::resolve(&url, allow_private).await?;
    let key = crypto::decrypt(&secret, app.api_key.as_deref().unwrap_or_default())?;
    let saved = app
        .data
        .get("connection_token")
        .and_then(Value::as_str)
        .map(str::to_string);
    if saved.is_none() && !enroll {
        return Err(ApiError::Conflict(
            "Reconnect this app to upgrade its transport".into(),
        ));
    }
    let token = match &saved {
        Some(s) => Some(crypto::decrypt(&secret, s)?),
        None => None,
    };
    let ws_scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    let host = url.host_str().unwrap_or_default();
    let netloc = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let ws_url = format!(
        "{ws_scheme}://{netloc}{}/socket.io/?EIO=4&transport=websocket",
        url.path().trim_end_matches('/')
    );
    let ready = Arc::new(AtomicBool::new(false));
    let verified = Arc::new(AtomicBool::new(false));
    // The app as this connection knows it (updated once enrolment is stored).
    let snapshot = Arc::new(Mutex::new(app.clone()));
    let handler: sio::Handler = {
        let (state, app_id, ready, verified, snapshot) = (
            state.clone(),
            app.id.clone(),
            ready.clone(),
            verified.clone(),
            snapshot.clone(),
        );
        Arc::new(move |event, data| {
            let (state, app_id, ready, verified, snapshot) = (
                state.clone(),
                app_id.clone(),
                ready.clone(),
                verified.clone(),
                snapshot.clone(),
            );
            Box::pin(async move {
                if event != "app:request" {
                    return json!({"status": 400, "error": "Unknown event"});
                }
                let op = data
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if !verified.load(Ordering::SeqCst)
                    || (!ready.load(Ordering::SeqCst) && op != "ping")
                {
                    let status = if verified.load(Ordering::SeqCst) {
                        503
                    } else {
                        403
                    };
                    return json!({"status": status, "error": "App connection is not ready"});
                }
                let args = data.get("arguments").cloned().unwrap_or_else(|| json!({}));
                if op == "ping" && args == json!({}) {
                    return json!({"status": 200, "data": {"received": true}});
                }
                let expected = snapshot.lock().unwrap().clone();
                let run = async {
                    let app = get_app(&state, &app_id, Gate::Active).await?;
                    if config(&app) != config(&expected) {
                        return Err(ApiError::forbidden("App credentials changed"));
                    }
                    match EXEC.get() {
                        Some(run) => run(state.clone(), app, op.clone(), args).await,
                        None => Err(ApiError::Unavailable("App operations are not ready".into())),
                    }
                };
                match tokio::time::timeout(Duration::from_secs(10), run).await {
                    Ok(Ok(v)) => json!({"status": 200, "data": v}),
                    Ok(Err(e)) => {
                        json!({"status": e.status().as_u16(), "error": super::detail_of(&e)})
                    }
                    Err(_) => {
                        json!({"status": 504, "error": "App operation timed out; outcome may be unknown"})
                    }
                }
            })
        })
    };
    let client = Client::connect(&ws_url, addr, &key, NAMESPACE, handler).await?;
    let guard = CloseOnDrop(Some(client.clone()));
    let challenge = uuid::Uuid::new_v4().to_string();
    let hello = client
        .call(
            "app:connect",
            &json!({"app_id": app.id, "challenge": challenge, "connection_token": token}),
            Duration::from_secs(10),
        )
        .await?;
    if hello.get("status").and_then(Value::as_u64) != Some(200) {
        return Err(ApiError::forbidden(
            "App rejected its connection credential. Review credentials before reconnecting.",
        ));
    }
    let (new_token, installation_id) =
        verify_proof(&app, &hello["data"], &challenge, saved.is_some())
            .map_err(|m| ApiError::forbidden(format!("App identity proof refused: {m}")))?;
    verified.store(true, Ordering::SeqCst);
    let mut app = app;
    if enroll {
        let mut next = app.clone();
        if let Value::Object(d) = &mut next.data {
            d.remove("webui_url");
            d.insert("installation_id".into(), json!(installation_id));
            d.insert(
                "connection_token".into(),
                json!(crypto::encrypt(&secret, &new_token)),
            );
        }
        app = save_if_unchanged(state, &app, next, false).await?;
        *snapshot.lock().unwrap() = app.clone();
    }
    let ack = client
        .call("app:ready", &json!({}), Duration::from_secs(10))
        .await?;
    if ack != json!({"status": 200, "data": {"received": true}}) {
        return Err(ApiError::BadGateway(
            "App could not complete its bidirectional connection check".into(),
        ));
    }
    if enroll {
        let next = app.clone();
        app = save_if_unchanged(state, &app, next, true).await?;
        *snapshot.lock().unwrap() = app.clone();
    }
    ready.store(true, Ordering::SeqCst);
    let mut guard = guard;
    guard.0 = None;
    Ok(Arc::new(Peer { app, client, ready }))
}

struct CloseOnDrop(Option<Arc<Client>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.close();
        }
    }
}

/// Writes `next` (activity set to `active`) only if `prev` is still stored.
async fn save_if_unchanged(
    state: &AppState,
    prev: &AppRow,
    mut next: AppRow,
    active: bool,
) -> ApiResult<AppRow> {
    next.is_active = active;
    next.updated_at = crate::db::now_nanos().max(prev.updated_at + 1);
    let expected = prev.updated_at;
    let row = next.clone();
    let ok = state
        .db
        .write(move |c| store::save(c, &row, Some(expected)))
        .await?;
    if !ok {
        return Err(ApiError::Conflict(
            "App changed while connecting; connect again".into(),
        ));
    }
    Ok(next)
}

/// Checks the app's proof (an EdDSA JWT, `typ` `oix-connect+jwt`, audience
/// `oix:connect`) against the pinned key; returns its connection token and
/// installation id.
fn verify_proof(
    app: &AppRow,
    data: &Value,
    challenge: &str,
    saved: bool,
) -> Result<(String, String), &'static str> {
    let token = data["connection_token"]
        .as_str()
        .filter(|t| t.len() <= 8192)
        .ok_or("bad token")?;
    let proof = data["proof"].as_str().ok_or("no proof")?;
    let header = jsonwebtoken::decode_header(proof).map_err(|_| "bad proof")?;
    if header.typ.as_deref() != Some("oix-connect+jwt")
        || header.alg != jsonwebtoken::Algorithm::EdDSA
    {
        return Err("bad proof type");
    }
    let pem = app
        .data
        .pointer("/manifest/public_key")
        .and_then(Value::as_str)
        .ok_or("no key")?;
    let raw = super::manifest::ed25519_key_bytes(pem).ok_or("bad key")?;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let key = jsonwebtoken::DecodingKey::from_ed_components(&x).map_err(|_| "bad key")?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["oix:connect"]);
    v.set_required_spec_claims(&["sub", "exp", "iat", "aud"]);
    let claims = jsonwebtoken::decode::<Value>(proof, &key, &v)
        .map_err(|_| "signature")?
        .claims;
    let installation_id =
        uuid::Uuid::parse_str(data["installation_id"].as_str().unwrap_or_default())
            .map_err(|_| "installation id")?
            .to_string();
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    let lifetime_ok = matches!((iat, exp), (Some(i), Some(e)) if e - i > 0 && e - i <= 60);
    let token_hash = hex::encode(Sha256::digest(token.as_bytes()));
    if claims["sub"].as_str() != Some(installation_id.as_str())
        || claims["app_id"].as_str() != Some(app.id.as_str())
        || claims["manifest_id"]
            != app
                .data
                .pointer("/manifest/id")
                .cloned()
                .unwrap_or(Value::Null)
        || claims["challenge"].as_str() != Some(challenge)
        || claims["token_hash"].as_str() != Some(token_hash.as_str())
        || !lifetime_ok
    {
        return Err("claims");
    }
    if saved && app.data["installation_id"].as_str() != Some(installation_id.as_str()) {
        return Err("installation changed");
    }
    Ok((token.to_string(), installation_id))
}
