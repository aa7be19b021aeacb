//! The workspace search behind the search modal (`GET /api/v1/search`): chats
//! (title or any message), notes and channel messages the user may read, ranked
//! title-first, 24 per page.
//!
//! Every term must match (title or body); matching is case-insensitive
//! substring matching with LIKE, which is what a person typing part of a word
//! expects, and what the small tables of one workspace afford.

use std::collections::{HashMap, HashSet};

use rusqlite::{params_from_iter, types::Value as SqlValue, Connection};
use serde_json::{json, Value};

use super::json::JsonCol;

pub const PAGE_SIZE: usize = 24;
const MAX_TERMS: usize = 12;

pub struct Query<'a> {
    pub user_id: &'a str,
    pub text: &'a str,
    /// `all`, `chat`, `message` or `note`.
    pub kind: &'a str,
    /// `all`, `mine` or `shared`.
    pub sharing: &'a str,
    /// `""`, `folder:<id>` or `channel:<id>`.
    pub scope: &'a str,
    pub page: usize,
    /// Kinds this user may search (chat always; notes/messages by feature).
    pub enabled: &'a [&'a str],
}

/// Lower-cased distinct words of the query, at most [`MAX_TERMS`].
pub fn terms(query: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    query
        .split_whitespace()
        .map(str::to_lowercase)
        .filter(|t| seen.insert(t.clone()))
        .take(MAX_TERMS)
        .collect()
}

fn like(term: &str) -> String {
    super::like_contains(term)
}

/// Up to `len` characters around the first term found, with ellipses where cut.
///
/// Matching runs on a lower-cased copy whose byte offsets differ from the
/// original's wherever lowering changes a character's length (U+212A KELVIN
/// SIGN, U+0130, …), so positions are carried over as character counts, never
/// as byte offsets into the original.
pub fn excerpt(content: &str, terms: &[String], len: usize) -> String {
    let mut lower = String::with_capacity(content.len());
    // starts[i] = byte offset in `lower` where the i-th original character's
    // lower-cased form begins.
    let mut starts = Vec::with_capacity(content.len());
    for ch in content.chars() {
        starts.push(lower.len());
        lower.extend(ch.to_lowercase());
    }
    let at = terms
        .iter()
        .filter(|t| !t.is_empty())
        .filter_map(|t| lower.find(t.as_str()))
        .min()
        .unwrap_or(0);
    // The original character whose lower-cased form contains byte `at`.
    let chars_before = starts.partition_point(|&s| s <= at).saturating_sub(1);
    let start = chars_before.saturating_sub(len / 4);
    let total = starts.len();
    let body: String = content.chars().skip(start).take(len).collect();
    format!(
        "{}{}{}",
        if start > 0 { "…" } else { "" },
        body.trim(),
        if start + len < total { "…" } else { "" }
    )
}

/// The message of a chat that best shows why it matched: one containing every
/// term, else any term, else the last message.
fn chat_passage(chat: &Value, terms: &[String]) -> (String, Option<String>) {
    let messages = super::chats::chat_messages(chat);
    let with_text: Vec<(&str, Option<&str>)> = messages
        .iter()
        .filter_map(|m| {
            Some((
                m.get("content")?.as_str()?,
                m.get("id").and_then(Value::as_str),
            ))
        })
        .collect();
    let has = |c: &str, all: bool| {
        let c = c.to_lowercase();
        if all {
            !terms.is_empty() && terms.iter().all(|t| c.contains(t.as_str()))
        } else {
            terms.iter().any(|t| c.contains(t.as_str()))
        }
    };
    let hit = with_text
        .iter()
        .find(|(c, _)| has(c, true))
        .or_else(|| with_text.iter().find(|(c, _)| has(c, false)));
    match hit {
        Some((c, id)) => (c.to_string(), id.map(str::to_string)),
        None => (
            with_text
                .last()
                .map(|(c, _)| c.to_string())
                .unwrap_or_default(),
            None,
        ),
    }
}

struct Candidate {
    source: &'static str,
    id: String,
    rank: i64,
    updated_at: i64,
}

pub struct Folder {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
}

pub struct Channel {
    pub id: String,
    pub name: String,
    pub kind: String,
}

fn folders_of(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<Folder>> {
    let mut st = c.prepare("SELECT id, name, parent_id FROM folder WHERE user_id = ?1")?;
    let rows = st.query_map([user_id], |r| {
        Ok(Folder {
            id: r.get(0)?,
            name: r.get(1)?,
            parent_id: r.get(2)?,
        })
    })?;
    rows.collect()
}

fn channels_of(c: &Connection, user_id: &str) -> rusqlite::Result<Vec<Channel>> {
    let mut st = c.prepare(
        "SELECT ch.id, ch.name, ch.type FROM channel ch \
         WHERE ch.deleted_at IS NULL AND (ch.user_id = ?1 OR EXISTS (SELECT 1 FROM channel_member m \
           WHERE m.channel_id = ch.id AND m.user_id = ?1 AND (m.is_active = 1 OR m.is_active IS NULL)))",
    )?;
    let rows = st.query_map([user_id], |r| {
        Ok(Channel {
            id: r.get(0)?,
            name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            kind: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        })
    })?;
    let mut out: Vec<Channel> = rows.collect::<rusqlite::Result<_>>()?;
    // Direct messages without a name are called after the other people in them.
    for ch in out
        .iter_mut()
        .filter(|c| c.kind == "dm" && c.name.is_empty())
    {
        let mut st = c.prepare(
            "SELECT u.name FROM channel_member m JOIN user u ON u.id = m.user_id \
             WHERE m.channel_id = ?1 AND u.id != ?2 ORDER BY u.name, u.id",
        )?;
        let names: Vec<String> = st
            .query_map([&ch.id, user_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ch.name = names.join(", ");
    }
    Ok(out)
}

/// Folder ids under (and including) `root`.
fn subtree(folders: &[Folder], root: &str) -> HashSet<String> {
    let mut set: HashSet<String> = HashSet::from([root.to_string()]);
    loop {
        let before = set.len();
        for f in folders {
            if f.parent_id.as_ref().is_some_and(|p| set.contains(p)) {
                set.insert(f.id.clone());
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

fn title_rank_sql(column: &str, has_query: bool) -> String {
    if has_query {
        format!("CASE WHEN ulower({column}) = ?Q THEN 0 WHEN ulower({column}) LIKE ?P ESCAPE '\\' THEN 1 ELSE 3 END")
    } else {
        "3".into()
    }
}

pub fn search(c: &Connection, q: &Query) -> rusqlite::Result<Value> {
    let terms = terms(q.text);
    let query = q.text.trim();
    let folders = folders_of(c, q.user_id)?;
    let channels = if q.enabled.contains(&"message") {
        channels_of(c, q.user_id)?
    } else {
        Vec::new()
    };
    let mut scopes: Vec<(String, String, &str)> = folders
        .iter()
        .map(|f| (format!("folder:{}", f.id), f.name.clone(), "folder"))
        .chain(
            channels
                .iter()
                .map(|ch| (format!("channel:{}", ch.id), ch.name.clone(), "channel")),
        )
        .collect();
    scopes.sort_by(|a, b| (a.2, a.1.to_lowercase(), &a.0).cmp(&(b.2, b.1.to_lowercase(), &b.0)));
    let scopes_json: Vec<Value> = scopes
        .iter()
        .map(|(id, name, kind)| json!({"id": id, "name": name, "kind": kind}))
        .collect();
    let empty = |scopes: Vec<Value>| json!({"items": [], "has_more": false, "scopes": scopes, "kinds": q.enabled});
    if !q.scope.is_empty() && !scopes.iter().any(|s| s.0 == q.scope) {
        return Ok(empty(scopes_json));
    }
    let folder_scope = q.scope.strip_prefix("folder:");
    let channel_scope = q.scope.strip_prefix("channel:");
    let wants = |k: &str| q.enabled.contains(&k) && (q.kind == "all" || q.kind == k);

    let mut candidates: Vec<Candidate> = Vec::new();
    // Chats: only the user's own (folders are per user); "shared" means none here.
    if wants("chat") && channel_scope.is_none() && q.sharing != "shared" {
        let mut sql = format!(
            "SELECT id, {rank}, updated_at FROM chat WHERE user_id = ?U \
             AND (archived = 0 OR archived IS NULL) \
             AND (CASE WHEN json_valid(meta) THEN json_extract(meta, '$.internal') END) IS NOT 1",
            rank = if query.is_empty() {
                "CASE WHEN pinned = 1 THEN 0 ELSE 3 END".to_string()
            } else {
                title_rank_sql("title", true)
            }
        );
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(root) = folder_scope {
            let ids = subtree(&folders, root);
            let marks = vec!["?"; ids.len()].join(",");
            sql.push_str(&format!(" AND folder_id IN ({marks})"));
            args.extend(ids.into_iter().map(SqlValue::Text));
        }
        for t in &terms {
            sql.push_str(
                " AND (ulower(title) LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(chat) THEN chat ELSE '{}' END, '$.history.messages') m \
                   WHERE json_type(m.value, '$.content') = 'text' AND ulower(json_extract(m.value, '$.content')) LIKE ? ESCAPE '\\') \
                 OR EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(chat) THEN chat ELSE '{}' END, '$.messages') m \
                   WHERE json_type(m.value, '$.content') = 'text' AND ulower(json_extract(m.value, '$.content')) LIKE ? ESCAPE '\\'))",
            );
            for _ in 0..3 {
                args.push(SqlValue::Text(like(t)));
            }
        }
        collect(c, "chat", &sql, q.user_id, query, args, &mut candidates)?;
    }
    if wants("note") && q.scope.is_empty() {
        let mut sql = format!(
            "SELECT id, {rank}, CAST(updated_at / 1000000000 AS INTEGER) FROM note n WHERE \
             (n.user_id = ?U OR EXISTS (SELECT 1 FROM access_grant g WHERE g.resource_type = 'note' \
               AND g.resource_id = n.id AND g.permission IN ('read', 'write') AND ( \
                 (g.principal_type = 'user' AND g.principal_id IN (?U, '*')) OR \
                 (g.principal_type = 'group' AND g.principal_id IN (SELECT group_id FROM group_member WHERE user_id = ?U)))))",
            rank = if query.is_empty() {
                "CASE WHEN EXISTS (SELECT 1 FROM pinned_note p WHERE p.note_id = n.id AND p.user_id = ?U) THEN 0 ELSE 3 END".to_string()
            } else {
                title_rank_sql("n.title", true)
            }
        );
        match q.sharing {
            "mine" => sql.push_str(" AND n.user_id = ?U"),
            "shared" => sql.push_str(" AND n.user_id != ?U"),
            _ => {}
        }
        let mut args = Vec::new();
        for t in &terms {
            sql.push_str(
                " AND (ulower(n.title) LIKE ? ESCAPE '\\' OR ulower(CASE WHEN json_valid(n.data) THEN json_extract(n.data, '$.content.md') END) LIKE ? ESCAPE '\\')",
            );
            args.push(SqlValue::Text(like(t)));
            args.push(SqlValue::Text(like(t)));
        }
        collect(c, "note", &sql, q.user_id, query, args, &mut candidates)?;
    }
    if wants("message") && folder_scope.is_none() && !channels.is_empty() {
        let ids: Vec<&str> = match channel_scope {
            Some(id) => vec![id],
            None => channels.iter().map(|ch| ch.id.as_str()).collect(),
        };
        let marks = vec!["?"; ids.len()].join(",");
        let mut sql = format!(
            "SELECT id, 3, CAST(updated_at / 1000000000 AS INTEGER) FROM message WHERE channel_id IN ({marks})"
        );
        let mut args: Vec<SqlValue> = ids.iter().map(|s| SqlValue::Text(s.to_string())).collect();
        match q.sharing {
            "mine" => sql.push_str(" AND user_id = ?U"),
            "shared" => sql.push_str(" AND user_id != ?U"),
            _ => {}
        }
        for t in &terms {
            sql.push_str(" AND ulower(content) LIKE ? ESCAPE '\\'");
            args.push(SqlValue::Text(like(t)));
        }
        collect(c, "message", &sql, q.user_id, query, args, &mut candidates)?;
    }

    candidates.sort_by(|a, b| {
        (a.rank, -a.updated_at, a.source, &a.id).cmp(&(b.rank, -b.updated_at, b.source, &b.id))
    });
    let start = q.page.saturating_sub(1) * PAGE_SIZE;
    let page: Vec<&Candidate> = candidates.iter().skip(start).take(PAGE_SIZE + 1).collect();
    let has_more = page.len() > PAGE_SIZE;
    let folder_names: HashMap<&str, &str> = folders
        .iter()
        .map(|f| (f.id.as_str(), f.name.as_str()))
        .collect();
    let channel_by_id: HashMap<&str, &Channel> =
        channels.iter().map(|ch| (ch.id.as_str(), ch)).collect();
    let mut items = Vec::new();
    for cand in page.into_iter().take(PAGE_SIZE) {
        let item = match cand.source {
            "chat" => chat_item(c, cand, &terms, &folder_names)?,
            "note" => note_item(c, cand, q, &terms)?,
            _ => message_item(c, cand, &terms, &channel_by_id)?,
        };
        if let Some(i) = item {
            items.push(i);
        }
    }
    Ok(json!({"items": items, "has_more": has_more, "scopes": scopes_json, "kinds": q.enabled}))
}

/// Runs one source's candidate query. `?U`, `?Q` and `?P` are named
/// parameters (user id, lower-cased query, its LIKE pattern); the rest are
/// positional and come after them.
fn collect(
    c: &Connection,
    source: &'static str,
    sql: &str,
    user_id: &str,
    query: &str,
    args: Vec<SqlValue>,
    out: &mut Vec<Candidate>,
) -> rusqlite::Result<()> {
    // Named parameters take the first numbers; number the positional ones after them.
    let sql = sql
        .replace("?U", "?1")
        .replace("?Q", "?2")
        .replace("?P", "?3");
    let mut numbered = String::with_capacity(sql.len());
    let mut next = 4;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        numbered.push(ch);
        if ch == '?' && !chars.peek().is_some_and(|c| c.is_ascii_digit()) {
            numbered.push_str(&next.to_string());
            next += 1;
        }
    }
    let mut all: Vec<SqlValue> = vec![
        SqlValue::Text(user_id.to_string()),
        SqlValue::Text(query.to_lowercase()),
        SqlValue::Text(like(&query.to_lowercase())),
    ];
    all.extend(args);
    let numbered = crate::db::fold_for_query(&numbered, query);
    let mut st = c.prepare(&numbered)?;
    // SQLite counts parameters up to the highest number used: without
    // positional ones, the unused named ones at the end must not be passed.
    all.truncate(st.parameter_count());
    let rows = st.query_map(params_from_iter(all), |r| {
        Ok(Candidate {
            source,
            id: r.get(0)?,
            rank: r.get(1)?,
            updated_at: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
        })
    })?;
    for row in rows {
        out.push(row?);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one search hit's fields, all required
fn result(
    id: String,
    kind: &str,
    title: &str,
    context: &str,
    content: &str,
    terms: &[String],
    url: String,
    updated_at: i64,
    shared: bool,
    pinned: bool,
) -> Value {
    json!({
        "id": id,
        "kind": kind,
        "title": if title.is_empty() { "Untitled" } else { title },
        "context": context,
        "snippet": excerpt(content, terms, 200),
        "preview": excerpt(content, terms, 2400),
        "url": url,
        "updated_at": updated_at,
        "shared": shared,
        "pinned": pinned,
    })
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn chat_item(
    c: &Connection,
    cand: &Candidate,
    terms: &[String],
    folder_names: &HashMap<&str, &str>,
) -> rusqlite::Result<Option<Value>> {
    let row = c.query_row(
        "SELECT title, chat, folder_id, share_id, pinned FROM chat WHERE id = ?1",
        [&cand.id],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get::<_, JsonCol>(1)?.0,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<bool>>(4)?.unwrap_or(false),
            ))
        },
    );
    let (title, chat, folder_id, share_id, pinned) = match row {
        Ok(r) => r,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (content, message_id) = chat_passage(&chat, terms);
    let context = folder_id
        .as_deref()
        .and_then(|f| folder_names.get(f).copied())
        .unwrap_or("Personal chat");
    let mut url = format!("/c/{}", cand.id);
    if let Some(m) = message_id {
        url.push('?');
        url.push_str(&query_string(&[("message", &m)]));
    }
    Ok(Some(result(
        format!("chat:{}", cand.id),
        "chat",
        &title,
        context,
        &content,
        terms,
        url,
        cand.updated_at,
        share_id.is_some(),
        pinned,
    )))
}

fn note_item(
    c: &Connection,
    cand: &Candidate,
    q: &Query,
    terms: &[String],
) -> rusqlite::Result<Option<Value>> {
    let row = c.query_row(
        "SELECT title, data, user_id, \
           EXISTS (SELECT 1 FROM pinned_note p WHERE p.note_id = note.id AND p.user_id = ?2), \
           EXISTS (SELECT 1 FROM access_grant g WHERE g.resource_type = 'note' AND g.resource_id = note.id AND g.permission = 'read') \
         FROM note WHERE id = ?1",
        [&cand.id, q.user_id],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get::<_, JsonCol>(1)?.0,
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                r.get::<_, bool>(3)?,
                r.get::<_, bool>(4)?,
            ))
        },
    );
    let (title, data, owner, pinned, granted) = match row {
        Ok(r) => r,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
        Err(e) => return Err(e),
    };
    let content = data
        .pointer("/content/md")
        .and_then(Value::as_str)
        .unwrap_or("");
    let shared = owner != q.user_id || granted;
    let mut url = format!("/notes/{}", cand.id);
    if !q.text.trim().is_empty() {
        url.push('?');
        url.push_str(&query_string(&[("search", q.text.trim())]));
    }
    Ok(Some(result(
        format!("note:{}", cand.id),
        "note",
        &title,
        if shared {
            "Shared note"
        } else {
            "Personal note"
        },
        content,
        terms,
        url,
        cand.updated_at,
        shared,
        pinned,
    )))
}

fn message_item(
    c: &Connection,
    cand: &Candidate,
    terms: &[String],
    channels: &HashMap<&str, &Channel>,
) -> rusqlite::Result<Option<Value>> {
    let row = c.query_row(
        "SELECT m.content, m.channel_id, m.parent_id, u.name FROM message m \
         LEFT JOIN user u ON u.id = m.user_id WHERE m.id = ?1",
        [&cand.id],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        },
    );
    let (content, channel_id, parent_id, author) = match row {
        Ok(r) => r,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(ch) = channels.get(channel_id.as_str()) else {
        return Ok(None);
    };
    let thread = parent_id.unwrap_or_else(|| cand.id.clone());
    let url = format!(
        "/channels/{}?{}",
        ch.id,
        query_string(&[("thread", &thread), ("message", &cand.id)])
    );
    let context = if ch.kind == "dm" {
        ch.name.clone()
    } else {
        format!("#{}", ch.name)
    };
    Ok(Some(result(
        format!("message:{}", cand.id),
        "message",
        author.as_deref().unwrap_or("Message"),
        &context,
        &content,
        terms,
        url,
        cand.updated_at,
        true,
        false,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_distinct_lowercase_and_bounded() {
        assert_eq!(terms("Foo foo BAR"), vec!["foo", "bar"]);
        let many = (0..20)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(terms(&many).len(), MAX_TERMS);
    }

    #[test]
    fn like_escapes_wildcards() {
        assert_eq!(like("50%_a\\"), "%50\\%\\_a\\\\%");
    }

    #[test]
    fn excerpt_centres_on_the_first_term() {
        let text = format!("{}needle{}", "a".repeat(300), "b".repeat(300));
        let e = excerpt(&text, &["needle".into()], 200);
        assert!(e.starts_with('…') && e.ends_with('…'), "{e}");
        assert!(e.contains("needle"));
        assert_eq!(excerpt("short", &["x".into()], 200), "short");
        // Multi-byte text does not split a character.
        let e = excerpt(&"é".repeat(500), &["é".into()], 10);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn excerpt_survives_case_mappings_that_change_length() {
        // U+212A lowers to one byte, U+0130 to three: offsets in the lowered
        // text point into the middle of characters of the original.
        let nasty = "\u{212A}\u{0130}\u{0130}".repeat(200);
        for t in ["i", "k", "\u{307}", "ki"] {
            let text = format!("{nasty}x{t}y{nasty}");
            let e = excerpt(&text, &[t.to_string()], 20);
            assert!(e.chars().count() <= 22, "{e}");
            let e = excerpt(&nasty, &[t.to_string()], 2400);
            assert!(!e.is_empty());
        }
        // The match lands on the right character, not a byte-shifted one.
        let text = format!("{}needle{}", "\u{0130}".repeat(50), "z".repeat(50));
        let e = excerpt(&text, &["needle".into()], 12);
        assert!(e.contains("needle"), "{e}");
    }

    #[test]
    fn passage_prefers_a_message_with_every_term() {
        let chat = json!({"history": {"messages": {
            "a": {"id": "a", "content": "only apples"},
            "b": {"id": "b", "content": "apples and pears"},
        }}});
        let (text, id) = chat_passage(&chat, &["apples".into(), "pears".into()]);
        assert_eq!(
            (text.as_str(), id.as_deref()),
            ("apples and pears", Some("b"))
        );
    }
}
