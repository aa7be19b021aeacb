//! The files an avatar names, checked as a model is saved (upstream's
//! `_verify_voice_avatar`): every file not already checked for the same role
//! in the stored avatar must be one the saver may read (403 otherwise) and
//! must be a usable VRM (the avatar) or VRMA (its clips), 400 with the
//! reason otherwise. The avatar's own file cannot also be a clip.

use std::path::PathBuf;

use serde_json::Value;

use super::glb::{validate_animation, validate_avatar, ANIMATION_MAX_BYTES, AVATAR_MAX_BYTES};
use crate::auth::Caller;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const NOT_ACCESSIBLE: &str = "Avatar or animation file is not accessible. Upload it again.";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Avatar,
    Clip,
}

/// The file ids of a stored-form avatar with their roles, avatar first.
fn assets(avatar: &Value) -> ApiResult<Vec<(String, Role)>> {
    let id = |v: &Value| v.get("file_id").and_then(Value::as_str).map(str::to_string);
    let Some(avatar_file) = id(avatar) else {
        return Ok(Vec::new());
    };
    let mut out = vec![(avatar_file.clone(), Role::Avatar)];
    let states = avatar
        .get("states")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|s| s.values());
    let gestures = avatar
        .get("gestures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for clip in states.chain(gestures).filter_map(id) {
        if clip == avatar_file {
            return Err(ApiError::bad_request(
                "An animation must be a VRMA file, not the avatar.",
            ));
        }
        if !out.iter().any(|(f, _)| *f == clip) {
            out.push((clip, Role::Clip));
        }
    }
    Ok(out)
}

/// Checks the files of `avatar` (`meta.voice_avatar` in its stored form,
/// see `settings::normalize`); those `previous` (the stored avatar) already
/// had in the same role are not opened again.
pub async fn verify(
    state: &AppState,
    caller: &Caller,
    avatar: Option<&Value>,
    previous: Option<&Value>,
) -> ApiResult<()> {
    let Some(avatar) = avatar.filter(|a| a.is_object()) else {
        return Ok(());
    };
    let wanted = assets(avatar)?;
    let known = match previous.filter(|p| p.is_object()) {
        // A stored avatar that no longer passes the rules counts as unchecked.
        Some(p) => assets(p).unwrap_or_default(),
        None => Vec::new(),
    };
    for (file_id, role) in wanted {
        if known.contains(&(file_id.clone(), role)) {
            continue;
        }
        let lookup = file_id.clone();
        let file = state.db.read(move |c| db::files::get(c, &lookup)).await?;
        let Some(file) = file else {
            return Err(ApiError::forbidden(NOT_ACCESSIBLE));
        };
        if !crate::files::can_access_file(state, caller, &file, "read").await? {
            return Err(ApiError::forbidden(NOT_ACCESSIBLE));
        }
        let Some(path) = crate::files::resolve_path(state, &file) else {
            return Err(ApiError::bad_request(
                "Avatar or animation file could not be read. Upload it again.",
            ));
        };
        let limit = match role {
            Role::Avatar => AVATAR_MAX_BYTES,
            Role::Clip => ANIMATION_MAX_BYTES,
        };
        let checked = tokio::task::spawn_blocking(move || check_file(path, limit, role)).await?;
        checked.map_err(ApiError::BadRequest)?;
    }
    Ok(())
}

/// Reads at most one byte past `limit` (enough to tell it is too large) and
/// checks the file for its role.
fn check_file(path: PathBuf, limit: usize, role: Role) -> Result<(), String> {
    use std::io::Read;
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut data))
        .map_err(|_| "Avatar or animation file could not be read. Upload it again.".to_string())?;
    match role {
        Role::Avatar => validate_avatar(&data),
        Role::Clip => validate_animation(&data),
    }
}
