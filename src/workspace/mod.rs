//! Workspace items (prompts, tools, skills) as the chat pipeline and the
//! workspace routes both need them: who may read an item, which skills a turn
//! uses, and the refusal of Python tools.

pub mod skills;
pub mod tools;

use std::collections::HashSet;

use crate::auth::extract::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::error::ApiResult;
use crate::llm;
use crate::state::AppState;

/// Admins with the bypass see and edit every workspace item.
pub fn bypass(caller: &Caller) -> bool {
    caller.is_admin() && llm::bypass_admin_access()
}

pub async fn group_ids(state: &AppState, caller: &Caller) -> ApiResult<HashSet<String>> {
    let uid = caller.id().to_string();
    Ok(state
        .db
        .read(move |c| access_grants::group_ids_of(c, &uid))
        .await?)
}

/// Owner, or a grant of `perm` to the caller, a group of theirs or everyone.
pub fn owner_or_grant(
    caller: &Caller,
    owner_id: &str,
    grants: &[GrantRow],
    groups: &HashSet<String>,
    perm: &str,
) -> bool {
    owner_id == caller.id() || access_grants::grants_allow(grants, caller.id(), groups, perm)
}
