//! External apps: services an admin registers by URL (their manifest names
//! them, pins an Ed25519 key and asks for scopes), that users invite into
//! channels, that hear the channel's messages and post back. Registration
//! and the answers the admin pages read live here; the live connection in
//! `link.rs` (over `sio.rs`), what an app may ask of us in `ops.rs`, channel
//! membership and events in `channel.rs`, secrets in `crypto.rs`, URL rules
//! in `net.rs`.

pub mod channel;
pub mod crypto;
pub mod link;
pub mod manifest;
pub mod net;
pub mod ops;
pub mod peers;
pub mod sio;

use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::db::apps::{self as store, AppRow, RESOURCE};
use crate::db::{access_grants, now_nanos};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use manifest::{AppForm, ConnectForm, ManifestForm, UpdateForm};

pub use peers::Connections;

/// Starts the loop that keeps active apps connected.
pub fn start(state: AppState) -> tokio::task::JoinHandle<()> {
    link::install(ops::run);
    link::start(state)
}

/// Whether an app must be active (connected, with key and public key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Any,
    Active,
}

/// The `detail` text of an error, as an app reads it.
pub fn detail_of(e: &ApiError) -> String {
    match e {
        ApiError::Internal(_) => "App operation failed".into(),
        ApiError::Validation(_) => "Invalid app operation arguments".into(),
        other => other.to_string(),
    }
}

pub fn check_enabled(state: &AppState) -> ApiResult<()> {
    if state.config.get_bool("apps.enable") {
        Ok(())
    } else {
        Err(ApiError::not_found("Apps are disabled"))
    }
}

/// The app (404 when apps are off or it does not exist; 403 when `gate`
/// asks for an active one and it is not).
pub async fn get_app(state: &AppState, id: &str, gate: Gate) -> ApiResult<AppRow> {
    check_enabled(state)?;
    let id = id.to_string();
    let app = state
        .db
        .read(move |c| store::get(c, &id))
        .await?
        .ok_or_else(|| ApiError::not_found("App not found"))?;
    if gate == Gate::Active && !is_usable(&app) {
        return Err(ApiError::forbidden("App is inactive"));
    }
    Ok(app)
}

fn is_usable(app: &AppRow) -> bool {
    app.is_active
        && app.api_key.is_some()
        && app
            .data
            .pointer("/manifest/public_key")
            .and_then(Value::as_str)
            .is_some_and(|k| !k.is_empty())
}

/// `AppResponse` without `connection_status` (secrets left out).
pub fn response(app: &AppRow) -> Value {
    let mut data = app.data.as_object().cloned().unwrap_or_default();
    data.remove("connection_token");
    data.remove("webui_url");
    json!({
        "id": app.id,
        "slug": app.slug,
        "name": app.name,
        "is_active": app.is_active,
        "configured": app.api_key.is_some(),
        "data": data,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    })
}

/// `AppResponse` with its `connection_status` first.
pub fn response_with_status(app: &AppRow, status: &str) -> Value {
    let mut out = Map::new();
    out.insert("connection_status".into(), json!(status));
    if let Value::Object(m) = response(app) {
        out.extend(m);
    }
    Value::Object(out)
}

/// Admins always; others through a `read` grant on the app.
pub async fn has_access(state: &AppState, app: &AppRow, caller: &Caller) -> ApiResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let groups = crate::access::group_ids(state, caller.id()).await?;
    let (uid, aid) = (caller.id().to_string(), app.id.clone());
    Ok(state
        .db
        .read(move |c| access_grants::has_access(c, &uid, &groups, RESOURCE, &aid, "read"))
        .await?)
}

/// Apps the caller sees: all for admins, active ones they may use otherwise.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<Value>> {
    check_enabled(state)?;
    let apps = state.db.read(store::all).await?;
    let mut out = vec![];
    for a in apps {
        if caller.is_admin() || (a.is_active && has_access(state, &a, caller).await?) {
            out.push(response_with_status(&a, state.apps.status(&a)));
        }
    }
    Ok(out)
}

fn key_of(state: &AppState, app: &AppRow) -> ApiResult<Option<String>> {
    app.api_key
        .as_deref()
        .map(|k| crypto::decrypt(&state.settings.secret_key, k))
        .transpose()
}

/// Fetches the manifest at the URL with the key (or the installed app's).
pub async fn preview(state: &AppState, form: ManifestForm) -> ApiResult<Value> {
    check_enabled(state)?;
    if form.url.len() > 2048 {
        return Err(manifest::invalid("url is too long"));
    }
    manifest::check_key(&form.api_key)?;
    let mut key = form.api_key;
    if let Some(id) = &form.app_id {
        let app = get_app(state, id, Gate::Any).await?;
        if app.data["url"].as_str() != Some(form.url.as_str()) {
            return Err(ApiError::bad_request(
                "App URL does not match the installed app",
            ));
        }
        if key.is_none() {
            key = key_of(state, &app)?;
        }
    }
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("An app API key is required"))?;
    let (status, body) = net::get_json(&form.url, &key).await?;
    match status {
        401 | 403 => {
            return Err(ApiError::bad_request(
                "App rejected the API key. Check the API key configured on the app server.",
            ))
        }
        200 => {}
        s => {
            return Err(ApiError::BadGateway(format!(
                "The app's manifest endpoint answered HTTP {s}. Check the URL or enter the details by hand."
            )))
        }
    }
    let invalid = || {
        ApiError::bad_request(
            "App returned an invalid manifest. Check its details or enter them by hand.",
        )
    };
    let m: manifest::Manifest =
        serde_json::from_value(body.unwrap_or(Value::Null)).map_err(|_| invalid())?;
    let m = m.validated().map_err(|_| invalid())?;
    serde_json::to_value(m).map_err(ApiError::internal)
}

/// Registers an app (inactive until connected).
pub async fn create(state: &AppState, caller: &Caller, form: AppForm) -> ApiResult<Value> {
    check_enabled(state)?;
    let form = form.validated()?;
    net::validate_url(&form.url).map_err(|_| ApiError::bad_request("Invalid app URL"))?;
    if !manifest::subset(&form.granted_scopes, &form.manifest.requested_scopes) {
        return Err(ApiError::bad_request("Unrequested scope"));
    }
    let grants = access_grants::normalize(&form.access_grants);
    let now = now_nanos();
    let app = AppRow {
        id: uuid::Uuid::new_v4().to_string(),
        slug: form.slug,
        name: form.manifest.name.clone(),
        user_id: Some(caller.id().to_string()),
        is_active: false,
        data: json!({
            "url": form.url,
            "manifest": form.manifest,
            "granted_scopes": form.granted_scopes,
            "settings": {},
        }),
        api_key: Some(crypto::encrypt(&state.settings.secret_key, &form.api_key)),
        created_at: now,
        updated_at: now,
    };
    let row = app.clone();
    let stored = state
        .db
        .try_write(move |c| {
            if !store::insert(c, &row)? {
                return Err(ApiError::Conflict("App slug is already registered".into()));
            }
            access_grants::replace(c, RESOURCE, &row.id, &grants, crate::db::now_secs())?;
            Ok(())
        })
        .await;
    stored?;
    Ok(response_with_status(&app, "disconnected"))
}

/// `AppAccessResponse`: the app, its connection and its grants.
pub async fn details(state: &AppState, id: &str) -> ApiResult<Value> {
    let app = get_app(state, id, Gate::Any).await?;
    let aid = app.id.clone();
    let grants = state
        .db
        .read(move |c| access_grants::by_resource(c, RESOURCE, &aid))
        .await?;
    let mut v = response_with_status(&app, state.apps.status(&app));
    v["access_grants"] = grants
        .iter()
        .map(|g| json!({"principal_type": g.principal_type, "principal_id": g.principal_id, "permission": g.permission}))
        .collect();
    Ok(v)
}

fn scopes_of(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Renames, deactivates, changes settings, scopes, grants, or takes a new
/// manifest (which deactivates; a new key also forgets the enrolment).
pub async fn update(state: &AppState, id: &str, form: UpdateForm) -> ApiResult<Value> {
    let form = form.validated()?;
    let app = get_app(state, id, Gate::Any).await?;
    if form.is_active == Some(true) {
        return Err(ApiError::bad_request("Connect the app to enable it"));
    }
    let mut next = app.clone();
    next.updated_at = now_nanos().max(app.updated_at + 1);
    if form.is_active == Some(false) {
        next.is_active = false;
    }
    if let Some(n) = form.name {
        next.name = n;
    }
    if let Some(s) = form.settings {
        next.data["settings"] = Value::Object(s);
    }
    if let Some(m) = form.manifest {
        if app.data.pointer("/manifest/id").and_then(Value::as_str) != Some(m.id.as_str()) {
            return Err(ApiError::bad_request("App identity cannot change"));
        }
        let granted = form.granted_scopes.clone().unwrap_or_default();
        if form.granted_scopes.is_none() || !manifest::subset(&granted, &m.requested_scopes) {
            return Err(ApiError::bad_request("Review the updated scopes"));
        }
        let key_changed = app
            .data
            .pointer("/manifest/public_key")
            .and_then(Value::as_str)
            != Some(m.public_key.as_str());
        next.data["manifest"] = serde_json::to_value(&m).map_err(ApiError::internal)?;
        next.data["granted_scopes"] = json!(granted);
        if key_changed {
            if let Value::Object(d) = &mut next.data {
                d.remove("connection_token");
                d.remove("installation_id");
            }
        }
        next.is_active = false;
    } else if let Some(g) = form.granted_scopes {
        let requested = scopes_of(&app.data["manifest"]["requested_scopes"]);
        if !manifest::subset(&g, &requested) {
            return Err(ApiError::bad_request("Unrequested scope"));
        }
        next.data["granted_scopes"] = json!(g);
    }
    let grants = form.access_grants.as_ref().map(access_grants::normalize);
    let row = next.clone();
    state
        .db
        .write(move |c| {
            store::save(c, &row, None)?;
            if let Some(g) = &grants {
                access_grants::replace(c, RESOURCE, &row.id, g, crate::db::now_secs())?;
            }
            Ok(())
        })
        .await?;
    if !next.is_active {
        state.apps.remove(&next.id);
    }
    Ok(response_with_status(&next, "disconnected"))
}

/// Stores a new key if one is given, then connects (and enrols) the app.
pub async fn connect(state: &AppState, id: &str, form: ConnectForm) -> ApiResult<Value> {
    manifest::check_key(&form.api_key)?;
    let mut app = get_app(state, id, Gate::Any).await?;
    let secret = state.settings.secret_key.clone();
    if let Some(k) = form.api_key {
        if key_of(state, &app)?.as_deref() != Some(k.as_str()) {
            if let Value::Object(d) = &mut app.data {
                d.remove("connection_token");
                d.remove("installation_id");
            }
            app.api_key = Some(crypto::encrypt(&secret, &k));
        }
    }
    if app.api_key.is_none() {
        return Err(ApiError::bad_request("An app API key is required"));
    }
    app.is_active = false;
    app.updated_at = now_nanos().max(app.updated_at + 1);
    let row = app.clone();
    state.db.write(move |c| store::save(c, &row, None)).await?;
    link::install(ops::run);
    let app = link::connect(state, app).await?;
    Ok(response_with_status(&app, "connected"))
}

/// Deactivates the app, forgets its key and enrolment, and takes it out of
/// every channel. The row stays, so its messages keep their author.
pub async fn uninstall(state: &AppState, id: &str) -> ApiResult<Value> {
    let mut app = get_app(state, id, Gate::Any).await?;
    state.apps.remove(&app.id);
    app.is_active = false;
    app.api_key = None;
    if let Value::Object(d) = &mut app.data {
        for k in ["connection_token", "installation_id", "webui_url"] {
            d.remove(k);
        }
    }
    let now = now_nanos();
    app.updated_at = now.max(app.updated_at + 1);
    let row = app.clone();
    state
        .db
        .write(move |c| {
            store::save(c, &row, None)?;
            store::leave_all_channels(c, &row.id, now)
        })
        .await?;
    Ok(response_with_status(&app, "disconnected"))
}
