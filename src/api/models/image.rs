//! A model's profile image: the stored image, a safe redirect or the
//! default picture.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::common::{load, IdQuery};
use crate::access;
use crate::api::extract::VerifiedUser;
use crate::db::access_grants;
use crate::error::ApiResult;
use crate::llm;
use crate::state::AppState;

/// Upstream redirects with 302 Found.
fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn default_image() -> Response {
    found("/static/favicon.png")
}

/// Static paths are redirected to only when they stay under `/static/`.
pub(super) fn safe_static(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or("").trim();
    if path.contains('%')
        || path.contains('\\')
        || path.contains('\0')
        || !path.starts_with("/static/")
    {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/').skip(1) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    (parts.first() == Some(&"static") && parts.len() > 1).then(|| format!("/{}", parts.join("/")))
}

pub(super) async fn profile_image(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Query(q): Query<IdQuery>,
) -> ApiResult<Response> {
    let mut url: Option<String> = None;
    let mut etag: Option<i64> = None;
    let bypass = llm::bypass_model_access() || access::admin_bypass(&caller);
    if let Some((m, g)) = load(&state, &q.id).await? {
        let groups = access::group_ids(&state, caller.id()).await?;
        // Denied callers get the default picture, so ids cannot be probed.
        if bypass
            || m.user_id == caller.id()
            || access_grants::grants_allow(&g, caller.id(), &groups, "read")
        {
            url = m
                .meta
                .get("profile_image_url")
                .and_then(Value::as_str)
                .map(str::to_string);
            etag = Some(m.updated_at);
        }
    }
    if url.as_deref().is_none_or(str::is_empty) {
        let arena = state.config.get("evaluation.arena.models");
        if let Some(a) = arena
            .as_array()
            .and_then(|l| l.iter().find(|m| m["id"] == q.id.as_str()))
        {
            url = a["meta"]["profile_image_url"].as_str().map(str::to_string);
        }
    }
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(default_image());
    };
    if crate::api::user_content::is_remote(&url) {
        if crate::api::user_content::forwarding_enabled() && crate::limits::valid_image_url(&url) {
            return Ok(found(&url));
        }
        return Ok(default_image());
    }
    if url
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        let etag = etag.map(|t| format!("\"{t}\""));
        return Ok(crate::api::user_content::data_image(&url, etag).unwrap_or_else(default_image));
    }
    match safe_static(&url) {
        Some(p) => Ok(found(&p)),
        None => Ok(default_image()),
    }
}
