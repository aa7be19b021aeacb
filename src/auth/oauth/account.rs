//! The account a provider's claims sign in: found by the provider's subject,
//! merged by email when allowed, or created when OAuth sign-up is on; then its
//! role, name, email, picture and groups follow the claims as configured.

use serde_json::{json, Map, Value};

use super::claims::claim_list;
use super::picture;
use super::providers::ProviderConfig;
use crate::auth::password;
use crate::db::{self, now_secs, users::UserRow};
use crate::state::AppState;

const SIGNUP_CLOSED: &str = "Sign-up through the identity provider is disabled on this server. Ask an administrator for an account.";
const EMAIL_TAKEN: &str =
    "An account with this email already exists. Sign in with it, or ask an administrator to link it.";
const ROLE_REFUSED: &str =
    "Your identity provider does not grant you a role that may use this server.";

fn str_list(v: Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        _ => vec![],
    }
}

fn default_role(state: &AppState) -> String {
    let role = state.config.get_str("ui.default_user_role");
    if ["pending", "user", "admin"].contains(&role.as_str()) {
        role
    } else {
        "pending".into()
    }
}

/// The role the claims give; `Err` when role management refuses them all.
fn role_for(
    state: &AppState,
    existing: Option<&UserRow>,
    users: i64,
    data: &Map<String, Value>,
) -> Result<String, Refusal> {
    match existing {
        Some(_) if users == 1 => return Ok("admin".into()),
        None if users == 0 => return Ok(default_role(state)),
        _ => {}
    }
    let current = existing
        .map(|u| u.role.clone())
        .unwrap_or_else(|| default_role(state));
    if !state.config.get_bool("oauth.enable_role_mapping") {
        return Ok(current);
    }
    let sep = state.oauth.settings.roles_separator.clone();
    let roles_claim = state.config.get_str("oauth.roles_claim");
    let roles = if roles_claim.is_empty() {
        vec![]
    } else {
        claim_list(data, &roles_claim, &sep)
    };
    if roles.is_empty() {
        return Ok(current);
    }
    let allowed = str_list(state.config.get("oauth.allowed_roles"));
    let admins = str_list(state.config.get("oauth.admin_roles"));
    let mut role = None;
    if allowed.iter().any(|a| a == "*" || roles.contains(a)) {
        role = Some("user");
    }
    if admins.iter().any(|a| roles.contains(a)) {
        role = Some("admin");
    }
    role.map(str::to_string)
        .ok_or_else(|| Refusal::Shown(ROLE_REFUSED.into()))
}

fn text_claim(data: &Map<String, Value>, key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    match data.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

async fn find_email(
    state: &AppState,
    p: &ProviderConfig,
    data: &Map<String, Value>,
    sub: &str,
    access: &str,
) -> Result<String, Refusal> {
    if let Some(e) = text_claim(data, &state.config.get_str("oauth.email_claim")) {
        return Ok(e.to_lowercase());
    }
    if p.name == "github" {
        if let Some(e) = state.oauth.github_primary_email(access).await {
            return Ok(e.to_lowercase());
        }
    } else if state.oauth.settings.email_fallback {
        return Ok(format!("{}@{sub}.local", p.name).to_lowercase());
    }
    Err(Refusal::Quiet("the claims carry no email".into()))
}

fn picture_url(state: &AppState, p: &ProviderConfig, data: &Map<String, Value>) -> Option<String> {
    let key = state.config.get_str("oauth.picture_claim");
    if key.is_empty() {
        return None;
    }
    Some(text_claim(data, &key).unwrap_or_else(|| p.picture_url.clone()))
}

/// Refusals of a sign-in: the reason is logged, the user sees a message.
pub(super) enum Refusal {
    /// Logged only; the user gets the generic message.
    Quiet(String),
    /// Shown to the user as it is.
    Shown(String),
}

/// The account these claims sign in, created or updated as configured.
pub(super) async fn resolve(
    state: &AppState,
    p: &ProviderConfig,
    data: &Map<String, Value>,
    token: &Value,
) -> Result<UserRow, Refusal> {
    let sub_claim = match state.config.get_str("oauth.sub_claim") {
        s if !s.is_empty() && s != "null" => s,
        _ => p.sub_claim.clone(),
    };
    let sub = match data.get(&sub_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(n @ Value::Number(_)) => n.to_string(),
        _ => return Err(Refusal::Quiet("the claims carry no subject".into())),
    };
    let access = token
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let email = find_email(state, p, data, &sub, &access).await?;
    if email.len() > 320 || !email.contains('@') {
        return Err(Refusal::Quiet("the email claim is not an address".into()));
    }
    let domains = str_list(state.config.get("oauth.allowed_domains"));
    let domain = email.rsplit('@').next().unwrap_or_default().to_string();
    if !domains.iter().any(|d| d == "*" || *d == domain) {
        return Err(Refusal::Quiet(format!(
            "the email domain {domain} is not allowed"
        )));
    }
    let merge = state.config.get_bool("oauth.merge_accounts_by_email");
    let (provider, s2, e2, now) = (p.name.clone(), sub.clone(), email.clone(), now_secs());
    let (existing, users) = state
        .db
        .write(move |tx| {
            let mut user = db::oauth::user_by_sub(tx, &provider, &s2)?;
            if user.is_none() && merge {
                user = db::users::get_by_email(tx, &e2)?;
                if let Some(u) = &user {
                    db::oauth::set_sub(tx, &u.id, &provider, &s2, now)?;
                }
            }
            Ok((user, db::users::count(tx)?))
        })
        .await
        .map_err(|e| Refusal::Quiet(e.to_string()))?;
    let user = match existing {
        Some(u) => update_existing(state, p, u, users, data, &access).await?,
        None => create(state, p, &sub, &email, users, data, &access).await?,
    };
    if state.config.get_bool("oauth.enable_group_mapping") {
        super::groups::sync(state, &user.id, data)
            .await
            .map_err(|e| Refusal::Quiet(e.to_string()))?;
    }
    Ok(user)
}

async fn update_existing(
    state: &AppState,
    p: &ProviderConfig,
    user: UserRow,
    users: i64,
    data: &Map<String, Value>,
    access: &str,
) -> Result<UserRow, Refusal> {
    let role = role_for(state, Some(&user), users, data)?;
    let name = if state.config.get_bool("oauth.update_name_on_login") {
        text_claim(data, &state.config.get_str("oauth.username_claim")).filter(|n| *n != user.name)
    } else {
        None
    };
    let email = if state.config.get_bool("oauth.update_email_on_login") {
        text_claim(data, &state.config.get_str("oauth.email_claim"))
            .map(|e| e.to_lowercase())
            .filter(|e| *e != user.email.to_lowercase())
    } else {
        None
    };
    let picture = if state.config.get_bool("oauth.update_picture_on_login") {
        match picture_url(state, p, data) {
            Some(url) => Some(picture::fetch(&url, Some(access)).await),
            None => None,
        }
        .filter(|pic| Some(pic) != user.profile_image_url.as_ref())
    } else {
        None
    };
    let (id, old_role, now) = (user.id.clone(), user.role.clone(), now_secs());
    let updated = state
        .db
        .write(move |tx| {
            if role != old_role {
                db::users::update_role(tx, &id, &role, now)?;
            }
            if let Some(n) = &name {
                db::oauth::set_name(tx, &id, n, now)?;
            }
            if let Some(e) = &email {
                if db::users::get_by_email(tx, e)?.is_none() {
                    db::oauth::set_email(tx, &id, e, now)?;
                }
            }
            if let Some(pic) = &picture {
                db::oauth::set_picture(tx, &id, pic, now)?;
            }
            db::users::get(tx, &id)
        })
        .await
        .map_err(|e| Refusal::Quiet(e.to_string()))?
        .ok_or_else(|| Refusal::Quiet("the account vanished".into()))?;
    if updated.role != user.role {
        crate::auth::sessions::refresh(state, &updated.id).await;
    }
    Ok(updated)
}

async fn create(
    state: &AppState,
    p: &ProviderConfig,
    sub: &str,
    email: &str,
    users: i64,
    data: &Map<String, Value>,
    access: &str,
) -> Result<UserRow, Refusal> {
    if !state.config.get_bool("oauth.enable_signup") {
        return Err(Refusal::Shown(SIGNUP_CLOSED.into()));
    }
    let e = email.to_string();
    if state
        .db
        .read(move |c| db::users::get_by_email(c, &e))
        .await
        .map_err(|e| Refusal::Quiet(e.to_string()))?
        .is_some()
    {
        return Err(Refusal::Shown(EMAIL_TAKEN.into()));
    }
    let role = role_for(state, None, users, data)?;
    let image = match picture_url(state, p, data) {
        Some(url) => picture::fetch(&url, Some(access)).await,
        None => "/user.png".into(),
    };
    let name = text_claim(data, &state.config.get_str("oauth.username_claim"))
        .unwrap_or_else(|| email.to_string());
    let name: String = name.chars().take(255).collect();
    // The account has no usable password: a random one nobody knows.
    let hash = password::hash_bounded(super::random_token(), state.settings.password_hash_argon2)
        .await
        .map_err(|e| Refusal::Quiet(e.to_string()))?;
    let account = crate::accounts::NewAccount::signing_in(state, &name, email, &role, &image, hash);
    let (id, now) = (account.id.clone(), account.now);
    let (provider, sub) = (p.name.clone(), sub.to_string());
    let created = state
        .db
        .write(move |tx| {
            let made = crate::accounts::insert_account(tx, &account)?;
            if made.is_some() {
                db::oauth::set_sub(tx, &id, &provider, &sub, now)?;
            }
            Ok(made.map(|(user, _)| user))
        })
        .await
        .map_err(|e| Refusal::Quiet(e.to_string()))?
        .ok_or_else(|| Refusal::Shown(EMAIL_TAKEN.into()))?;
    let event = crate::notify::Event::new("user.created", Some(&created))
        .subject("user", &created.id)
        .data(json!({"role": created.role, "provider": p.name}));
    crate::notify::publish(state, event);
    Ok(created)
}
