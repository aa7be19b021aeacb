//! The `channel_webhook` table: incoming webhooks of a channel.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: String,
    pub channel_id: String,
    pub user_id: String,
    pub name: String,
    pub profile_image_url: Option<String>,
    pub token: String,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl WebhookRow {
    /// `ChannelWebhookModel` (the token included: managers need it for the URL).
    pub fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "name": self.name,
            "profile_image_url": self.profile_image_url,
            "token": self.token,
            "last_used_at": self.last_used_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

const WEBHOOK_COLUMNS: &str =
    "id, channel_id, user_id, name, profile_image_url, token, last_used_at, created_at, updated_at";

fn webhook_from(r: &Row) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(0)?,
        channel_id: r.get(1)?,
        user_id: r.get(2)?,
        name: r.get(3)?,
        profile_image_url: r.get(4)?,
        token: r.get(5)?,
        last_used_at: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub fn insert_webhook(c: &Connection, w: &WebhookRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO channel_webhook (id, channel_id, user_id, name, profile_image_url, token, last_used_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8)",
        params![w.id, w.channel_id, w.user_id, w.name, w.profile_image_url, w.token, w.created_at, w.updated_at],
    )?;
    Ok(())
}

pub fn webhooks(c: &Connection, channel_id: &str) -> rusqlite::Result<Vec<WebhookRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM channel_webhook WHERE channel_id = ?1 ORDER BY created_at"
    ))?;
    let rows = st.query_map([channel_id], webhook_from)?;
    rows.collect()
}

pub fn webhook(c: &Connection, id: &str) -> rusqlite::Result<Option<WebhookRow>> {
    c.query_row(
        &format!("SELECT {WEBHOOK_COLUMNS} FROM channel_webhook WHERE id = ?1"),
        [id],
        webhook_from,
    )
    .optional()
}

pub fn update_webhook(
    c: &Connection,
    id: &str,
    name: &str,
    profile_image_url: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<WebhookRow>> {
    c.execute(
        "UPDATE channel_webhook SET name = ?2, profile_image_url = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, name, profile_image_url, now],
    )?;
    webhook(c, id)
}

pub fn touch_webhook(c: &Connection, id: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE channel_webhook SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub fn delete_webhook(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM channel_webhook WHERE id = ?1", [id])? > 0)
}

/// Webhook display names by id, for messages posted through them.
pub fn webhook_names(c: &Connection, ids: &[String]) -> rusqlite::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for id in ids {
        if let Some(w) = webhook(c, id)? {
            out.insert(w.id, w.name);
        }
    }
    Ok(out)
}
