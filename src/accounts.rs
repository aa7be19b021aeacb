//! Account lifecycle that spans the database and the data folder.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::auth::password;
use crate::db::{self, now_secs, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The role new accounts get (`DEFAULT_USER_ROLE`), pending when unknown.
pub fn default_role(state: &AppState) -> String {
    let role = state.config.get_str("ui.default_user_role");
    if ["pending", "user", "admin"].contains(&role.as_str()) {
        role
    } else {
        "pending".into()
    }
}

/// Whether an address looks like `local@domain` (no spaces, one `@`).
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace())
        && !domain.contains('@')
}

/// A new account as every way of creating one writes it (sign-up, LDAP,
/// OAuth, SCIM), with a fresh id and security stamp.
pub struct NewAccount {
    pub id: String,
    name: String,
    email: String,
    role: String,
    image: String,
    /// The password hash (a random, unknown password for outside sign-ins).
    hash: String,
    stamp: String,
    /// The first account of the server becomes admin whatever `role` says.
    first_becomes_admin: bool,
    /// The group new accounts join, when it (still) exists.
    default_group: Option<String>,
    pub now: i64,
}

impl NewAccount {
    /// An account someone opens by signing in (sign-up, LDAP, OAuth): the
    /// server's first becomes admin, and it joins the default group.
    pub fn signing_in(
        state: &AppState,
        name: &str,
        email: &str,
        role: &str,
        image: &str,
        hash: String,
    ) -> Self {
        let mut a = Self::provisioned(name, email, role, image, hash);
        a.first_becomes_admin = true;
        a.default_group = Some(state.config.get_str("ui.default_group_id"));
        a
    }

    /// An account an identity provider provisions (SCIM): exactly the role
    /// it was given, no group but those the provider assigns.
    pub fn provisioned(name: &str, email: &str, role: &str, image: &str, hash: String) -> Self {
        NewAccount {
            id: db::new_id(),
            name: name.to_string(),
            email: email.to_string(),
            role: role.to_string(),
            image: image.to_string(),
            hash,
            stamp: db::new_id(),
            first_becomes_admin: false,
            default_group: None,
            now: now_secs(),
        }
    }
}

/// Writes the `user` and `auth` rows (and the default-group membership) in
/// the caller's transaction; `None` when the email is taken. The flag says
/// whether this was the server's first account.
pub fn insert_account(
    tx: &rusqlite::Connection,
    a: &NewAccount,
) -> rusqlite::Result<Option<(UserRow, bool)>> {
    if db::users::get_by_email(tx, &a.email)?.is_some() {
        return Ok(None);
    }
    let first = db::users::count(tx)? == 0;
    let role = if first && a.first_becomes_admin {
        "admin"
    } else {
        &a.role
    };
    db::users::insert(
        tx,
        &db::users::NewUser {
            id: &a.id,
            name: &a.name,
            email: &a.email,
            role,
            profile_image_url: &a.image,
            now: a.now,
        },
    )?;
    db::auths::insert(tx, &a.id, &a.email, &a.hash, &a.stamp)?;
    if let Some(g) = a.default_group.as_deref().filter(|g| !g.is_empty()) {
        if db::groups::get(tx, g)?.is_some() {
            db::groups::add_members(tx, g, &[a.id.to_string()], a.now)?;
        }
    }
    let Some(user) = db::users::get(tx, &a.id)? else {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    };
    Ok(Some((user, first && a.first_becomes_admin)))
}

/// Inserts the `user` and `auth` rows; the first account ever becomes admin and
/// closes sign-up, as upstream does.
pub async fn create_user(
    state: &AppState,
    name: &str,
    email: &str,
    pw: &str,
    image: &str,
    role: &str,
) -> ApiResult<UserRow> {
    let hash = password::hash_bounded(pw.to_string(), state.settings.password_hash_argon2).await?;
    let account = NewAccount::signing_in(state, name, email, role, image, hash);
    let created = state
        .db
        .write(move |tx| insert_account(tx, &account))
        .await?;
    let Some((user, first)) = created else {
        return Err(ApiError::bad_request(
            "This email is already registered. Sign in instead, or use another email.",
        ));
    };
    if first {
        state
            .config
            .set("ui.enable_signup", Value::Bool(false))
            .await?;
    }
    Ok(user)
}

/// Deletes a user and everything that was theirs alone: the rows upstream
/// removes (group memberships, chats, the user and auth rows, API keys) and
/// the private data it leaves behind (files and their bytes, memories, notes,
/// knowledge bases, folders, tags, feedback, automations, calendars), with
/// their vectors and BM25 entries. One transaction for the rows; the bytes and
/// the index entries go after it commits (an index entry without a row is never
/// served, and `reindex`/start-up repair drops it).
///
/// Returns false when there was no such user.
pub async fn delete_user(state: &AppState, user_id: &str) -> anyhow::Result<bool> {
    let id = user_id.to_string();
    let now = db::now_secs();
    let (deleted, leftovers) = state
        .db
        .write(move |tx| {
            let leftovers = db::users::delete_owned_content(tx, &id)?;
            db::groups::remove_user_everywhere(tx, &id, now)?;
            db::chats::delete_all_for_user(tx, &id)?;
            let deleted = db::users::delete_rows(tx, &id)?;
            Ok((deleted, leftovers))
        })
        .await?;
    if !deleted {
        return Ok(false);
    }
    let uploads = crate::files::uploads_dir(state);
    for stored in &leftovers.file_paths {
        if let Some(p) = inside(&uploads, stored) {
            if let Err(e) = tokio::fs::remove_file(&p).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove a deleted user's file");
                }
            }
        }
    }
    let mut collections: Vec<String> = leftovers
        .file_ids
        .iter()
        .map(|f| crate::files::collection_of(f))
        .collect();
    collections.extend(leftovers.knowledge_ids.iter().cloned());
    collections.push(crate::rag::memories::collection(user_id));
    for c in &collections {
        if let Err(e) = state.rag.delete_collection(c).await {
            tracing::debug!(collection = %c, error = %e, "vector cleanup");
        }
    }
    for (kb, file) in &leftovers.foreign_knowledge_links {
        if let Err(e) = state.rag.delete_where(kb, "file_id", file).await {
            tracing::debug!(knowledge = %kb, error = %e, "knowledge chunk cleanup");
        }
    }
    Ok(true)
}

/// The stored path of an upload, only if it lies inside the uploads folder
/// (a path from an old or edited row must never point the server elsewhere).
fn inside(uploads: &Path, stored: &str) -> Option<PathBuf> {
    if stored.is_empty() || stored.contains("://") {
        return None;
    }
    let p = PathBuf::from(stored);
    let candidate = if p.starts_with(uploads) {
        p
    } else {
        uploads.join(p.file_name()?)
    };
    let real = candidate.canonicalize().ok()?;
    let base = uploads.canonicalize().ok()?;
    real.starts_with(&base).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        assert!(valid_email("a@b.c"));
        assert!(valid_email("admin@localhost"));
        assert!(!valid_email("nope"));
        assert!(!valid_email("a b@c.d"));
        assert!(!valid_email("@c.d"));
        assert!(!valid_email("a@b@c"));
    }
}
