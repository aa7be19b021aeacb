//! The Skills page's import dialog: `import/preview` lists what the picked
//! files hold (with whether each id is taken and may be replaced), and
//! `import` saves them again with one decision per skill.

use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::common::authorized;
use super::write::{create_from, update_from};
use crate::api::extract::VerifiedUser;
use crate::api::prompts::perms_allow_any;
use crate::auth::Caller;
use crate::db::skills as rows;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workspace::skill_package::{
    read_uploads, Package, MAX_IMPORT_BYTES, MAX_IMPORT_ENTRIES,
};

/// A limit on the request body for the import routes: the import itself plus
/// room for the multipart framing and the decisions.
pub(super) const BODY_LIMIT: usize = MAX_IMPORT_BYTES + 4 * 1024 * 1024;
const DECISIONS_MAX_BYTES: usize = 4 * 1024 * 1024;

async fn require_import(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if perms_allow_any(state, caller, &["workspace.skills_import"]).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden("Import permission required"))
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("The import is larger than 200 MiB".into())
    } else {
        ApiError::bad_request("The upload could not be read")
    }
}

/// The `files` parts (name, bytes) and the `decisions` text, with the total
/// size and the number of files bounded while reading.
async fn read_form(mut mp: Multipart) -> ApiResult<(Vec<(String, Vec<u8>)>, Option<String>)> {
    let mut uploads = Vec::new();
    let mut decisions = None;
    let mut total = 0usize;
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        let (limit, is_file) = match name.as_str() {
            "files" => (MAX_IMPORT_BYTES - total, true),
            "decisions" => (DECISIONS_MAX_BYTES, false),
            _ => continue,
        };
        if is_file && uploads.len() >= MAX_IMPORT_ENTRIES {
            return Err(ApiError::bad_request("Too many files were uploaded"));
        }
        let filename = field.file_name().unwrap_or("").to_string();
        let mut data = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if data.len() + chunk.len() > limit {
                return Err(ApiError::bad_request(if is_file {
                    "The import is larger than 200 MiB"
                } else {
                    "The decisions are too large"
                }));
            }
            data.extend_from_slice(&chunk);
        }
        if is_file {
            total += data.len();
            uploads.push((filename, data));
        } else {
            decisions = Some(
                String::from_utf8(data)
                    .map_err(|_| ApiError::bad_request("The decisions must be UTF-8 JSON"))?,
            );
        }
    }
    if uploads.is_empty() {
        return Err(crate::api::form::validation("files", "Field required"));
    }
    Ok((uploads, decisions))
}

async fn packages(uploads: Vec<(String, Vec<u8>)>) -> ApiResult<Vec<Package>> {
    tokio::task::spawn_blocking(move || read_uploads(uploads))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::bad_request)
}

pub(super) async fn preview(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    mp: Multipart,
) -> ApiResult<Json<Value>> {
    require_import(&state, &caller).await?;
    let (uploads, _) = read_form(mp).await?;
    let list = packages(uploads).await?;
    let mut out = Vec::with_capacity(list.len());
    for (index, p) in list.into_iter().enumerate() {
        let (id, name) = (p.id.clone(), p.name.clone());
        let (existing, name_taken) = state
            .db
            .read(move |c| Ok((rows::get(c, &id)?, rows::name_taken(c, &name)?)))
            .await?;
        let writable = match &existing {
            Some(s) => authorized(&state, &caller, &s.id, "write").await.is_ok(),
            None => false,
        };
        let mut item = json!({"index": index});
        if let (Value::Object(item), Value::Object(pkg)) = (&mut item, p.to_json()) {
            item.extend(pkg);
        }
        item["files"] = json!(rows::file_summaries(&p.files));
        item["id_taken"] = json!(existing.is_some());
        item["name_taken"] = json!(name_taken);
        item["can_replace"] = json!(writable);
        item["expected_version_id"] = match (&existing, writable) {
            (Some(s), true) => json!(s.version_id),
            _ => Value::Null,
        };
        out.push(item);
    }
    Ok(Json(Value::Array(out)))
}

/// The `detail` of an error answer, for the per-skill import results.
async fn detail_of(resp: Response) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("detail").cloned())
        .unwrap_or_else(|| json!("The skill could not be saved"))
}

pub(super) async fn import(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    mp: Multipart,
) -> ApiResult<Json<Value>> {
    require_import(&state, &caller).await?;
    let (uploads, decisions) = read_form(mp).await?;
    let Some(decisions) = decisions else {
        return Err(crate::api::form::validation("decisions", "Field required"));
    };
    let list = packages(uploads).await?;
    let choices: Vec<Value> = match serde_json::from_str::<Value>(&decisions) {
        Ok(Value::Array(c)) if c.len() == list.len() && c.iter().all(Value::is_object) => c,
        _ => return Err(ApiError::bad_request("Give one decision for each skill")),
    };
    let mut results = Vec::with_capacity(list.len());
    for (p, choice) in list.into_iter().zip(choices) {
        let action = choice
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("skip");
        if action == "skip" {
            results.push(json!({"status": "skipped", "id": p.id}));
            continue;
        }
        let id = choice.get("id").cloned().unwrap_or_else(|| json!(p.id));
        let name = choice.get("name").cloned().unwrap_or_else(|| json!(p.name));
        let mut form = json!({
            "id": id,
            "name": name,
            "description": p.description,
            "meta": p.meta,
            "files": p.files,
        });
        if let Some(a) = p.is_active {
            form["is_active"] = json!(a);
        }
        let saved: Result<Value, Response> = match (action, id.as_str()) {
            (_, None) => Err(ApiError::bad_request("The skill id must be text").into_response()),
            ("replace", Some(target)) => {
                let expected = choice
                    .get("expected_version_id")
                    .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()));
                match (authorized(&state, &caller, target, "write").await, expected) {
                    (Err(e), _) => Err(e.into_response()),
                    (Ok(_), None) => Err(ApiError::bad_request(
                        "Replacing a skill needs its expected_version_id",
                    )
                    .into_response()),
                    (Ok(_), Some(v)) => {
                        form["expected_version_id"] = v.clone();
                        update_from(&state, &caller, target, &form).await
                    }
                }
            }
            ("create" | "copy", Some(_)) => {
                form["access_grants"] = json!([]);
                create_from(&state, &caller, &form)
                    .await
                    .map_err(IntoResponse::into_response)
            }
            _ => Err(ApiError::bad_request(
                "The import action must be create, copy, replace or skip",
            )
            .into_response()),
        };
        results.push(match saved {
            Ok(v) => json!({"status": "saved", "id": v.get("id").cloned().unwrap_or(id)}),
            Err(resp) => json!({"status": "error", "id": p.id, "error": detail_of(resp).await}),
        });
    }
    Ok(Json(Value::Array(results)))
}
