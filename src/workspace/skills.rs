//! Skills in a chat: which ones a turn asks for and the system-message blocks
//! that carry their instructions to the model. The `/api/v1/skills` routes
//! (src/api/skills/list.rs) use [`readable`] for their listings too.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::access;
use crate::auth::Caller;
use crate::db::access_grants::GrantRow;
use crate::db::skills::{self as rows, SkillRow};
use crate::error::ApiResult;
use crate::state::AppState;

/// The skills the caller may read (all of them for admins with the bypass),
/// with their grants, and the caller's group ids.
pub async fn readable(
    state: &AppState,
    caller: &Caller,
) -> ApiResult<(Vec<(SkillRow, Vec<GrantRow>)>, HashSet<String>)> {
    let all = state.db.read(rows::all_with_grants).await?;
    let groups = access::group_ids(state, caller.id()).await?;
    if access::admin_bypass(caller) {
        return Ok((all, groups));
    }
    let list = all
        .into_iter()
        .filter(|(s, g)| access::owner_or_grant(caller, &s.user_id, g, &groups, "read"))
        .collect();
    Ok((list, groups))
}

const INJECTION_MAX_CHARS: usize = 100_000;

/// Skill ids mentioned in a message text: `<$id>`, `<$id|label>` or
/// `</id|label>` (database skill ids only: lowercase letters, digits, `-`, `_`).
pub fn mentioned_skill_ids(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let (dollar, body) = match rest.as_bytes().first() {
            Some(b'$') => (true, &rest[1..]),
            Some(b'/') => (false, &rest[1..]),
            _ => continue,
        };
        let id_len = body
            .bytes()
            .take_while(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_'
            })
            .count();
        if id_len == 0 {
            continue;
        }
        let after = &body[id_len..];
        let ok = match after.as_bytes().first() {
            Some(b'>') => dollar,
            Some(b'|') => after[1..]
                .find('>')
                .is_some_and(|e| !after[1..e + 1].contains('<')),
            _ => false,
        };
        let id = body[..id_len].to_string();
        if ok && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The system-message blocks upstream appends for skills when the model does
/// not use built-in skill tools: one `<skill id=… name=…>` block with the
/// `SKILL.md` text per active skill the caller may read, in id order. The
/// chat pipeline collects `ids` from the request's `skill_ids`, the model's
/// `info.meta.skillIds` and [`mentioned_skill_ids`] of the messages.
pub async fn skill_system_blocks(
    state: &AppState,
    caller: &Caller,
    ids: &[String],
) -> ApiResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let (readable, _) = readable(state, caller).await?;
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut skills: Vec<&SkillRow> = readable
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.is_active && wanted.contains(s.id.as_str()))
        .collect();
    skills.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(skills
        .into_iter()
        .map(|s| {
            let mut content: String = s.content.chars().take(INJECTION_MAX_CHARS).collect();
            if s.content.chars().count() > INJECTION_MAX_CHARS {
                content.push_str("\nSkill instructions truncated.");
            }
            let has_files = rows::files_of(&s.data)
                .iter()
                .any(|f| f.get("path").and_then(Value::as_str) != Some("SKILL.md"));
            let hint = if has_files {
                "\nSupporting files require a model with skill tools enabled."
            } else {
                ""
            };
            format!(
                "<skill id=\"{}\" name=\"{}\">\n{content}{hint}\n</skill>",
                s.id, s.name
            )
        })
        .collect())
}
