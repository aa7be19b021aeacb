//! Live sessions follow the account.
//!
//! HTTP requests re-read the user and the session stamp on every call, so a
//! demotion, deletion, password change or "sign out everywhere" applies to
//! them at once. Open Socket.IO connections authenticated once, so after any
//! such change [`refresh`] compares each of the user's sockets with the stored
//! account and disconnects those that no longer match. The frontend reconnects
//! by itself and authenticates again with whatever its token is still worth.

use crate::db;
use crate::state::AppState;

/// What a socket's authentication was based on, kept in its extensions.
#[derive(Clone, Debug)]
pub struct SocketSession {
    pub user_id: String,
    pub role: String,
    /// The session stamp of the token the socket signed in with.
    pub stamp: Option<String>,
}

/// The account as it is stored now: role and session stamp, or None when gone.
async fn current(state: &AppState, user_id: &str) -> Option<(String, Option<String>)> {
    let id = user_id.to_string();
    let (user, auth) = state
        .db
        .read(move |c| Ok((db::users::get(c, &id)?, db::auths::get(c, &id)?)))
        .await
        .ok()?;
    Some((user?.role, auth.and_then(|a| a.session_stamp)))
}

/// Whether a socket signed in as `held` may stay open for an account that is `now`.
fn still_valid(held: Option<&SocketSession>, now: Option<&(String, Option<String>)>) -> bool {
    let (Some(held), Some((role, stamp))) = (held, now) else {
        return false;
    };
    let verified = role == "user" || role == "admin";
    let stamp_ok = stamp.is_none() || *stamp == held.stamp;
    verified && *role == held.role && stamp_ok
}

/// Re-checks every open socket of `user_id` against the stored account and
/// disconnects the ones whose role, session stamp or account no longer hold.
/// Call it after anything that demotes, deletes or signs out a user.
/// Returns how many sockets were closed.
pub async fn refresh(state: &AppState, user_id: &str) -> usize {
    let Some(io) = state.io() else { return 0 };
    let sockets = io.to(crate::events::user_room(user_id)).sockets();
    if sockets.is_empty() {
        return 0;
    }
    let now = current(state, user_id).await;
    let mut closed = 0;
    for s in sockets {
        // A socket that later signed in as someone else is not trusted either.
        let held = s
            .extensions
            .get::<SocketSession>()
            .filter(|h| h.user_id == user_id);
        if still_valid(held.as_ref(), now.as_ref()) {
            continue;
        }
        if s.disconnect().is_ok() {
            closed += 1;
        }
    }
    if closed > 0 {
        tracing::info!(user_id, closed, "closed sockets after an account change");
    }
    closed
}

/// Tells every open tab of these users that their access changed
/// (`access:updated`) and then closes it, so the browser connects again
/// and reloads its rights. Call it after a group change that alters what
/// its members may do.
pub async fn refresh_access(state: &AppState, user_ids: &[String]) {
    let Some(io) = state.io() else { return };
    for uid in user_ids {
        let room = crate::events::user_room(uid);
        if let Err(e) = io
            .to(room.clone())
            .emit("access:updated", &serde_json::json!({}))
            .await
        {
            tracing::debug!("telling sockets about changed access: {e:?}");
        }
        if let Err(e) = io.to(room).disconnect().await {
            tracing::debug!("closing sockets after changed access: {e:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(role: &str, stamp: Option<&str>) -> SocketSession {
        SocketSession {
            user_id: "u".into(),
            role: role.into(),
            stamp: stamp.map(str::to_string),
        }
    }

    #[test]
    fn sockets_stay_only_while_the_account_matches() {
        let s = held("admin", Some("a"));
        let same = ("admin".to_string(), Some("a".to_string()));
        assert!(still_valid(Some(&s), Some(&same)));
        assert!(!still_valid(None, Some(&same)));
        assert!(!still_valid(Some(&s), None), "deleted");
        let demoted = ("user".to_string(), Some("a".to_string()));
        assert!(!still_valid(Some(&s), Some(&demoted)));
        let pending = ("pending".to_string(), Some("a".to_string()));
        assert!(!still_valid(
            Some(&held("pending", Some("a"))),
            Some(&pending)
        ));
        let revoked = ("admin".to_string(), Some("b".to_string()));
        assert!(!still_valid(Some(&s), Some(&revoked)));
    }
}
