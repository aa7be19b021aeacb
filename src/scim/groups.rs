//! SCIM Groups: list, read, create, replace, patch, delete. Members are
//! users only (nested groups are refused).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    iso, list_response, paging, parse_eq_filter, PatchRequest, ScimError, ScimResult, GROUP_SCHEMA,
};
use crate::auth::{group_sync, sessions};
use crate::db::{self, groups::GroupRow};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct CreateGroup {
    #[serde(rename = "displayName")]
    display_name: String,
    #[serde(default)]
    members: Option<Vec<Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReplaceGroup {
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    members: Option<Vec<Value>>,
}

fn not_found(id: &str) -> ScimError {
    ScimError::new(404, format!("Group {id} not found"))
}

fn invalid(detail: &str) -> ScimError {
    ScimError::typed(400, detail, "invalidValue")
}

fn checked_name(name: &str) -> ScimResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(invalid("displayName must be 1 to 255 characters."));
    }
    Ok(name.to_string())
}

/// The user ids of a members list; every entry must name an existing user.
async fn member_ids(state: &AppState, members: &[Value]) -> ScimResult<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    for m in members {
        let kind = m.get("type").and_then(Value::as_str);
        let reference = m.get("$ref").and_then(Value::as_str).unwrap_or("");
        if kind.is_some_and(|k| k != "User") || reference.contains("/Groups/") {
            return Err(invalid("Only users can be members of a group here."));
        }
        let Some(id) = m
            .get("value")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        else {
            return Err(invalid("Every member needs the user's id as value."));
        };
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }
    let check = ids.clone();
    let all_exist = state
        .db
        .read(move |c| {
            for id in &check {
                if db::users::get(c, id)?.is_none() {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await?;
    if !all_exist {
        return Err(invalid("A member user does not exist."));
    }
    Ok(ids)
}

/// Makes the group's direct members exactly `ids`; returns who changed.
fn set_members(
    c: &rusqlite::Connection,
    gid: &str,
    ids: &[String],
    now: i64,
) -> rusqlite::Result<Vec<String>> {
    let before = db::groups::member_ids(c, gid)?;
    let gone: Vec<String> = before
        .iter()
        .filter(|u| !ids.contains(u))
        .cloned()
        .collect();
    let new: Vec<String> = ids
        .iter()
        .filter(|u| !before.contains(u))
        .cloned()
        .collect();
    if !gone.is_empty() {
        db::groups::remove_members(c, gid, &gone, now)?;
    }
    if !new.is_empty() {
        db::groups::add_members(c, gid, &new, now)?;
    }
    Ok(gone.into_iter().chain(new).collect())
}

pub async fn resource(state: &AppState, base: &str, g: &GroupRow) -> ScimResult<Value> {
    let gid = g.id.clone();
    let users = state
        .db
        .read(move |c| {
            let mut out = Vec::new();
            for id in db::groups::member_ids(c, &gid)? {
                if let Some(u) = db::users::get(c, &id)? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await?;
    let members: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "value": u.id,
                "$ref": format!("{base}api/v1/scim/v2/Users/{}", u.id),
                "type": "User",
                "display": u.name,
            })
        })
        .collect();
    Ok(json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id,
        "displayName": g.name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": iso(Some(g.created_at)),
            "lastModified": iso(Some(g.updated_at)),
            "location": format!("{base}api/v1/scim/v2/Groups/{}", g.id),
        },
    }))
}

async fn find(state: &AppState, id: &str) -> ScimResult<GroupRow> {
    let key = id.to_string();
    state
        .db
        .read(move |c| db::groups::get(c, &key))
        .await?
        .ok_or_else(|| not_found(id))
}

pub async fn list(
    state: &AppState,
    base: &str,
    start_index: Option<i64>,
    count: Option<i64>,
    filter: Option<&str>,
) -> ScimResult<Value> {
    let (start, count) = paging(start_index, count);
    let name = match filter.filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(f) => {
            let (attr, value) = parse_eq_filter(f)?;
            if !attr.eq_ignore_ascii_case("displayName") {
                return Err(ScimError::typed(
                    400,
                    "Groups can be filtered by displayName only.",
                    "invalidFilter",
                ));
            }
            Some(value)
        }
    };
    let mut groups: Vec<GroupRow> = state
        .db
        .read(|c| db::groups::list(c, None, None))
        .await?
        .into_iter()
        .map(|(g, _)| g)
        .collect();
    if let Some(name) = name {
        groups.retain(|g| g.name == name);
        groups.truncate(1);
    }
    let total = groups.len() as i64;
    let mut resources = Vec::new();
    for g in groups
        .iter()
        .skip((start - 1) as usize)
        .take(count as usize)
    {
        resources.push(resource(state, base, g).await?);
    }
    Ok(list_response(total, start, resources))
}

pub async fn get(state: &AppState, base: &str, id: &str) -> ScimResult<Value> {
    let g = find(state, id).await?;
    resource(state, base, &g).await
}

fn event(state: &AppState, name: &'static str, gid: &str, data: Value) {
    let e = crate::notify::Event::new(name, None)
        .subject("group", gid)
        .data(data)
        .source("scim");
    crate::notify::publish(state, e);
}

pub async fn create(state: &AppState, base: &str, body: &[u8]) -> ScimResult<Value> {
    let f: CreateGroup = super::parse(body)?;
    let name = checked_name(&f.display_name)?;
    let ids = member_ids(state, f.members.as_deref().unwrap_or(&[])).await?;
    let (gid, now) = (db::new_id(), db::now_secs());
    let (g2, ids2) = (gid.clone(), ids.clone());
    let created = state
        .db
        .write(move |tx| {
            let Some(owner) = db::users::first_admin(tx)? else {
                return Ok(None);
            };
            let data = json!({"config": {"share": group_sync::default_share()}});
            db::groups::insert(
                tx,
                &db::groups::NewGroup {
                    id: &g2,
                    user_id: &owner.id,
                    name: &name,
                    description: "",
                    data: &data,
                    permissions: None,
                    parent_group_id: None,
                    now,
                },
            )?;
            set_members(tx, &g2, &ids2, now)?;
            db::groups::get(tx, &g2)
        })
        .await?;
    let Some(group) = created else {
        return Err(ScimError::new(
            500,
            "Groups need an admin account to own them.",
        ));
    };
    event(
        state,
        "group.created",
        &gid,
        json!({"name": group.name, "member_ids": ids, "member_count": ids.len()}),
    );
    sessions::refresh_access(state, &ids).await;
    resource(state, base, &group).await
}

pub async fn replace(state: &AppState, base: &str, id: &str, body: &[u8]) -> ScimResult<Value> {
    let f: ReplaceGroup = super::parse(body)?;
    let ids = match &f.members {
        Some(m) => Some(member_ids(state, m).await?),
        None => None,
    };
    let group = find(state, id).await?;
    let name = match f.display_name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => checked_name(n)?,
        None => group.name.clone(),
    };
    let now = db::now_secs();
    let mut row = group.clone();
    row.name = name;
    row.updated_at = now;
    let (saved, changed) = state
        .db
        .write(move |tx| {
            db::groups::update(tx, &row)?;
            let changed = match &ids {
                Some(ids) => set_members(tx, &row.id, ids, now)?,
                None => Vec::new(),
            };
            Ok((db::groups::get(tx, &row.id)?, changed))
        })
        .await?;
    let fields = if f.members.is_some() {
        json!(["name", "members"])
    } else {
        json!(["name"])
    };
    updated(
        state,
        base,
        id,
        saved,
        &changed,
        json!({"updated_fields": fields}),
    )
    .await
}

/// The answer to a replace or patch: tells of the update (`group.updated`
/// with `data`), refreshes the sessions of the members who came or went and
/// returns the group as it is now.
async fn updated(
    state: &AppState,
    base: &str,
    id: &str,
    saved: Option<GroupRow>,
    changed: &[String],
    data: Value,
) -> ScimResult<Value> {
    let saved = saved.ok_or_else(|| not_found(id))?;
    event(state, "group.updated", id, data);
    sessions::refresh_access(state, changed).await;
    resource(state, base, &saved).await
}

pub async fn patch(state: &AppState, base: &str, id: &str, body: &[u8]) -> ScimResult<Value> {
    let req: PatchRequest = super::parse(body)?;
    let group = find(state, id).await?;
    // Every member list is checked before anything is applied.
    let mut lists = Vec::new();
    for op in &req.operations {
        let kind = op.op.to_lowercase();
        let members_path = op.path.as_deref() == Some("members");
        if members_path && (kind == "add" || kind == "replace") {
            let Some(list) = op.value.as_array() else {
                return Err(invalid("members must be a list of users."));
            };
            lists.push(Some(member_ids(state, list).await?));
        } else {
            lists.push(None);
        }
    }
    let mut row = group.clone();
    enum Step {
        Replace(Vec<String>),
        Add(Vec<String>),
        Remove(String),
    }
    let mut steps = Vec::new();
    for (op, list) in req.operations.iter().zip(lists) {
        let kind = op.op.to_lowercase();
        let path = op.path.as_deref().unwrap_or("");
        match (kind.as_str(), path, list) {
            ("replace", "displayName", _) => {
                let Some(n) = op.value.as_str() else {
                    return Err(invalid("displayName must be a string."));
                };
                row.name = checked_name(n)?;
            }
            ("add" | "replace", "", _) => match op.value.get("displayName").and_then(Value::as_str)
            {
                Some(n) => row.name = checked_name(n)?,
                None => return Err(invalid("Only displayName can be set without a path.")),
            },
            ("replace", "members", Some(ids)) => steps.push(Step::Replace(ids)),
            ("add", "members", Some(ids)) => steps.push(Step::Add(ids)),
            ("remove", p, _) if p.starts_with("members[value eq") => {
                let member = p
                    .split('"')
                    .nth(1)
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| {
                        ScimError::typed(400, "The member filter is not valid.", "invalidPath")
                    })?;
                steps.push(Step::Remove(member.to_string()));
            }
            ("remove", "members", _) => steps.push(Step::Replace(Vec::new())),
            ("add" | "replace" | "remove", p, _) => {
                return Err(ScimError::typed(
                    400,
                    format!("Unsupported PATCH path: {p}"),
                    "invalidPath",
                ))
            }
            (other, _, _) => {
                return Err(ScimError::new(
                    400,
                    format!("Unsupported PATCH operation: {other}"),
                ))
            }
        }
    }
    let now = db::now_secs();
    row.updated_at = now;
    let (saved, changed) = state
        .db
        .write(move |tx| {
            db::groups::update(tx, &row)?;
            let mut changed = Vec::new();
            for step in steps {
                match step {
                    Step::Replace(ids) => changed.extend(set_members(tx, &row.id, &ids, now)?),
                    Step::Add(ids) => {
                        changed.extend(db::groups::add_members(tx, &row.id, &ids, now)?)
                    }
                    Step::Remove(uid) => {
                        if db::groups::remove_members(tx, &row.id, std::slice::from_ref(&uid), now)?
                            > 0
                        {
                            changed.push(uid);
                        }
                    }
                }
            }
            Ok((db::groups::get(tx, &row.id)?, changed))
        })
        .await?;
    let data = json!({"operation_count": req.operations.len()});
    updated(state, base, id, saved, &changed, data).await
}

pub async fn delete(state: &AppState, id: &str) -> ScimResult<()> {
    let group = find(state, id).await?;
    let gid = group.id.clone();
    let now = db::now_secs();
    let members = state
        .db
        .write(move |tx| {
            let members = db::groups::member_ids(tx, &gid)?;
            db::groups::delete(tx, &gid, now)?;
            Ok(members)
        })
        .await?;
    event(state, "group.deleted", id, json!({"name": group.name}));
    sessions::refresh_access(state, &members).await;
    Ok(())
}
