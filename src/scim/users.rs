//! SCIM Users: list, read, create, replace, patch, delete.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    iso, list_response, paging, parse_eq_filter, PatchRequest, ScimError, ScimResult, USER_SCHEMA,
};
use crate::auth::{password, sessions};
use crate::db::{self, users::UserRow};
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Name {
    formatted: Option<String>,
    #[serde(rename = "givenName")]
    given_name: Option<String>,
    #[serde(rename = "familyName")]
    family_name: Option<String>,
}

impl Name {
    fn display(&self) -> Option<String> {
        if let Some(f) = self.formatted.as_deref().filter(|f| !f.trim().is_empty()) {
            return Some(f.trim().to_string());
        }
        let joined = format!(
            "{} {}",
            self.given_name.as_deref().unwrap_or(""),
            self.family_name.as_deref().unwrap_or("")
        );
        let joined = joined.trim();
        (!joined.is_empty()).then(|| joined.to_string())
    }
}

#[derive(Deserialize)]
pub struct Email {
    value: String,
    #[serde(default = "yes")]
    primary: bool,
}

#[derive(Deserialize)]
pub struct Photo {
    value: String,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
pub struct CreateUser {
    #[serde(rename = "externalId", default)]
    external_id: Option<String>,
    #[serde(rename = "userName")]
    user_name: String,
    #[serde(default)]
    name: Option<Name>,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(default)]
    emails: Vec<Email>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    photos: Vec<Photo>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReplaceUser {
    #[serde(rename = "externalId")]
    external_id: Option<String>,
    #[serde(rename = "userName")]
    user_name: Option<String>,
    name: Option<Name>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    emails: Option<Vec<Email>>,
    active: Option<bool>,
    photos: Option<Vec<Photo>>,
}

fn provider(state: &AppState) -> ScimResult<String> {
    let p = state.settings.scim.provider.clone();
    if p.is_empty() {
        return Err(ScimError::new(
            500,
            "SCIM_AUTH_PROVIDER must name the identity provider when SCIM is on.",
        ));
    }
    Ok(p)
}

fn not_found(id: &str) -> ScimError {
    ScimError::new(404, format!("User {id} not found"))
}

fn checked_email(email: &str) -> ScimResult<String> {
    let email = email.trim().to_lowercase();
    if !crate::accounts::valid_email(&email) || email.len() > 320 {
        return Err(ScimError::typed(
            400,
            "The email address is not valid.",
            "invalidValue",
        ));
    }
    Ok(email)
}

fn checked_name(name: &str) -> ScimResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ScimError::typed(
            400,
            "The name must be 1 to 255 characters.",
            "invalidValue",
        ));
    }
    Ok(name.to_string())
}

fn checked_photo(url: &str) -> ScimResult<String> {
    if !crate::limits::valid_image_url(url) {
        return Err(ScimError::typed(
            400,
            "The photo URL is not accepted.",
            "invalidValue",
        ));
    }
    Ok(url.to_string())
}

/// The account as a SCIM User resource.
pub async fn resource(state: &AppState, base: &str, user: &UserRow) -> ScimResult<Value> {
    let id = user.id.clone();
    let (groups, external_id) = state
        .db
        .read(move |c| {
            Ok((
                db::groups::of_member(c, &id, false)?,
                db::scim::external_id(c, &id)?,
            ))
        })
        .await?;
    let (given, family) = user.name.split_once(' ').unwrap_or((&user.name, ""));
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                "value": g.id,
                "display": g.name,
                "$ref": format!("{base}api/v1/scim/v2/Groups/{}", g.id),
                "type": "direct",
            })
        })
        .collect();
    let mut r = json!({
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "externalId": external_id,
        "userName": user.email,
        "name": {"formatted": user.name, "givenName": given, "familyName": family},
        "displayName": user.name,
        "emails": [{"value": user.email, "type": "work", "primary": true}],
        "active": user.role != "pending",
        "meta": {
            "resourceType": "User",
            "created": iso(user.created_at),
            "lastModified": iso(user.updated_at),
            "location": format!("{base}api/v1/scim/v2/Users/{}", user.id),
        },
    });
    if let Some(url) = user.profile_image_url.as_deref().filter(|u| !u.is_empty()) {
        r["photos"] = json!([{"value": url, "type": "photo", "primary": true}]);
    }
    if !groups.is_empty() {
        r["groups"] = json!(groups);
    }
    Ok(r)
}

pub async fn list(
    state: &AppState,
    base: &str,
    start_index: Option<i64>,
    count: Option<i64>,
    filter: Option<&str>,
) -> ScimResult<Value> {
    let (start, count) = paging(start_index, count);
    let found: (Vec<UserRow>, i64) = match filter.filter(|f| !f.trim().is_empty()) {
        None => {
            state
                .db
                .read(move |c| db::scim::list(c, None, start - 1, count))
                .await?
        }
        Some(f) => {
            let (attr, value) = parse_eq_filter(f)?;
            if attr.eq_ignore_ascii_case("userName") {
                let (rows, total) = state
                    .db
                    .read(move |c| db::scim::list(c, Some(&value), 0, 1))
                    .await?;
                (rows, total.min(1))
            } else if attr.eq_ignore_ascii_case("externalId") {
                let p = provider(state)?;
                let user = state
                    .db
                    .read(move |c| db::scim::by_external_id(c, &p, &value))
                    .await?;
                let total = i64::from(user.is_some());
                (user.into_iter().collect(), total)
            } else {
                return Err(ScimError::typed(
                    400,
                    "Users can be filtered by userName or externalId only.",
                    "invalidFilter",
                ));
            }
        }
    };
    let mut resources = Vec::new();
    for u in &found.0 {
        resources.push(resource(state, base, u).await?);
    }
    Ok(list_response(found.1, start, resources))
}

pub async fn managed(state: &AppState, id: &str) -> ScimResult<UserRow> {
    let key = id.to_string();
    state
        .db
        .read(move |c| db::scim::get(c, &key))
        .await?
        .ok_or_else(|| not_found(id))
}

pub async fn get(state: &AppState, base: &str, id: &str) -> ScimResult<Value> {
    let user = managed(state, id).await?;
    resource(state, base, &user).await
}

pub async fn create(state: &AppState, base: &str, body: &[u8]) -> ScimResult<Value> {
    let f: CreateUser = super::parse(body)?;
    let provider = provider(state)?;
    if let Some(ext) = f.external_id.clone() {
        let p = provider.clone();
        if state
            .db
            .read(move |c| db::scim::by_external_id(c, &p, &ext))
            .await?
            .is_some()
        {
            return Err(ScimError::new(
                409,
                "A user with this externalId already exists.",
            ));
        }
    }
    let email = f
        .emails
        .iter()
        .find(|e| e.primary)
        .map(|e| e.value.as_str())
        .unwrap_or(&f.user_name);
    let email = checked_email(email)?;
    let name = f
        .name
        .as_ref()
        .and_then(Name::display)
        .or(f.display_name.clone())
        .unwrap_or_else(|| email.clone());
    let name = checked_name(&name)?;
    let image = match f.photos.first() {
        Some(p) => checked_photo(&p.value)?,
        None => "/user.png".to_string(),
    };
    let role = if f.active { "user" } else { "pending" };
    let hash = password::hash_bounded(db::new_id(), state.settings.password_hash_argon2)
        .await
        .map_err(|_| ScimError::new(500, "The account could not be created."))?;
    let account = crate::accounts::NewAccount::provisioned(&name, &email, role, &image, hash);
    let (id, now) = (account.id.clone(), account.now);
    let ext = f.external_id.clone();
    let created = state
        .db
        .write(move |tx| {
            let made = crate::accounts::insert_account(tx, &account)?;
            if made.is_some() {
                db::scim::set_external_id(tx, &id, &provider, ext.as_deref(), now)?;
            }
            Ok(made.map(|(user, _)| user))
        })
        .await?;
    let Some(user) = created else {
        return Err(ScimError::new(
            409,
            "A user with this email already exists.",
        ));
    };
    let event = crate::notify::Event::new("user.created", None)
        .subject("user", &user.id)
        .data(json!({"email": user.email, "role": user.role, "external_id": f.external_id}))
        .source("scim");
    crate::notify::publish(state, event);
    resource(state, base, &user).await
}

/// What a replace or patch changes.
#[derive(Default)]
struct Changes {
    update: db::users::AdminUpdate,
    /// `Some(None)` clears the external id.
    external_id: Option<Option<String>>,
}

async fn apply(state: &AppState, user: &UserRow, ch: Changes) -> ScimResult<UserRow> {
    if let Some(email) = ch.update.email.clone().filter(|e| *e != user.email) {
        let id = user.id.clone();
        let taken = state
            .db
            .read(move |c| db::users::get_by_email(c, &email))
            .await?
            .is_some_and(|u| u.id != id);
        if taken {
            return Err(ScimError::new(
                409,
                "A user with this email already exists.",
            ));
        }
    }
    let provider = if ch.external_id.is_some() {
        Some(provider(state)?)
    } else {
        None
    };
    let deactivated = user.role != "pending" && ch.update.role.as_deref() == Some("pending");
    let (id, now) = (user.id.clone(), db::now_secs());
    let stamp = db::new_id();
    let updated = state
        .db
        .write(move |tx| {
            if !ch.update.is_empty() {
                db::users::admin_update(tx, &id, &ch.update, now)?;
            }
            if let (Some(p), Some(ext)) = (provider, ch.external_id) {
                db::scim::set_external_id(tx, &id, &p, ext.as_deref(), now)?;
            }
            if deactivated {
                // Every session of a deactivated account ends now.
                db::auths::set_session_stamp(tx, &id, &stamp)?;
            }
            db::users::get(tx, &id)
        })
        .await?
        .ok_or_else(|| not_found(&user.id))?;
    if updated.role != user.role {
        let event = crate::notify::Event::new("user.role_updated", None)
            .subject("user", &updated.id)
            .data(json!({"role": updated.role}))
            .source("scim");
        crate::notify::publish(state, event);
        sessions::refresh(state, &updated.id).await;
    }
    Ok(updated)
}

pub async fn replace(state: &AppState, base: &str, id: &str, body: &[u8]) -> ScimResult<Value> {
    let user = managed(state, id).await?;
    let f: ReplaceUser = super::parse(body)?;
    let mut ch = Changes::default();
    if let Some(u) = f.user_name.as_deref().filter(|u| !u.is_empty()) {
        ch.update.email = Some(checked_email(u)?);
    }
    if let Some(n) = f.display_name.as_deref().filter(|n| !n.is_empty()) {
        ch.update.name = Some(checked_name(n)?);
    } else if let Some(n) = f.name.as_ref().and_then(Name::display) {
        ch.update.name = Some(checked_name(&n)?);
    }
    if let Some(e) = f.emails.as_ref().and_then(|e| e.first()) {
        ch.update.email = Some(checked_email(&e.value)?);
    }
    // An identity provider's sync never demotes a local admin.
    if let (Some(active), false) = (f.active, user.role == "admin") {
        ch.update.role = Some(if active { "user" } else { "pending" }.into());
    }
    if let Some(p) = f.photos.as_ref().and_then(|p| p.first()) {
        ch.update.profile_image_url = Some(checked_photo(&p.value)?);
    }
    if let Some(ext) = f.external_id.filter(|e| !e.is_empty()) {
        ch.external_id = Some(Some(ext));
    }
    let updated = apply(state, &user, ch).await?;
    resource(state, base, &updated).await
}

pub async fn patch(state: &AppState, base: &str, id: &str, body: &[u8]) -> ScimResult<Value> {
    let user = managed(state, id).await?;
    let req: PatchRequest = super::parse(body)?;
    let mut ch = Changes::default();
    for op in &req.operations {
        let kind = op.op.to_lowercase();
        let values: Vec<(String, Value)> = match (kind.as_str(), op.path.as_deref()) {
            ("remove", None) => {
                return Err(ScimError::typed(400, "remove needs a path.", "noTarget"))
            }
            ("remove", Some("externalId")) => vec![("externalId".into(), Value::Null)],
            ("remove", Some(p)) => {
                return Err(ScimError::typed(
                    400,
                    format!("{p} cannot be removed."),
                    "mutability",
                ))
            }
            ("add" | "replace", None) => match &op.value {
                Value::Object(m) if !m.is_empty() => {
                    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                }
                _ => {
                    return Err(ScimError::typed(
                        400,
                        "An operation without a path needs an object of attributes.",
                        "invalidValue",
                    ))
                }
            },
            ("add" | "replace", Some(p)) => vec![(p.to_string(), op.value.clone())],
            _ => {
                return Err(ScimError::new(
                    400,
                    format!("Unsupported PATCH operation: {}", op.op),
                ))
            }
        };
        for (path, value) in values {
            let text = || {
                value.as_str().map(str::to_string).ok_or_else(|| {
                    ScimError::typed(400, format!("{path} must be a string."), "invalidValue")
                })
            };
            match path.as_str() {
                "active" => {
                    let Some(active) = value.as_bool() else {
                        return Err(ScimError::typed(
                            400,
                            "active must be a boolean.",
                            "invalidValue",
                        ));
                    };
                    if user.role != "admin" {
                        ch.update.role = Some(if active { "user" } else { "pending" }.into());
                    }
                }
                "userName" | "emails[primary eq true].value" => {
                    ch.update.email = Some(checked_email(&text()?)?);
                }
                "displayName" | "name.formatted" => {
                    ch.update.name = Some(checked_name(&text()?)?);
                }
                "externalId" => {
                    if !value.is_null() && !value.is_string() {
                        return Err(ScimError::typed(
                            400,
                            "externalId must be a string or null.",
                            "invalidValue",
                        ));
                    }
                    ch.external_id = Some(value.as_str().map(str::to_string));
                }
                other => {
                    return Err(ScimError::typed(
                        400,
                        format!("Unsupported PATCH path: {other}"),
                        "invalidPath",
                    ))
                }
            }
        }
    }
    // Writes that change nothing are left out.
    if ch.update.role.as_deref() == Some(user.role.as_str()) {
        ch.update.role = None;
    }
    if ch.update.email.as_deref() == Some(user.email.as_str()) {
        ch.update.email = None;
    }
    if ch.update.name.as_deref() == Some(user.name.as_str()) {
        ch.update.name = None;
    }
    let updated = if ch.update.is_empty() && ch.external_id.is_none() {
        user
    } else {
        apply(state, &user, ch).await?
    };
    resource(state, base, &updated).await
}

pub async fn delete(state: &AppState, id: &str) -> ScimResult<()> {
    let user = managed(state, id).await?;
    // Pruning in the identity provider must not lock the server out.
    if user.role == "admin" {
        return Err(ScimError::new(
            403,
            "Admin accounts cannot be deleted through SCIM.",
        ));
    }
    if !crate::accounts::delete_user(state, &user.id).await? {
        return Err(not_found(id));
    }
    sessions::refresh(state, &user.id).await;
    let event = crate::notify::Event::new("user.deleted", None)
        .subject("user", &user.id)
        .data(json!({"email": user.email}))
        .source("scim");
    crate::notify::publish(state, event);
    Ok(())
}
