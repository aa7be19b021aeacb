//! Who may read, change and share a resource that is shared through access
//! grants (models, knowledge bases, prompts, tools, skills, notes, folders,
//! channels, calendars and shared chats).
//!
//! Reading and writing: the owner always; admins while the admin bypass is on
//! (`BYPASS_ADMIN_ACCESS_CONTROL`, default on); everyone else through a grant
//! naming them, a group of theirs (inherited groups included) or everyone.
//! Some routers also let every admin read regardless of the bypass; they say
//! so where they decide.
//!
//! Sharing: which audiences a caller may put in a resource's grants depends
//! on the resource kind and on the caller's permissions (see [`Kind`]).

use std::collections::HashSet;
use std::sync::OnceLock;

use rusqlite::Connection;
use serde_json::Value;

use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow, NewGrant};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The refusal when an access update asks for more than the caller may give.
const SHARE_REFUSED: &str = "You do not have permission to share with the requested audience";

/// `BYPASS_ADMIN_ACCESS_CONTROL` (with the older name
/// `ENABLE_ADMIN_WORKSPACE_CONTENT_ACCESS` as fallback), default on. As
/// upstream reads it, only the word `true` (any case) turns it on, so
/// `0`, `no` and also `1` or `yes` mean off.
pub fn bypass_admin_access() -> bool {
    static B: OnceLock<bool> = OnceLock::new();
    *B.get_or_init(|| {
        bypass_from(
            std::env::var("BYPASS_ADMIN_ACCESS_CONTROL").ok(),
            std::env::var("ENABLE_ADMIN_WORKSPACE_CONTENT_ACCESS").ok(),
        )
    })
}

fn bypass_from(name: Option<String>, old_name: Option<String>) -> bool {
    name.or(old_name)
        .is_none_or(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Whether the caller is an admin who sees and edits every shared resource.
pub fn admin_bypass(caller: &Caller) -> bool {
    caller.is_admin() && bypass_admin_access()
}

/// The caller's groups, with the groups those inherit from.
pub async fn group_ids(state: &AppState, user_id: &str) -> ApiResult<HashSet<String>> {
    let uid = user_id.to_string();
    Ok(state
        .db
        .read(move |c| access_grants::group_ids_of(c, &uid))
        .await?)
}

/// The owner, or a grant of `perm` ("read" / "write") to the caller, a group
/// of theirs or everyone.
pub fn owner_or_grant(
    caller: &Caller,
    owner_id: &str,
    grants: &[GrantRow],
    groups: &HashSet<String>,
    perm: &str,
) -> bool {
    owner_id == caller.id() || access_grants::grants_allow(grants, caller.id(), groups, perm)
}

/// Of `all` (rows with their grants), the ones the caller may use for
/// `perm` (every one for admins with the bypass), and the caller's group
/// ids. `owner` names a row's owner.
pub async fn visible<T>(
    state: &AppState,
    caller: &Caller,
    all: Vec<(T, Vec<GrantRow>)>,
    perm: &str,
    owner: impl Fn(&T) -> &str,
) -> ApiResult<(Vec<(T, Vec<GrantRow>)>, HashSet<String>)> {
    let groups = group_ids(state, caller.id()).await?;
    if admin_bypass(caller) {
        return Ok((all, groups));
    }
    let list = all
        .into_iter()
        .filter(|(row, g)| owner_or_grant(caller, owner(row), g, &groups, perm))
        .collect();
    Ok((list, groups))
}

/// A resource row with an owner, as [`load_allowed`] checks it.
pub trait Owned {
    fn owner_id(&self) -> &str;
}

impl Owned for crate::db::prompts::PromptRow {
    fn owner_id(&self) -> &str {
        &self.user_id
    }
}

impl Owned for crate::db::skills::SkillRow {
    fn owner_id(&self) -> &str {
        &self.user_id
    }
}

impl Owned for crate::db::tools::ToolRow {
    fn owner_id(&self) -> &str {
        self.user_id.as_deref().unwrap_or("")
    }
}

/// A row and its grants, read by `get`.
pub type GetWithGrants<T> = fn(&Connection, &str) -> rusqlite::Result<Option<(T, Vec<GrantRow>)>>;

/// What a router answers when [`load_allowed`] refuses: the row is
/// missing, or the caller may not use it.
pub struct Refusals {
    pub missing: ApiError,
    pub denied: ApiError,
}

/// Loads row `id` with `get` and checks `perm` on it (at once true when
/// `admin`, the router's admin rule); the router's own answers otherwise.
pub async fn load_allowed<T: Owned + Send + 'static>(
    state: &AppState,
    caller: &Caller,
    get: GetWithGrants<T>,
    id: &str,
    admin: bool,
    perm: &str,
    refuse: Refusals,
) -> ApiResult<(T, Vec<GrantRow>)> {
    let id = id.to_string();
    let Some((row, grants)) = state.db.read(move |c| get(c, &id)).await? else {
        return Err(refuse.missing);
    };
    if !allows(state, caller, admin, row.owner_id(), &grants, perm).await? {
        return Err(refuse.denied);
    }
    Ok((row, grants))
}

/// `perm` on a loaded resource: true at once when `admin` (the caller's
/// admin rule: `is_admin` or [`admin_bypass`]), else the owner or a grant.
pub async fn allows(
    state: &AppState,
    caller: &Caller,
    admin: bool,
    owner_id: &str,
    grants: &[GrantRow],
    perm: &str,
) -> ApiResult<bool> {
    if admin {
        return Ok(true);
    }
    let groups = group_ids(state, caller.id()).await?;
    Ok(owner_or_grant(caller, owner_id, grants, &groups, perm))
}

/// Grants kept inside a JSON document (a model's `access_grants`, a
/// connection's `config.access_grants`); malformed entries are skipped.
pub fn grants_from_json(v: &Value) -> Vec<GrantRow> {
    let text = |g: &Value, k: &str| g.get(k).and_then(Value::as_str).map(str::to_string);
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| {
            Some(GrantRow {
                id: text(g, "id").unwrap_or_default(),
                resource_type: String::new(),
                resource_id: String::new(),
                principal_type: text(g, "principal_type")?,
                principal_id: text(g, "principal_id")?,
                permission: text(g, "permission")?,
                created_at: 0,
            })
        })
        .collect()
}

/// What a caller may do with one resource of the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    pub read: bool,
    pub write: bool,
}

/// Write: owner, bypassing admin or write grant. Read: that, any admin, or a
/// read grant.
pub fn rights(
    caller: &Caller,
    owner_id: &str,
    grants: &[GrantRow],
    groups: &HashSet<String>,
) -> Rights {
    let write = admin_bypass(caller) || owner_or_grant(caller, owner_id, grants, groups, "write");
    let read = write
        || caller.is_admin()
        || access_grants::grants_allow(grants, caller.id(), groups, "read");
    Rights { read, write }
}

/// `perm` on a channel, decided inside a database read: group and DM
/// channels admit their active members only (admins included); standard
/// channels admins, the creator and whoever a grant gives `perm`.
pub fn channel_allows(
    c: &Connection,
    ch: &crate::db::channels::ChannelRow,
    user_id: &str,
    admin: bool,
    perm: &str,
) -> rusqlite::Result<bool> {
    use crate::db::channels;
    if ch.is_membership() {
        return channels::is_active_member(c, &ch.id, user_id);
    }
    stored_allows(
        c,
        user_id,
        admin,
        &ch.user_id,
        channels::RESOURCE,
        &ch.id,
        perm,
    )
}

/// The calendar, if the caller owns it, is an admin, or holds `permission`
/// through a grant: 404 when it does not exist, 403 otherwise. The calendar
/// routes and the chat's calendar tools both ask here.
pub async fn calendar(
    state: &AppState,
    caller: &Caller,
    calendar_id: &str,
    permission: &'static str,
) -> ApiResult<crate::db::calendars::CalendarRow> {
    use crate::db::calendars as store;
    let (cid, uid, admin) = (
        calendar_id.to_string(),
        caller.id().to_string(),
        caller.is_admin(),
    );
    let (cal, ok) = state
        .db
        .read(move |c| {
            let Some(cal) = store::get(c, &cid)? else {
                return Ok((None, false));
            };
            let ok = stored_allows(
                c,
                &uid,
                admin,
                &cal.user_id,
                store::RESOURCE,
                &cal.id,
                permission,
            )?;
            Ok((Some(cal), ok))
        })
        .await?;
    match cal {
        None => Err(ApiError::not_found("Calendar not found")),
        Some(cal) if ok => Ok(cal),
        Some(_) => Err(ApiError::forbidden("Access denied")),
    }
}

/// `perm` on a stored resource, decided inside a database read: admins (as
/// `admin` says) and the owner always, anyone else through its stored grants.
pub fn stored_allows(
    c: &Connection,
    user_id: &str,
    admin: bool,
    owner_id: &str,
    resource_type: &str,
    resource_id: &str,
    perm: &str,
) -> rusqlite::Result<bool> {
    if admin || owner_id == user_id {
        return Ok(true);
    }
    let groups = access_grants::group_ids_of(c, user_id)?;
    access_grants::has_access(c, user_id, &groups, resource_type, resource_id, perm)
}

/// The kinds of resource that can be shared. Each names the permissions that
/// gate sharing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Model,
    Knowledge,
    Prompt,
    Tool,
    Skill,
    Note,
    Folder,
    Channel,
    Calendar,
    SharedChat,
}

/// The permission keys one kind of resource is shared under. `None` for an
/// audience means no caller, admins included, may give it; `None` for
/// `sharing` means there is no general gate.
struct Gates {
    /// Needed to share at all.
    sharing: Option<&'static str>,
    /// Needed to give every signed-in user access (`user` `*`).
    public: Option<&'static str>,
    /// Needed to give access without signing in (`anyone`).
    anyone: Option<&'static str>,
}

impl Kind {
    fn gates(self) -> Gates {
        let (sharing, public, anyone) = match self {
            Kind::Model => (Some("sharing.models"), Some("sharing.public_models"), None),
            Kind::Knowledge => (
                Some("sharing.knowledge"),
                Some("sharing.public_knowledge"),
                None,
            ),
            Kind::Prompt => (
                Some("sharing.prompts"),
                Some("sharing.public_prompts"),
                None,
            ),
            Kind::Tool => (Some("sharing.tools"), Some("sharing.public_tools"), None),
            Kind::Skill => (Some("sharing.skills"), Some("sharing.public_skills"), None),
            Kind::Note => (Some("sharing.notes"), Some("sharing.public_notes"), None),
            Kind::Folder => (Some("sharing.folders"), None, None),
            // Channels and calendars have no general sharing gate, only the
            // public one: Open WebUI 0.12.4 lists no `sharing.channels` /
            // `sharing.calendars` permission (its `filter_allowed_access_grants`
            // table and its default permissions alike), so a user may share
            // them with users and groups as `access_grants.allow_*` permit.
            // Creating a standard channel is admin-only anyway.
            Kind::Channel => (None, Some("sharing.public_channels"), None),
            Kind::Calendar => (None, Some("sharing.public_calendars"), None),
            Kind::SharedChat => (
                None,
                Some("sharing.public_chats"),
                Some("sharing.open_chats"),
            ),
        };
        Gates {
            sharing,
            public,
            anyone,
        }
    }
}

/// Keeps the grants the caller may give. `perms` are the caller's effective
/// permissions, `None` for an admin, who may give every audience the kind
/// supports.
fn keep_allowed(kind: Kind, perms: Option<&Value>, grants: Vec<NewGrant>) -> Vec<NewGrant> {
    let gates = kind.gates();
    let is_public =
        |g: &NewGrant| g.principal_type == "user" && g.principal_id == access_grants::PUBLIC;
    let gate_of = |g: &NewGrant| {
        if g.principal_type == "anyone" {
            gates.anyone
        } else if is_public(g) {
            gates.public
        } else if g.principal_type == "user" {
            Some("access_grants.allow_users")
        } else {
            Some("access_grants.allow_groups")
        }
    };
    let grants: Vec<NewGrant> = grants
        .into_iter()
        .filter(|g| gate_of(g).is_some())
        .collect();
    let Some(perms) = perms else {
        return grants;
    };
    if gates
        .sharing
        .is_some_and(|key| !permissions::allows(perms, key))
    {
        return vec![];
    }
    grants
        .into_iter()
        .filter(|g| gate_of(g).is_some_and(|key| permissions::allows(perms, key)))
        .collect()
}

/// Keeps the normalized grants the caller may give on a resource of `kind`.
async fn filter(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    grants: Vec<NewGrant>,
) -> ApiResult<Vec<NewGrant>> {
    if caller.is_admin() || grants.is_empty() {
        return Ok(keep_allowed(kind, None, grants));
    }
    let perms = permissions::effective(state, caller.id()).await?;
    Ok(keep_allowed(kind, Some(&perms), grants))
}

/// The grants of a request (`access_grants` as sent) that the caller may set
/// on a resource of `kind`; the others are dropped, as creating does.
pub async fn allowed_grants(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    grants: &Value,
) -> ApiResult<Vec<NewGrant>> {
    filter(state, caller, kind, access_grants::normalize(grants)).await
}

/// Like [`allowed_grants`], but a request asking for more than the caller may
/// give is refused as a whole (403), as the access update endpoints do.
pub async fn validated_grants(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    grants: &Value,
) -> ApiResult<Vec<NewGrant>> {
    let requested = access_grants::normalize(grants);
    let count = requested.len();
    let allowed = filter(state, caller, kind, requested).await?;
    if allowed.len() != count {
        return Err(ApiError::forbidden(SHARE_REFUSED));
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn admin_bypass_reads_only_the_word_true() {
        let s = |v: &str| Some(v.to_string());
        assert!(bypass_from(None, None));
        assert!(bypass_from(s("True"), None));
        assert!(bypass_from(None, s(" TRUE ")));
        for off in ["1", "yes", "on", "false", ""] {
            assert!(!bypass_from(s(off), None), "{off}");
        }
        // The current name wins over the older one.
        assert!(!bypass_from(s("false"), s("true")));
    }

    fn grant(pt: &str, pid: &str) -> NewGrant {
        NewGrant {
            id: format!("{pt}-{pid}"),
            principal_type: pt.into(),
            principal_id: pid.into(),
            permission: "read".into(),
        }
    }

    fn audience() -> Vec<NewGrant> {
        vec![
            grant("user", "u1"),
            grant("group", "g1"),
            grant("user", access_grants::PUBLIC),
            grant("anyone", access_grants::PUBLIC),
        ]
    }

    fn ids(grants: &[NewGrant]) -> Vec<&str> {
        grants.iter().map(|g| g.id.as_str()).collect()
    }

    fn perms(sharing: Value) -> Value {
        let mut p = json!({"sharing": sharing});
        permissions::fill_missing(&mut p, permissions::builtin_defaults());
        p
    }

    #[test]
    fn admins_give_every_supported_audience() {
        let all = keep_allowed(Kind::Prompt, None, audience());
        assert_eq!(ids(&all), ["user-u1", "group-g1", "user-*"]);
        let folder = keep_allowed(Kind::Folder, None, audience());
        assert_eq!(ids(&folder), ["user-u1", "group-g1"]);
        let chat = keep_allowed(Kind::SharedChat, None, audience());
        assert_eq!(chat.len(), 4);
    }

    #[test]
    fn users_need_the_general_sharing_permission() {
        let off = perms(json!({"notes": false, "public_notes": true}));
        assert!(keep_allowed(Kind::Note, Some(&off), audience()).is_empty());
        let on = perms(json!({"notes": true, "public_notes": false}));
        let kept = keep_allowed(Kind::Note, Some(&on), audience());
        assert_eq!(ids(&kept), ["user-u1", "group-g1"]);
        let public = perms(json!({"notes": true, "public_notes": true}));
        let kept = keep_allowed(Kind::Note, Some(&public), audience());
        assert_eq!(ids(&kept), ["user-u1", "group-g1", "user-*"]);
    }

    #[test]
    fn user_and_group_audiences_follow_access_grants_flags() {
        let mut p = perms(json!({"models": true}));
        p["access_grants"] = json!({"allow_users": false, "allow_groups": true});
        let kept = keep_allowed(Kind::Model, Some(&p), audience());
        assert_eq!(ids(&kept), ["group-g1"]);
    }

    /// Calendars and channels are shared with users and groups whatever a
    /// `sharing.calendars` / `sharing.channels` setting says (upstream has no
    /// such gate); only the public audience needs its own permission.
    #[test]
    fn calendars_and_channels_have_no_general_gate() {
        for (kind, public_key) in [
            (Kind::Calendar, "public_calendars"),
            (Kind::Channel, "public_channels"),
        ] {
            for general in [false, true] {
                let mut sharing = json!({"calendars": general, "channels": general});
                sharing[public_key] = json!(false);
                let kept = keep_allowed(kind, Some(&perms(sharing.clone())), audience());
                assert_eq!(ids(&kept), ["user-u1", "group-g1"], "{kind:?} {general}");
                sharing[public_key] = json!(true);
                let kept = keep_allowed(kind, Some(&perms(sharing)), audience());
                assert_eq!(
                    ids(&kept),
                    ["user-u1", "group-g1", "user-*"],
                    "{kind:?} {general}"
                );
            }
        }
    }

    #[test]
    fn open_chat_links_need_their_own_permission() {
        let p = perms(json!({"public_chats": true, "open_chats": false}));
        let kept = keep_allowed(Kind::SharedChat, Some(&p), audience());
        assert_eq!(ids(&kept), ["user-u1", "group-g1", "user-*"]);
        let p = perms(json!({"public_chats": false, "open_chats": true}));
        let kept = keep_allowed(Kind::SharedChat, Some(&p), audience());
        assert_eq!(ids(&kept), ["user-u1", "group-g1", "anyone-*"]);
    }
}
