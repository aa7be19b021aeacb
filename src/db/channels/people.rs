//! The user fields the channel endpoints show (`Person`), and the paged,
//! filtered member list.

use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

/// The user fields the channel endpoints show.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub profile_image_url: Option<String>,
    pub presence_state: Option<String>,
    pub status_emoji: Option<String>,
    pub status_message: Option<String>,
    pub status_expires_at: Option<i64>,
    pub last_active_at: Option<i64>,
}

impl Person {
    /// Seen within the last three minutes.
    pub fn is_active(&self, now_secs: i64) -> bool {
        self.last_active_at
            .is_some_and(|t| t != 0 && t >= now_secs - 180)
    }

    /// `UserNameResponse`.
    pub fn name_wire(&self) -> Value {
        json!({"id": self.id, "name": self.name, "role": self.role})
    }

    /// `UserIdNameStatusResponse`.
    pub fn status_wire(&self, now_secs: i64) -> Value {
        json!({
            "status_emoji": self.status_emoji,
            "status_message": self.status_message,
            "status_expires_at": self.status_expires_at,
            "id": self.id,
            "name": self.name,
            "is_active": self.is_active(now_secs),
        })
    }

    /// `ChannelMemberResponse`.
    pub fn member_wire(&self, now_secs: i64) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "profile_image_url": self.profile_image_url,
            "presence_state": self.presence_state,
            "status_emoji": self.status_emoji,
            "status_message": self.status_message,
            "status_expires_at": self.status_expires_at,
            "is_active": self.is_active(now_secs),
        })
    }
}

const PERSON_COLUMNS: &str =
    "u.id, u.name, u.email, u.role, u.profile_image_url, u.presence_state, \
    u.status_emoji, u.status_message, u.status_expires_at, u.last_active_at";

fn person_from(r: &Row) -> rusqlite::Result<Person> {
    Ok(Person {
        id: r.get(0)?,
        name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        email: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        role: r
            .get::<_, Option<String>>(3)?
            .unwrap_or_else(|| "pending".into()),
        profile_image_url: r.get(4)?,
        presence_state: r.get(5)?,
        status_emoji: r.get(6)?,
        status_message: r.get(7)?,
        status_expires_at: r.get(8)?,
        last_active_at: r.get(9)?,
    })
}

pub fn person(c: &Connection, id: &str) -> rusqlite::Result<Option<Person>> {
    c.query_row(
        &format!("SELECT {PERSON_COLUMNS} FROM user u WHERE u.id = ?1"),
        [id],
        person_from,
    )
    .optional()
}

pub fn people(c: &Connection, ids: &[String]) -> rusqlite::Result<Vec<Person>> {
    let list = Value::Array(ids.iter().cloned().map(Value::String).collect()).to_string();
    let mut st = c.prepare(&format!(
        "SELECT {PERSON_COLUMNS} FROM user u WHERE u.id IN (SELECT value FROM json_each(?1))"
    ))?;
    let rows = st.query_map([list], person_from)?;
    rows.collect()
}

/// Filters of the member list.
#[derive(Default)]
pub struct PeopleFilter {
    pub query: Option<String>,
    /// Only users with a membership row in this channel.
    pub channel_id: Option<String>,
    /// Only these users.
    pub user_ids: Option<Vec<String>>,
    pub exclude_pending: bool,
}

/// One page of users matching the filter, and the total.
pub fn people_page(
    c: &Connection,
    f: &PeopleFilter,
    order_by: Option<&str>,
    direction: Option<&str>,
    limit: Option<i64>,
    offset: i64,
) -> rusqlite::Result<(Vec<Person>, i64)> {
    let mut wheres = vec!["1".to_string()];
    let mut args: Vec<String> = Vec::new();
    if let Some(q) = f.query.as_deref().filter(|q| !q.is_empty()) {
        args.push(crate::db::like_contains(q));
        let i = args.len();
        wheres.push(format!(
            "(u.name LIKE ?{i} ESCAPE '\\' OR u.email LIKE ?{i} ESCAPE '\\')"
        ));
    }
    if let Some(cid) = &f.channel_id {
        args.push(cid.clone());
        wheres.push(format!(
            "EXISTS (SELECT 1 FROM channel_member m WHERE m.user_id = u.id AND m.channel_id = ?{})",
            args.len()
        ));
    }
    if let Some(ids) = &f.user_ids {
        args.push(Value::Array(ids.iter().cloned().map(Value::String).collect()).to_string());
        wheres.push(format!(
            "u.id IN (SELECT value FROM json_each(?{}))",
            args.len()
        ));
    }
    if f.exclude_pending {
        wheres.push("u.role IS NOT 'pending'".into());
    }
    let filter = wheres.join(" AND ");
    let total: i64 = c.query_row(
        &format!("SELECT count(*) FROM user u WHERE {filter}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let dir = if direction == Some("asc") {
        "ASC"
    } else {
        "DESC"
    };
    let order = match order_by {
        Some("name") => format!("ORDER BY u.name {dir}"),
        Some("email") => format!("ORDER BY u.email {dir}"),
        Some("created_at") => format!("ORDER BY u.created_at {dir}"),
        Some("last_active_at") => format!("ORDER BY u.last_active_at {dir}"),
        Some("updated_at") => format!("ORDER BY u.updated_at {dir}"),
        Some("role") => format!("ORDER BY u.role {dir}"),
        _ => String::new(),
    };
    let sql = format!(
        "SELECT {PERSON_COLUMNS} FROM user u WHERE {filter} {order} LIMIT {} OFFSET {}",
        limit.unwrap_or(-1),
        offset.max(0)
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), person_from)?;
    Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
}
