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
    access::visible(state, caller, all, "read", |s| &s.user_id).await
}

/// The active skills the caller owns or was granted, the ones a chat model
/// may look at with `view_skill` (admins see only these here too, as
/// upstream lists them for chats).
pub async fn usable(state: &AppState, caller: &Caller) -> ApiResult<Vec<SkillRow>> {
    let all = state.db.read(rows::all_with_grants).await?;
    let groups = access::group_ids(state, caller.id()).await?;
    Ok(all
        .into_iter()
        .filter(|(s, g)| {
            s.is_active && access::owner_or_grant(caller, &s.user_id, g, &groups, "read")
        })
        .map(|(s, _)| s)
        .collect())
}

/// One skill for the caller: `Err` with the refusal text when it is missing,
/// not readable, or switched off and not the caller's to change.
pub async fn readable_one(state: &AppState, caller: &Caller, id: &str) -> ApiResult<SkillRow> {
    let key = id.to_string();
    let found = state
        .db
        .read(move |c| rows::get_with_grants(c, &key))
        .await?;
    let Some((skill, grants)) = found else {
        return Err(crate::error::ApiError::not_found("Skill not found"));
    };
    let groups = access::group_ids(state, caller.id()).await?;
    let may = |perm: &str| {
        access::admin_bypass(caller)
            || access::owner_or_grant(caller, &skill.user_id, &grants, &groups, perm)
    };
    if !may("read") || (!skill.is_active && !may("write")) {
        return Err(crate::error::ApiError::forbidden("Access denied"));
    }
    Ok(skill)
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
///
/// Also answers the skills found, as `(id, name)`, for [`strip_mentions`].
pub async fn skill_system_blocks(
    state: &AppState,
    caller: &Caller,
    ids: &[String],
) -> ApiResult<(Vec<String>, Vec<(String, String)>)> {
    if ids.is_empty() {
        return Ok((vec![], vec![]));
    }
    let (readable, _) = readable(state, caller).await?;
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut skills: Vec<&SkillRow> = readable
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.is_active && wanted.contains(s.id.as_str()))
        .collect();
    skills.sort_by(|a, b| a.id.cmp(&b.id));
    let found = skills
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let blocks = skills
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
        .collect();
    Ok((blocks, found))
}

/// Mentions of the skills in `found` (`<$id>`, `<$id|label>`, `</id|label>`)
/// replaced by their label (nothing without one). Everything else, including
/// look-alikes such as `<$PATH>` or Perl's `<$fh>`, stays as the user wrote it.
pub fn strip_mentions(text: &str, found: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match resolved_mention(tail, found) {
            Some((label, len)) => {
                out.push_str(label);
                rest = &tail[len..];
            }
            None => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A mention of a found skill at the start of `s`: its label and length.
fn resolved_mention<'a>(s: &'a str, found: &[(String, String)]) -> Option<(&'a str, usize)> {
    let dollar = match s.as_bytes().get(1) {
        Some(b'$') => true,
        Some(b'/') => false,
        _ => return None,
    };
    let body = &s[2..];
    let id_len = body
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
        .count();
    if id_len == 0 || !found.iter().any(|(id, _)| id == &body[..id_len]) {
        return None;
    }
    let after = &body[id_len..];
    match after.as_bytes().first() {
        Some(b'>') if dollar => Some(("", 2 + id_len + 1)),
        Some(b'|') => {
            let end = after.find('>')?;
            Some((&after[1..end], 2 + id_len + end + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::strip_mentions;

    #[test]
    fn only_found_skills_collapse_to_their_labels() {
        let found = vec![("skill_a1".to_string(), "My Skill".to_string())];
        assert_eq!(
            strip_mentions(
                "  <$skill_a1|My Skill> while (<$fh>) { </unknown|U> }  ",
                &found
            ),
            "  My Skill while (<$fh>) { </unknown|U> }  "
        );
        assert_eq!(strip_mentions("<$skill_a1> go", &found), " go");
        assert_eq!(strip_mentions("</skill_a1|Label>!", &found), "Label!");
        for text in [
            "echo \"<$PATH>\"",
            "Total <$5.99>",
            "<$skill_a1|no end",
            "a < b",
            "<",
        ] {
            assert_eq!(strip_mentions(text, &found), text);
        }
        assert_eq!(strip_mentions("ünï <$skill_a1|x>ö", &found), "ünï xö");
    }
}
