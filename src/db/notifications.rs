//! A user's notification targets live in `user.settings.notifications`
//! (`targets`, `default_target_id`, plus the legacy `webhook_url`), as upstream keeps them.

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::{now_secs, users};

/// The user's settings object (`{}` when unset or not an object); `None` for no such user.
pub fn settings(c: &Connection, user_id: &str) -> rusqlite::Result<Option<Map<String, Value>>> {
    Ok(users::get(c, user_id)?.map(|u| match u.settings {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }))
}

/// Replaces `settings.notifications`, keeping the other settings as they are.
pub fn save_notifications(
    c: &Connection,
    user_id: &str,
    notifications: Value,
) -> rusqlite::Result<()> {
    let Some(mut s) = settings(c, user_id)? else {
        return Ok(());
    };
    s.insert("notifications".into(), notifications);
    users::update_settings(c, user_id, &Value::Object(s), now_secs())?;
    Ok(())
}
