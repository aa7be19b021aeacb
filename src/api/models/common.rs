//! What the sections of the models router share: refusals, the parsed
//! model form and its checks, loading a model with its grants.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use crate::api::form::validation;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::GrantRow;
use crate::db::models::{self as rows, ModelForm, ModelRow};
use crate::error::messages::{ACCESS_PROHIBITED, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::llm;
use crate::state::AppState;

pub(super) fn unauthorized() -> ApiError {
    ApiError::unauthorized(UNAUTHORIZED)
}

pub(super) fn prohibited() -> ApiError {
    ApiError::unauthorized(ACCESS_PROHIBITED)
}

pub(super) fn id_taken() -> ApiError {
    ApiError::unauthorized(
        "Uh-oh! This model id is already registered. Please choose another model id string.",
    )
}

pub(super) async fn perms_allow(state: &AppState, caller: &Caller, key: &str) -> ApiResult<bool> {
    if caller.is_admin() {
        return Ok(true);
    }
    let perms = permissions::effective(state, caller.id()).await?;
    Ok(permissions::allows(&perms, key))
}

pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= 256 && !id.chars().any(char::is_whitespace)
}

/// A profile image URL that is not a raster data URL, http(s) URL or one of
/// the server's own paths is dropped (the default picture shows), as upstream
/// does, so an SVG never reaches the profile image route.
fn without_unsafe_image(mut meta: Value) -> Value {
    if let Some(m) = meta.as_object_mut() {
        if m.get("profile_image_url")
            .and_then(Value::as_str)
            .is_some_and(|u| !crate::limits::valid_image_url(u))
        {
            m.insert("profile_image_url".into(), Value::Null);
        }
    }
    meta
}

/// A parsed `ModelForm`, remembering which optional keys the request set.
pub(super) struct Parsed {
    pub(super) form: ModelForm,
    pub(super) grants: Option<Value>,
    pub(super) has_base: bool,
    pub(super) has_active: bool,
    pub(super) meta_keys: HashSet<String>,
    pub(super) params_has_controls: bool,
}

pub(super) fn parse_form(v: &Value) -> ApiResult<Parsed> {
    let o = v
        .as_object()
        .ok_or_else(|| validation("", "Input should be an object"))?;
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("id", "Field required"))?;
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(validation("id", "String should match pattern '^\\S+$'"));
    }
    let name = o
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("name", "Field required"))?;
    crate::limits::check_name("name", name)?;
    let meta = o
        .get("meta")
        .filter(|m| m.is_object())
        .ok_or_else(|| validation("meta", "Field required"))?;
    let params = o
        .get("params")
        .filter(|m| m.is_object())
        .ok_or_else(|| validation("params", "Field required"))?;
    if let Some(bg) = meta.get("background_image_url").and_then(Value::as_str) {
        if !rows::valid_background_image(bg) {
            return Err(validation(
                "meta",
                "Invalid background image URL: must reference an internal file.",
            ));
        }
    }
    let base = match o.get("base_model_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(validation(
                "base_model_id",
                "Input should be a valid string",
            ))
        }
    };
    let is_active = match o.get("is_active") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(validation("is_active", "Input should be a valid boolean")),
    };
    let grants = match o.get("access_grants") {
        None | Some(Value::Null) => None,
        Some(g @ Value::Array(_)) => {
            crate::api::form::no_null_items(&["body", "access_grants"], g, "dictionary")?;
            Some(g.clone())
        }
        Some(_) => return Err(validation("access_grants", "Input should be a valid list")),
    };
    Ok(Parsed {
        form: ModelForm {
            id: id.to_string(),
            // A model based on itself is a base-model row.
            base_model_id: base.filter(|b| b != id),
            name: name.to_string(),
            params: params.clone(),
            meta: without_unsafe_image(meta.clone()),
            is_active,
            commit_message: o
                .get("commit_message")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        grants,
        has_base: o.contains_key("base_model_id"),
        has_active: o.contains_key("is_active"),
        meta_keys: meta
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        params_has_controls: params.get("model_controls").is_some(),
    })
}

pub(super) async fn load(
    state: &AppState,
    id: &str,
) -> ApiResult<Option<(ModelRow, Vec<GrantRow>)>> {
    let id = id.to_string();
    Ok(state
        .db
        .read(move |c| rows::get_with_grants(c, &id))
        .await?)
}

pub(super) async fn load_wire(state: &AppState, id: &str) -> ApiResult<Value> {
    match load(state, id).await? {
        Some((m, g)) => Ok(rows::wire(&m, &g)),
        None => Ok(Value::Null),
    }
}

#[derive(Deserialize)]
pub(super) struct IdQuery {
    pub(super) id: String,
}

/// The owner and stored path of the uploaded file that a background image
/// URL (`…/files/{id}/content`) points at, if there is one.
pub(super) async fn background_file(
    state: &AppState,
    url: &str,
) -> ApiResult<Option<(Option<String>, Option<String>)>> {
    let file_id = url
        .trim_end_matches("/content")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    Ok(state
        .db
        .read(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT user_id, path FROM file WHERE id = ?1",
                [&file_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
        .await?)
}

/// A background image must be a file the caller may use.
pub(super) async fn check_background(
    state: &AppState,
    caller: &Caller,
    meta: &Value,
    previous_meta: Option<&Value>,
) -> ApiResult<()> {
    fn background(m: &Value) -> Option<&str> {
        m.get("background_image_url").and_then(Value::as_str)
    }
    let (url, previous) = (background(meta), previous_meta.and_then(background));
    let Some(url) = url.filter(|u| !u.is_empty() && Some(*u) != previous) else {
        return Ok(());
    };
    let path = match background_file(state, url).await? {
        Some((o, path)) if caller.is_admin() || o.as_deref() == Some(caller.id()) => path,
        _ => return Err(ApiError::forbidden("Background image is not accessible.")),
    };
    // The picture is shown inline, so it must really be a raster image.
    let head = match path {
        Some(p) => tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = Vec::with_capacity(16);
            std::fs::File::open(p)
                .and_then(|f| f.take(16).read_to_end(&mut buf))
                .map(|_| buf)
        })
        .await?
        .unwrap_or_default(),
        None => vec![],
    };
    if image_type(&head).is_none() {
        return Err(ApiError::bad_request(
            "Background image must be PNG, JPEG, WebP, or GIF.",
        ));
    }
    Ok(())
}

pub(super) fn image_type(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Model controls only work for models a server-side provider serves.
pub(super) async fn check_controls(state: &AppState, p: &Parsed) -> ApiResult<()> {
    let has = p
        .form
        .params
        .get("model_controls")
        .and_then(Value::as_object)
        .is_some_and(|c| !c.is_empty());
    if !has {
        return Ok(());
    }
    let problems = crate::chat::params::control_problems(&p.form.params["model_controls"]);
    if !problems.is_empty() {
        let detail: Vec<Value> = problems
            .into_iter()
            .map(|(at, msg)| {
                let mut loc = vec![serde_json::json!("body"), serde_json::json!("params")];
                loc.extend(at.split('.').map(|s| serde_json::json!(s)));
                serde_json::json!({"type": "value_error", "loc": loc, "msg": msg})
            })
            .collect();
        return Err(ApiError::Validation(Value::Array(detail)));
    }
    let target = p
        .form
        .base_model_id
        .clone()
        .unwrap_or_else(|| p.form.id.clone());
    let all = llm::all_models(state, false).await?;
    if let Some(base) = all.iter().find(|m| m["id"] == target.as_str()) {
        if base.get("pipe").is_some() || base.get("direct").is_some() || base["owned_by"] == "arena"
        {
            return Err(ApiError::bad_request(
                "Model controls require a server-managed provider model.",
            ));
        }
    }
    Ok(())
}

/// Ids that base models already use (a user may not shadow them).
pub(super) async fn base_ids(state: &AppState) -> ApiResult<HashSet<String>> {
    let mut ids = HashSet::new();
    for m in llm::all_models(state, false).await? {
        if m.get("preset").is_some() {
            continue;
        }
        let Some(id) = m["id"].as_str() else { continue };
        ids.insert(id.to_string());
        if m["owned_by"] == "ollama" {
            ids.insert(id.split(':').next().unwrap_or(id).to_string());
        }
    }
    Ok(ids)
}
