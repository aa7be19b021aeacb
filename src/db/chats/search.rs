//! Chat search: the filters, the SQL, and the snippet shown with a hit.

use rusqlite::{params_from_iter, types::Value as SqlValue, Connection};
use serde_json::Value;

use super::lists::{limit_clause, list_filtered, TitleQuery};
use super::rows::{from_row, get, ChatRow, COLUMNS, NOT_ARCHIVED, NOT_INTERNAL, TAG_MATCH};
use crate::db::tags;

const FILTER_PREFIXES: [&str; 5] = ["tag:", "folder:", "pinned:", "archived:", "shared:"];

/// The free-text part of a search (filters removed), lower-cased.
pub fn search_content_query(text: &str) -> String {
    text.replace('\0', "")
        .to_lowercase()
        .split_whitespace()
        .filter(|w| !FILTER_PREFIXES.iter().any(|p| w.starts_with(p)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Alphanumeric runs of the text, unique, in order.
pub fn search_terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let lower = text.to_lowercase();
    for w in lower.split(|ch: char| !ch.is_alphanumeric()) {
        if !w.is_empty() && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// A chat document's messages: those of `history.messages`, or the flat
/// `messages` list of an older document without a history.
pub fn chat_messages(chat: &Value) -> Vec<&Value> {
    match chat.pointer("/history/messages").and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m.values().collect(),
        _ => chat
            .get("messages")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
    }
}

/// Where the search text occurs in the chat's messages: up to 200 characters
/// around the first hit, whitespace collapsed, `...` where cut.
pub fn search_snippet(chat: &Value, search_text: &str) -> Option<String> {
    const MAX: usize = 200;
    if search_text.is_empty() {
        return None;
    }
    let history = chat_messages(chat);
    let mut needles = vec![search_text.to_string()];
    for t in search_terms(search_text) {
        if !needles.contains(&t) {
            needles.push(t);
        }
    }
    for needle in &needles {
        let n: Vec<char> = needle.chars().collect();
        if n.is_empty() {
            continue;
        }
        for m in &history {
            let Some(content) = m.get("content").and_then(Value::as_str) else {
                continue;
            };
            let chars: Vec<char> = content.chars().collect();
            // One lower-case char per original char keeps the indexes aligned.
            let lower: Vec<char> = chars
                .iter()
                .map(|ch| ch.to_lowercase().next().unwrap_or(*ch))
                .collect();
            let Some(index) = lower.windows(n.len()).position(|w| w == n.as_slice()) else {
                continue;
            };
            let len = chars.len();
            let mut start = index.saturating_sub(MAX / 2);
            let mut end = (start + MAX).min(len);
            if index + n.len() > end {
                end = (index + n.len()).min(len);
                start = end.saturating_sub(MAX);
            }
            let piece: String = chars[start..end].iter().collect();
            let snippet = piece.split_whitespace().collect::<Vec<_>>().join(" ");
            return Some(format!(
                "{}{}{}",
                if start > 0 { "..." } else { "" },
                snippet,
                if end < len { "..." } else { "" }
            ));
        }
    }
    None
}

fn content_match_sql(p: &str) -> String {
    let src = "CASE WHEN json_valid(chat.chat) THEN chat.chat ELSE '{}' END";
    format!(
        "(EXISTS (SELECT 1 FROM json_each({src}, '$.history.messages') hm WHERE hm.type = 'object' \
            AND ulower(json_extract(hm.value, '$.content')) LIKE {p} ESCAPE '\\') \
          OR EXISTS (SELECT 1 FROM json_each({src}, '$.messages') lm WHERE lm.type = 'object' \
            AND ulower(json_extract(lm.value, '$.content')) LIKE {p} ESCAPE '\\'))"
    )
}

/// `GET /api/v1/chats/search`: title and message text, plus the filters
/// `tag:<id>` (`tag:none` = untagged), `folder:<name>`, `pinned:`, `archived:`
/// and `shared:` (`true`/`false`). Exact phrase hits come first.
pub fn search(
    c: &Connection,
    user_id: &str,
    text: &str,
    skip: i64,
    limit: i64,
) -> rusqlite::Result<Vec<ChatRow>> {
    let text = text.replace('\0', "").to_lowercase();
    let text = text.trim();
    if text.is_empty() {
        let ids = list_filtered(c, user_id, Some(false), &TitleQuery::default(), limit, skip)?;
        let mut out = Vec::new();
        for t in ids {
            if let Some(r) = get(c, &t.id)? {
                out.push(r);
            }
        }
        return Ok(out);
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let tag_ids: Vec<String> = words
        .iter()
        .filter_map(|w| w.strip_prefix("tag:"))
        .map(tags::normalize_id)
        .collect();
    let folder_names: Vec<String> = words
        .iter()
        .filter_map(|w| w.strip_prefix("folder:"))
        .map(str::to_string)
        .collect();
    let flag = |name: &str| {
        if words.contains(&format!("{name}:true").as_str()) {
            Some(true)
        } else if words.contains(&format!("{name}:false").as_str()) {
            Some(false)
        } else {
            None
        }
    };
    let (pinned, archived, shared) = (flag("pinned"), flag("archived"), flag("shared"));
    let phrase = words
        .iter()
        .filter(|w| !FILTER_PREFIXES.iter().any(|p| w.starts_with(p)))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let terms: Vec<String> = search_terms(&phrase)
        .into_iter()
        .filter(|t| *t != phrase)
        .collect();

    let mut args: Vec<SqlValue> = Vec::new();
    let mut bind = |v: SqlValue| {
        args.push(v);
        format!("?{}", args.len())
    };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM chat WHERE user_id = {} AND {NOT_INTERNAL}",
        bind(user_id.to_string().into())
    );
    match archived {
        Some(a) => sql.push_str(if a {
            " AND archived = 1"
        } else {
            " AND archived = 0"
        }),
        None => sql.push_str(&format!(" AND {NOT_ARCHIVED}")),
    }
    if let Some(p) = pinned {
        sql.push_str(if p {
            " AND pinned = 1"
        } else {
            " AND pinned = 0"
        });
    }
    if let Some(s) = shared {
        sql.push_str(if s {
            " AND share_id IS NOT NULL"
        } else {
            " AND share_id IS NULL"
        });
    }
    if !folder_names.is_empty() {
        let ids = crate::db::folders::ids_matching_names(c, user_id, &folder_names)?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let marks: Vec<String> = ids.into_iter().map(|i| bind(i.into())).collect();
        sql.push_str(&format!(" AND folder_id IN ({})", marks.join(", ")));
    }
    let mut exact: Option<String> = None;
    if !phrase.is_empty() {
        let t = bind(crate::db::like_contains(&phrase).into());
        let clause = format!(
            "(ulower(title) LIKE {t} ESCAPE '\\' OR {})",
            content_match_sql(&t)
        );
        let mut term_clauses = Vec::new();
        for term in &terms {
            let t = bind(crate::db::like_contains(term).into());
            term_clauses.push(format!(
                "(ulower(title) LIKE {t} ESCAPE '\\' OR {})",
                content_match_sql(&t)
            ));
        }
        if term_clauses.is_empty() {
            sql.push_str(&format!(" AND {clause}"));
        } else {
            sql.push_str(&format!(
                " AND ({clause} OR ({}))",
                term_clauses.join(" AND ")
            ));
        }
        exact = Some(clause);
    }
    if tag_ids.iter().any(|t| t == "none") {
        sql.push_str(
            " AND NOT EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(meta) THEN meta ELSE '{}' END, '$.tags'))",
        );
    } else {
        for t in &tag_ids {
            let p = bind(t.clone().into());
            sql.push_str(&format!(" AND {}", TAG_MATCH.replace('?', &p)));
        }
    }
    match exact {
        Some(clause) => sql.push_str(&format!(
            " ORDER BY (CASE WHEN {clause} THEN 0 ELSE 1 END), updated_at DESC, id ASC"
        )),
        None => sql.push_str(" ORDER BY updated_at DESC, id ASC"),
    }
    sql.push_str(&limit_clause(Some((limit, skip))));
    let sql = crate::db::fold_for_query(&sql, &phrase);
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), from_row)?;
    rows.collect()
}
