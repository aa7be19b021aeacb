//! The caller's own data: settings (with the admin's defaults), info, status
//! and variables.

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::auth::permissions;
use crate::db::{self, now_secs};
use crate::error::messages::NOT_FOUND as USER_NOT_FOUND;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::common::ACTION_PROHIBITED;

#[derive(serde::Deserialize)]
pub(super) struct SettingsQuery {
    #[serde(default)]
    raw: bool,
}

/// Merges `settings` over `defaults`, recursing into objects and skipping nulls.
fn merge_over(defaults: &Value, settings: &Value) -> Value {
    let mut out = defaults.clone();
    if let (Value::Object(o), Value::Object(s)) = (&mut out, settings) {
        for (k, v) in s {
            if v.is_null() {
                continue;
            }
            let merged = match o.get(k) {
                Some(d @ Value::Object(_)) if v.is_object() => merge_over(d, v),
                _ => v.clone(),
            };
            o.insert(k.clone(), merged);
        }
    }
    out
}

/// The saved settings; unless `raw`, the admin's default interface settings
/// fill what the user has not set.
pub(super) async fn get_settings(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<SettingsQuery>,
) -> Json<Value> {
    let saved = caller.user.settings.unwrap_or(Value::Null);
    let defaults = state.config.get("ui.default_interface_settings");
    if q.raw || defaults.as_object().is_none_or(|d| d.is_empty()) {
        return Json(saved);
    }
    let mut out = match saved {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    let ui = out
        .get("ui")
        .filter(|u| u.is_object())
        .cloned()
        .unwrap_or(json!({}));
    out["ui"] = merge_over(&defaults, &ui);
    Json(out)
}

/// Keys of upstream's interface-settings model: dropped from `ui` for users
/// without the `settings.interface` permission.
const INTERFACE_KEYS: &[&str] = &[
    "autoTags",
    "autoFollowUps",
    "highContrastMode",
    "detectArtifacts",
    "responseAutoCopy",
    "showUsername",
    "showUpdateToast",
    "showChangelog",
    "showEmojiInCall",
    "voiceInterruption",
    "displayMultiModelResponsesInTabs",
    "chatFadeStreamingText",
    "richTextInput",
    "showFormattingToolbar",
    "insertPromptAsRichText",
    "promptAutocomplete",
    "insertSuggestionPrompt",
    "keepFollowUpPrompts",
    "insertFollowUpPrompt",
    "regenerateMenu",
    "enableMessageQueue",
    "largeTextAsFile",
    "copyFormatted",
    "collapseCodeBlocks",
    "renderMarkdownInUserMessages",
    "renderMarkdownInAssistantMessages",
    "expandDetails",
    "chatHoverPreview",
    "renderMarkdownInPreviews",
    "chatBubble",
    "widescreenMode",
    "splitLargeChunks",
    "scrollOnBranchChange",
    "scrollOnResponseGeneration",
    "showFilesOnTerminalSelect",
    "temporaryChatByDefault",
    "userLocation",
    "showChatTitleInTab",
    "iframeSandboxAllowScripts",
    "iframeSandboxAllowSameOrigin",
    "iframeSandboxAllowForms",
    "iframeSandboxAllowDownloads",
    "terminalPreviewAllowSameOrigin",
    "stylizedPdfExport",
    "hapticFeedback",
    "ctrlEnterToSend",
    "showFloatingActionButtons",
    "imageCompression",
    "imageCompressionInChannels",
    "landingPageMode",
    "chatDirection",
    "terminalFileDisplay",
    "defaultUploadContext",
    "webSearch",
    "models",
    "backgroundImageUrl",
    "fontFamily",
    "textScale",
    "title",
    "imageCompressionSize",
    "floatingActionButtons",
];

/// Stores the settings object, as upstream does, dropping the parts the caller
/// may not set, and echoes what was stored.
pub(super) async fn update_settings(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(mut settings): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !settings.is_object() {
        return Err(ApiError::bad_request("Settings must be a JSON object."));
    }
    if !caller.is_admin() {
        let perms = permissions::effective(&state, caller.id()).await?;
        let may = |k: &str| permissions::allows(&perms, k);
        if let Some(ui) = settings.get_mut("ui").and_then(Value::as_object_mut) {
            if !may("settings.interface") {
                for k in INTERFACE_KEYS {
                    ui.remove(*k);
                }
            }
            if !(may("chat.controls") && may("chat.system_prompt")) {
                ui.remove("system");
            }
            if !may("features.direct_tool_servers") {
                ui.remove("toolServers");
            }
            if !may("features.webhooks") {
                if let Some(n) = ui.get_mut("notifications").and_then(Value::as_object_mut) {
                    n.remove("webhook_url");
                }
            }
        }
        if !may("features.webhooks") {
            if let Some(o) = settings.as_object_mut() {
                o.remove("notifications");
            }
        }
    }
    let Value::Object(patch) = settings else {
        return Err(ApiError::bad_request("Settings must be a JSON object."));
    };
    let (id, now) = (caller.user.id.clone(), now_secs());
    let stored = state
        .db
        .write(move |tx| db::users::patch_settings(tx, &id, &patch, now))
        .await?
        .ok_or_else(|| ApiError::bad_request("The user was not found."))?;
    Ok(Json(stored))
}

pub(super) async fn get_info(VerifiedUser(caller): VerifiedUser) -> Json<Value> {
    Json(caller.user.info.unwrap_or(Value::Null))
}

fn status_enabled(state: &AppState) -> ApiResult<()> {
    if state.config.get_bool("users.enable_status") {
        Ok(())
    } else {
        Err(ApiError::forbidden(ACTION_PROHIBITED))
    }
}

pub(super) async fn get_status(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Value>> {
    status_enabled(&state)?;
    Ok(Json(crate::api::auths::user_json(&caller.user)))
}

#[derive(serde::Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    status_emoji: Option<String>,
    #[serde(default)]
    status_message: Option<String>,
    #[serde(default)]
    status_expires_at: Option<i64>,
}

pub(super) async fn update_status(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(f): JsonBody<StatusForm>,
) -> ApiResult<Json<Value>> {
    status_enabled(&state)?;
    let id = caller.user.id.clone();
    let now = now_secs();
    let user = state
        .db
        .write(move |tx| {
            db::users::update_status(
                tx,
                &id,
                f.status_emoji.as_deref(),
                f.status_message.as_deref(),
                f.status_expires_at,
                now,
            )?;
            db::users::get(tx, &id)
        })
        .await?
        .ok_or_else(|| ApiError::bad_request(USER_NOT_FOUND))?;
    Ok(Json(crate::api::auths::user_json(&user)))
}

/// Merges the posted keys into the caller's `info` object.
pub(super) async fn update_info(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(form): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut info = match caller.user.info {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    info.extend(form);
    let info = Value::Object(info);
    let (id, v, now) = (caller.user.id.clone(), info.clone(), now_secs());
    state
        .db
        .write(move |tx| db::users::update_json_column(tx, &id, "info", &v, now))
        .await?;
    Ok(Json(info))
}

const VARIABLE_VALUE_MAX: usize = 20_000;
const VARIABLES_JSON_MAX: usize = 100_000;

fn valid_variable_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(super) async fn get_variables(VerifiedUser(caller): VerifiedUser) -> Json<Value> {
    let vars: serde_json::Map<String, Value> = match caller.user.variables {
        Some(Value::Object(m)) => m.into_iter().filter(|(_, v)| v.is_string()).collect(),
        _ => serde_json::Map::new(),
    };
    Json(json!({"variables": vars}))
}

#[derive(serde::Deserialize)]
pub(super) struct VariablesForm {
    #[serde(default)]
    variables: Value,
}

pub(super) async fn update_variables(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(f): JsonBody<VariablesForm>,
) -> ApiResult<Json<Value>> {
    let vars = match f.variables {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        _ => return Err(ApiError::bad_request("User variables must be an object.")),
    };
    if Value::Object(vars.clone()).to_string().len() > VARIABLES_JSON_MAX {
        return Err(ApiError::bad_request("User variables are too large."));
    }
    let mut clean = serde_json::Map::new();
    for (k, v) in vars {
        if !valid_variable_key(&k) {
            return Err(ApiError::bad_request(format!(
                "Invalid user variable key: {k}"
            )));
        }
        let Value::String(s) = v else {
            return Err(ApiError::bad_request(format!(
                "User variable must be a string: {k}"
            )));
        };
        let s = s.replace("\r\n", "\n");
        if s.chars().count() > VARIABLE_VALUE_MAX {
            return Err(ApiError::bad_request(format!(
                "User variable is too long: {k}"
            )));
        }
        clean.insert(k, Value::String(s));
    }
    let v = Value::Object(clean);
    let (id, stored, now) = (caller.user.id.clone(), v.clone(), now_secs());
    state
        .db
        .write(move |tx| db::users::update_json_column(tx, &id, "variables", &stored, now))
        .await?;
    Ok(Json(json!({"variables": v})))
}
