//! Export of skills (JSON, or a ZIP / `.skill` archive of their folders),
//! and loading packages from a web address for the import dialog.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::common::{authorized, snapshot_at};
use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::api::prompts::perms_allow_any;
use crate::db::skills::{self as rows, SkillRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workspace::skill_package::zip_export;
use crate::workspace::skills::readable;

#[derive(serde::Deserialize)]
pub(super) struct LoadUrlForm {
    url: String,
}

/// The skills at a web address, for the import dialog to preview (admins).
pub(super) async fn load_url(
    AdminUser(_c): AdminUser,
    JsonBody(form): JsonBody<LoadUrlForm>,
) -> ApiResult<Json<Value>> {
    let packages = crate::workspace::skill_url::load(&form.url).await?;
    Ok(Json(Value::Array(
        packages.iter().map(|p| p.to_json()).collect(),
    )))
}

pub(super) async fn export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    if !perms_allow_any(&state, &caller, &["workspace.skills_export"]).await? {
        return Err(ApiError::forbidden("Export permission required"));
    }
    let mut format = "json".to_string();
    let mut ids: Option<Vec<String>> = None;
    let mut version: Option<String> = None;
    for (k, v) in form_pairs(raw.as_deref().unwrap_or("")) {
        match k.as_str() {
            "format" => format = v,
            "ids" => ids.get_or_insert_with(Vec::new).push(v),
            "version_id" => version = Some(v),
            _ => {}
        }
    }
    if version.is_some() && ids.as_ref().is_none_or(|i| i.len() != 1) {
        return Err(ApiError::bad_request(
            "Select one skill to export a historical version",
        ));
    }
    if format == "skill" && ids.as_ref().is_none_or(|i| i.len() != 1) {
        return Err(ApiError::bad_request(
            "Select one skill to export as .skill",
        ));
    }
    if !matches!(format.as_str(), "json" | "zip" | "skill") {
        return Err(ApiError::bad_request(
            "Export format must be json, zip, or skill",
        ));
    }
    let skills: Vec<SkillRow> = match &ids {
        Some(list) => {
            let mut out = Vec::new();
            for id in list {
                out.push(authorized(&state, &caller, id, "read").await?.0);
            }
            out
        }
        None => readable(&state, &caller)
            .await?
            .0
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
    };
    let mut packages = Vec::new();
    for s in &skills {
        let snap = snapshot_at(&state, s, version.as_deref()).await?;
        packages.push(json!({
            "id": s.id,
            "name": snap.get("name"),
            "description": snap.get("description"),
            "meta": snap.get("meta"),
            "files": rows::files_of(&snap),
            "is_active": s.is_active,
        }));
    }
    if format != "json" {
        let sets: Vec<(String, Vec<Value>)> = packages
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap_or("").to_string(),
                    rows::files_of(p),
                )
            })
            .collect();
        let data = tokio::task::spawn_blocking(move || zip_export(&sets))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::bad_request)?;
        let filename = match skills.first() {
            Some(s) if format == "skill" => format!("{}.skill", s.id),
            _ => "skills.zip".to_string(),
        };
        let disposition = format!("attachment; filename=\"{filename}\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            data,
        )
            .into_response());
    }
    if ids.as_ref().is_some_and(|i| i.len() == 1) {
        return Ok(Json(packages.pop().unwrap_or(Value::Null)).into_response());
    }
    Ok(Json(Value::Array(packages)).into_response())
}

/// `application/x-www-form-urlencoded` pairs, repeated keys kept.
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}
