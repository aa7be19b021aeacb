//! Shared by the sections: the refusal of protected actions, and how users
//! and their groups are shown to others.

use serde_json::{json, Value};

use crate::db;

pub(super) const ACTION_PROHIBITED: &str =
    "The requested action has been restricted as a security measure.";

/// Upstream's `UserInfoResponse`: what any verified user may learn about another.
pub(super) fn info_json(u: &db::users::UserRow, groups: Option<Vec<Value>>, now: i64) -> Value {
    json!({
        "status_emoji": u.status_emoji,
        "status_message": u.status_message,
        "status_expires_at": u.status_expires_at,
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "bio": u.bio,
        "last_active_at": u.last_active_at,
        "timezone": u.timezone,
        "groups": groups.unwrap_or_default(),
        "is_active": db::users::is_active(u, now),
    })
}

pub(super) fn id_names(groups: &[db::groups::GroupRow]) -> Vec<Value> {
    groups
        .iter()
        .map(|g| json!({"id": g.id, "name": g.name}))
        .collect()
}
