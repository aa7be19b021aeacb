//! JSON export of skills, and the package routes (zip / `.skill` import,
//! loading from a URL) this server does not support.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::common::{authorized, snapshot_at};
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::api::prompts::perms_allow_any;
use crate::db::skills::{self as rows, SkillRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workspace::skills::readable;

const PACKAGES_UNSUPPORTED: &str =
    "Skill packages (.zip / .skill archives and loading from a URL) are not supported by this server; \
     use JSON export and create skills in the editor.";

pub(super) async fn packages_unsupported(VerifiedUser(_c): VerifiedUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(PACKAGES_UNSUPPORTED.into()))
}

/// Loading a skill package from a URL is an admin route upstream: refuse
/// others first, then say it is not supported.
pub(super) async fn load_url_unsupported(AdminUser(_c): AdminUser) -> ApiResult<Json<Value>> {
    Err(ApiError::NotImplemented(PACKAGES_UNSUPPORTED.into()))
}

pub(super) async fn export(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
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
    if format == "zip" || format == "skill" {
        return Err(ApiError::NotImplemented(PACKAGES_UNSUPPORTED.into()));
    }
    if format != "json" {
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
    if ids.as_ref().is_some_and(|i| i.len() == 1) {
        return Ok(Json(packages.pop().unwrap_or(Value::Null)));
    }
    Ok(Json(Value::Array(packages)))
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
