//! App-level routes that upstream declares in its main module: `/api/config`,
//! `/api/version`, `/api/changelog`, health checks, the web manifest and
//! OpenSearch description, `/api/usage`, `/api/models`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::extract::{OptionalUser, VerifiedUser};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::settings::VERSION;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/config", get(app_config))
        .route("/api/version", get(version))
        .route("/api/version/updates", get(version_updates))
        .route("/api/changelog", get(changelog))
        .route("/api/usage", get(usage))
        .route("/health", get(health))
        .route("/ready", get(health))
        .route("/health/db", get(health_db))
        .route("/manifest.json", get(manifest))
        .route("/opensearch.xml", get(opensearch))
}

async fn health() -> Json<Value> {
    Json(json!({"status": true}))
}

async fn health_db(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state
        .db
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database unavailable: {e}")))?;
    Ok(Json(json!({"status": true})))
}

async fn version() -> Json<Value> {
    Json(json!({"version": VERSION, "deployment_id": ""}))
}

/// No update check leaves this machine; the running version is reported as the latest.
async fn version_updates(VerifiedUser(_c): VerifiedUser) -> Json<Value> {
    Json(json!({"current": VERSION, "latest": VERSION}))
}

async fn changelog() -> Json<Value> {
    Json(crate::web::changelog_json().clone())
}

async fn usage(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
) -> ApiResult<Json<Value>> {
    let users = state.db.read(crate::db::users::count).await?;
    Ok(Json(json!({"model_ids": [], "user_count": users})))
}

async fn manifest(State(state): State<AppState>) -> Response {
    let name = &state.settings.webui_name;
    let body = json!({
        "name": name,
        "short_name": name,
        "description": format!("{name} is an open-source AI chat interface."),
        "start_url": "/",
        "display": "standalone",
        "background_color": "#343541",
        "icons": [
            {"src": "/static/logo.png", "type": "image/png", "sizes": "500x500", "purpose": "any"},
            {"src": "/static/logo.png", "type": "image/png", "sizes": "500x500", "purpose": "maskable"}
        ],
    });
    (
        [(header::CONTENT_TYPE, "application/manifest+json")],
        body.to_string(),
    )
        .into_response()
}

async fn opensearch(State(state): State<AppState>) -> Response {
    let name = xml_escape(&state.settings.webui_name);
    let base = state.config.get_str("webui.url");
    let base = if base.is_empty() {
        format!("http://{}:{}", state.settings.host, state.settings.port)
    } else {
        base
    };
    let base = xml_escape(base.trim_end_matches('/'));
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<OpenSearchDescription xmlns=\"http://a9.com/-/spec/opensearch/1.1/\" xmlns:moz=\"http://www.mozilla.org/2006/browser/search/\">\n\
<ShortName>{name}</ShortName>\n\
<Description>Search {name}</Description>\n\
<InputEncoding>UTF-8</InputEncoding>\n\
<Image width=\"16\" height=\"16\" type=\"image/x-icon\">{base}/static/favicon.png</Image>\n\
<Url type=\"text/html\" method=\"get\" template=\"{base}/?q={{searchTerms}}\"/>\n\
<moz:SearchForm>{base}</moz:SearchForm>\n\
</OpenSearchDescription>\n"
    );
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `/api/config`: a reduced shape before sign-in (with `onboarding` while no
/// account exists), the full shape for verified users, overlay texts for pending ones.
async fn app_config(
    State(state): State<AppState>,
    OptionalUser(caller): OptionalUser,
) -> ApiResult<Json<Value>> {
    let c = &state.config;
    let s = &state.settings;
    let mut out = serde_json::Map::new();
    if caller.is_none() && state.db.read(crate::db::users::count).await? == 0 {
        out.insert("onboarding".into(), json!(true));
    }
    out.insert("status".into(), json!(true));
    out.insert("name".into(), json!(s.webui_name));
    out.insert("version".into(), json!(VERSION));
    out.insert(
        "default_locale".into(),
        json!(c.get_str("ui.default_locale")),
    );
    out.insert("i18n".into(), or_empty_object(c.get("ui.i18n")));
    // Providers are hidden while OAuth is switched off, without forgetting them.
    let providers = if c.get_bool("oauth.enable") {
        state.oauth.provider_labels()
    } else {
        serde_json::Map::new()
    };
    out.insert(
        "oauth".into(),
        json!({"providers": providers, "auto_redirect": c.get_bool("oauth.auto_redirect")}),
    );
    let mut features = json!({
        "slim": false,
        "auth": s.webui_auth,
        "auth_trusted_header": s.trusted.email.is_some(),
        "enable_signup_password_confirmation": s.signup_password_confirmation,
        "enable_ldap": c.get_bool("ldap.enable"),
        "enable_signup": c.get("ui.enable_signup"),
        "enable_login_form": c.get("ui.enable_login_form"),
        "enable_websocket": s.enable_websocket,
    });
    let verified = caller
        .as_ref()
        .filter(|u| u.user.role == "user" || u.user.role == "admin");
    if caller.is_some() {
        extend(&mut features, authed_features(&state));
    }
    out.insert("features".into(), features);
    if let Some(caller) = verified {
        extend_map(&mut out, verified_config(&state, caller).await?);
    } else if caller.as_ref().is_some_and(|u| u.user.role == "pending") {
        out.insert(
            "ui".into(),
            json!({
                "pending_user_overlay_title": c.get("ui.pending_user_overlay_title"),
                "pending_user_overlay_content": c.get("ui.pending_user_overlay_content"),
            }),
        );
    }
    Ok(Json(Value::Object(out)))
}

fn or_empty_object(v: Value) -> Value {
    if v.is_null() {
        json!({})
    } else {
        v
    }
}

fn extend(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        t.extend(e);
    }
}

fn extend_map(target: &mut serde_json::Map<String, Value>, extra: Value) {
    if let Value::Object(e) = extra {
        target.extend(e);
    }
}

fn authed_features(state: &AppState) -> Value {
    let c = &state.config;
    let f = &state.settings.env_flags;
    let terminal_servers = f.enable_tool_servers
        && c.get("terminal_server.connections")
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|conn| conn.get("enabled").and_then(Value::as_bool).unwrap_or(true))
            });
    json!({
        "enable_api_keys": c.get("auth.enable_api_keys"),
        "enable_password_change_form": c.get("ui.enable_password_change_form"),
        "enable_version_update_check": state.settings.version_update_check,
        "enable_pyodide_file_persistence": f.enable_pyodide_file_persistence,
        "enable_public_active_users_count": f.enable_public_active_users_count,
        "enable_easter_eggs": f.enable_easter_eggs,
        "enable_direct_connections": c.get("direct.enable"),
        "enable_direct_integrations": f.enable_tool_servers && c.get_bool("direct.integrations.enable"),
        "enable_plugins": f.enable_plugins,
        "enable_tools": f.enable_tools,
        "enable_functions": f.enable_functions,
        "enable_tool_servers": f.enable_tool_servers,
        "enable_terminal_servers": terminal_servers,
        "enable_folders": c.get("folders.enable"),
        "folder_max_file_count": c.get("folders.max_file_count"),
        "enable_channels": c.get("channels.enable"),
        "enable_encrypted_channels": c.get("channels.encryption.enable"),
        "enable_apps": c.get("apps.enable"),
        "enable_calendar": c.get("calendar.enable"),
        "enable_automations": c.get("automations.enable"),
        "enable_notes": c.get("notes.enable"),
        "enable_context_compaction": c.get("chat.context_compaction.enable"),
        "enable_tool_permissions": c.get("chat.tool_permissions.enable"),
        // The code interpreter is a stored setting only: this server does not
        // run it yet, so the chat must not offer a switch that would do
        // nothing (the admin pages still show the settings).
        "enable_web_search": c.get("web.search.enable"),
        "enable_web_search_confirmation": c.get("web.search.confirmation.enable"),
        "web_search_confirmation_content": c.get("web.search.confirmation.content"),
        "enable_code_execution": c.get("code_execution.enable"),
        "enable_code_interpreter": false,
        "enable_image_generation": c.get("image_generation.enable"),
        "enable_autocomplete_generation": c.get("task.autocomplete.enable"),
        "enable_title_generation": c.get("task.title.enable"),
        "enable_follow_up_generation": c.get("task.follow_up.enable"),
        "enable_tags_generation": c.get("task.tags.enable"),
        "enable_community_sharing": c.get("ui.enable_community_sharing"),
        "enable_message_rating": c.get("ui.enable_message_rating"),
        "enable_user_webhooks": c.get("ui.enable_user_webhooks"),
        "enable_user_status": c.get("users.enable_status"),
        "enable_admin_export": f.enable_admin_export,
        "enable_admin_chat_access": f.enable_admin_chat_access,
        "enable_admin_analytics": f.enable_admin_analytics,
        "enable_google_drive_integration": c.get("google_drive.enable"),
        "enable_onedrive_integration": c.get("onedrive.enable"),
        "enable_memories": c.get("memories.enable"),
        "enable_subagents": c.get("subagents.enable"),
    })
}

async fn verified_config(state: &AppState, _caller: &Caller) -> ApiResult<Value> {
    let c = &state.config;
    let mut perms = c.get("user.permissions");
    if !perms.is_object() {
        perms = json!({});
    }
    Ok(json!({
        "default_models": c.get("ui.default_models"),
        "default_pinned_models": c.get("ui.default_pinned_models"),
        "default_prompt_suggestions": c.get("ui.prompt_suggestions"),
        "default_prompt_suggestions_i18n": or_empty_object(c.get("ui.prompt_suggestions_i18n")),
        "code": {
            "engine": c.get("code_execution.engine"),
            "interpreter_engine": c.get("code_interpreter.engine"),
        },
        "audio": {
            "realtime": {
                "enabled": c.get("audio.realtime.enabled"),
                "model": c.get("audio.realtime.model"),
                "voice": c.get("audio.realtime.voice"),
            },
            "tts": {
                "engine": c.get("audio.tts.engine"),
                "voice": c.get("audio.tts.voice"),
                "split_on": c.get("audio.tts.split_on"),
            },
            "stt": {"engine": c.get("audio.stt.engine")},
        },
        "file": {
            "max_size": c.get("rag.file.max_size"),
            "max_count": c.get("rag.file.max_count"),
            "image_compression": {
                "width": c.get("file.image_compression_width"),
                "height": c.get("file.image_compression_height"),
            },
        },
        "permissions": perms,
        "google_drive": {"client_id": "", "api_key": ""},
        "onedrive": {
            "client_id_personal": "",
            "client_id_business": "",
            "sharepoint_url": "",
            "sharepoint_tenant_id": "",
        },
        "ui": {
            "default_interface_settings": c.get("ui.default_interface_settings"),
            "visibility": c.get("ui.visibility"),
            "pending_user_overlay_title": c.get("ui.pending_user_overlay_title"),
            "pending_user_overlay_content": c.get("ui.pending_user_overlay_content"),
            "response_watermark": c.get("ui.watermark"),
            "iframe_csp": state.settings.env_flags.iframe_csp,
        },
        "license_metadata": null,
    }))
}
