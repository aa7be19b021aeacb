//! Finding memories by where they sit in the path tree and by words:
//! the `/memories/search`, `/paths` and `/path` routes and the memory tools
//! that browse. Pure functions over a user's rows.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::clean_path;
use crate::db::memories::MemoryRow;
use crate::error::{ApiError, ApiResult};

fn parts(path: &str) -> Vec<&str> {
    path.split('/').filter(|p| !p.is_empty()).collect()
}

fn parent(path: &str) -> Option<String> {
    let p = parts(path);
    (p.len() > 1).then(|| p[..p.len() - 1].join("/"))
}

fn depth(path: &str) -> i64 {
    parts(path).len() as i64
}

/// How close a memory's path is to the path looked for, smaller is closer:
/// the same path, below it, above it, a sibling, sharing segments, sharing
/// the last segment; `None` when unrelated.
fn closeness(memory_path: Option<&str>, lookup: &str) -> Option<(i64, i64)> {
    let mp = clean_path(memory_path).ok().flatten()?;
    let lp = clean_path(Some(lookup)).ok().flatten()?;
    if mp == lp {
        return Some((0, 0));
    }
    if mp.starts_with(&format!("{lp}/")) {
        return Some((1, depth(&mp) - depth(&lp)));
    }
    if lp.starts_with(&format!("{mp}/")) {
        return Some((2, depth(&lp) - depth(&mp)));
    }
    let mp_parent = parent(&mp);
    if mp_parent.is_some() && mp_parent == parent(&lp) {
        return Some((3, 0));
    }
    let mine: BTreeSet<&str> = parts(&mp).into_iter().collect();
    let theirs: BTreeSet<&str> = parts(&lp).into_iter().collect();
    let shared = mine.intersection(&theirs).count() as i64;
    if shared > 0 {
        return Some((4, -shared));
    }
    if parts(&mp).last() == parts(&lp).last() {
        return Some((5, 0));
    }
    None
}

fn matches_words(m: &MemoryRow, query: &str) -> bool {
    let q = query.trim().to_lowercase();
    q.is_empty()
        || m.content.to_lowercase().contains(&q)
        || m.path.as_deref().unwrap_or("").to_lowercase().contains(&q)
}

fn kind_fits(m: &MemoryRow, kind: &str) -> bool {
    kind == "all" || m.kind == kind
}

/// What `search` looks for.
#[derive(Debug, Default)]
pub struct Search<'a> {
    pub query: Option<&'a str>,
    pub path: Option<&'a str>,
    pub memory_id: Option<&'a str>,
    /// `user`, `context` or `all`.
    pub kind: &'a str,
    pub limit: i64,
}

/// Memories by id, type, path neighbourhood and words, closest path first,
/// then most recently updated; between 1 and 100 of them.
pub fn search<'m>(rows: &'m [MemoryRow], s: &Search<'_>) -> ApiResult<Vec<&'m MemoryRow>> {
    let lookup = clean_path(s.path)?;
    let query = s.query.unwrap_or("").trim();
    let mut picked: Vec<&MemoryRow> = rows
        .iter()
        .filter(|m| s.memory_id.is_none_or(|id| m.id == id))
        .filter(|m| kind_fits(m, s.kind))
        .filter(|m| match &lookup {
            None => true,
            Some(lp) => {
                let base = parts(lp).last().copied().unwrap_or(lp).to_lowercase();
                closeness(m.path.as_deref(), lp).is_some() || {
                    let hay = format!("{}\n{}", m.path.as_deref().unwrap_or(""), m.content)
                        .to_lowercase();
                    hay.contains(&lp.to_lowercase()) || hay.contains(&base)
                }
            }
        })
        .filter(|m| query.is_empty() || matches_words(m, query))
        .collect();
    picked.sort_by(|a, b| {
        let rank = |m: &MemoryRow| {
            lookup
                .as_deref()
                .and_then(|lp| closeness(m.path.as_deref(), lp))
                .unwrap_or((9, 0))
        };
        rank(a)
            .cmp(&rank(b))
            .then(b.updated_at.cmp(&a.updated_at))
            .then(a.id.cmp(&b.id))
    });
    let limit = if s.limit == 0 {
        20
    } else {
        s.limit.clamp(1, 100)
    };
    picked.truncate(limit as usize);
    Ok(picked)
}

/// The paths in use, one group per (path, type) with its count, latest
/// update and up to 20 direct children, most recently updated first:
/// `{"paths": [...], "count": n}`.
pub fn path_groups(rows: &[MemoryRow], query: &str, kind: &str, limit: i64) -> Value {
    let mut order: Vec<(Option<String>, String)> = Vec::new();
    let mut groups: HashMap<(Option<String>, String), (i64, i64)> = HashMap::new();
    for m in rows
        .iter()
        .filter(|m| kind_fits(m, kind) && matches_words(m, query))
    {
        let key = (m.path.clone(), m.kind.clone());
        let g = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (0, 0)
        });
        g.0 += 1;
        g.1 = g.1.max(m.updated_at);
    }
    let paths: Vec<&str> = order.iter().filter_map(|(p, _)| p.as_deref()).collect();
    let mut out: Vec<(i64, Value)> = order
        .iter()
        .map(|key| {
            let (count, updated) = groups[key];
            let mut children: Vec<String> = Vec::new();
            if let Some(p) = &key.0 {
                let prefix = format!("{p}/");
                for cand in &paths {
                    if let Some(rest) = cand.strip_prefix(&prefix) {
                        let child = format!("{prefix}{}", rest.split('/').next().unwrap_or(rest));
                        if !children.contains(&child) {
                            children.push(child);
                        }
                    }
                }
            }
            children.truncate(20);
            (
                updated,
                json!({"path": key.0, "type": key.1, "count": count,
                       "updated_at": updated, "children": children}),
            )
        })
        .collect();
    let total = out.len();
    // Stable: groups updated at the same second keep their first-seen order.
    out.sort_by_key(|g| std::cmp::Reverse(g.0));
    let limit = if limit == 0 { 100 } else { limit.clamp(1, 500) } as usize;
    let paths: Vec<Value> = out.into_iter().take(limit).map(|(_, v)| v).collect();
    json!({"paths": paths, "count": total})
}

/// One path read: the memories at it, its parents that hold memories and
/// (optionally) everything below it, with the path's direct children.
pub struct PathRead<'m> {
    pub path: String,
    pub parents: Vec<String>,
    pub children: Vec<String>,
    pub memories: Vec<&'m MemoryRow>,
}

pub fn read_path<'m>(
    rows: &'m [MemoryRow],
    path: &str,
    kind: &str,
    include_children: bool,
    limit: i64,
) -> ApiResult<PathRead<'m>> {
    let Some(lookup) = clean_path(Some(path))? else {
        return Err(ApiError::bad_request("Memory path is required"));
    };
    let rows: Vec<&MemoryRow> = rows.iter().filter(|m| kind_fits(m, kind)).collect();
    let in_use: BTreeSet<&str> = rows.iter().filter_map(|m| m.path.as_deref()).collect();
    let segs = parts(&lookup);
    let parents: Vec<String> = (1..segs.len())
        .map(|i| segs[..i].join("/"))
        .filter(|p| in_use.contains(p.as_str()))
        .collect();
    let below = format!("{lookup}/");
    let children: BTreeSet<String> = rows
        .iter()
        .filter_map(|m| m.path.as_deref()?.strip_prefix(&below))
        .map(|rest| format!("{below}{}", rest.split('/').next().unwrap_or(rest)))
        .collect();
    let mut picked: Vec<&MemoryRow> = rows
        .into_iter()
        .filter(|m| match m.path.as_deref() {
            Some(p) => {
                p == lookup
                    || parents.iter().any(|q| q == p)
                    || (include_children && p.starts_with(&below))
            }
            None => false,
        })
        .collect();
    let key = |m: &MemoryRow| -> (i64, i64) {
        let p = m.path.as_deref().unwrap_or("");
        if p == lookup {
            (0, 0)
        } else if p.starts_with(&below) {
            (1, depth(p))
        } else {
            (2, -depth(p))
        }
    };
    picked.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then(b.updated_at.cmp(&a.updated_at))
            .then(a.id.cmp(&b.id))
    });
    let limit = if limit == 0 { 50 } else { limit.clamp(1, 100) } as usize;
    picked.truncate(limit);
    Ok(PathRead {
        path: lookup,
        parents,
        children: children.into_iter().take(50).collect(),
        memories: picked,
    })
}

impl PathRead<'_> {
    /// The wire form, memories without their stored meta.
    pub fn wire(&self) -> Value {
        json!({
            "path": self.path,
            "parents": self.parents,
            "children": self.children,
            "memories": self.memories.iter().map(|m| super::wire_without_meta(m)).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, path: Option<&str>, content: &str, updated: i64) -> MemoryRow {
        MemoryRow {
            id: id.into(),
            user_id: "u".into(),
            kind: "context".into(),
            path: path.map(Into::into),
            content: content.into(),
            meta: None,
            created_at: updated,
            updated_at: updated,
        }
    }

    #[test]
    fn closer_paths_come_first() {
        let rows = vec![
            row("a", Some("work"), "job", 5),
            row("b", Some("work/prefs/tea"), "tea", 9),
            row("c", Some("work/prefs"), "prefs", 1),
            row("d", Some("home"), "house", 7),
        ];
        let found = search(
            &rows,
            &Search {
                path: Some("work//prefs/"),
                kind: "all",
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        let ids: Vec<&str> = found.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
    }

    #[test]
    fn a_path_read_names_parents_and_children() {
        let rows = vec![
            row("a", Some("work"), "job", 5),
            row("b", Some("work/prefs/tea"), "tea", 9),
            row("c", Some("work/prefs"), "prefs", 1),
        ];
        let read = read_path(&rows, "work/prefs", "all", true, 0).unwrap();
        assert_eq!(read.parents, ["work"]);
        assert_eq!(read.children, ["work/prefs/tea"]);
        let ids: Vec<&str> = read.memories.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert!(read_path(&rows, "a/../b", "all", true, 0).is_err());
        assert!(read_path(&rows, "//", "all", true, 0).is_err());
    }

    #[test]
    fn groups_count_and_list_children() {
        let rows = vec![
            row("a", Some("work"), "job", 5),
            row("b", Some("work/prefs/tea"), "tea", 9),
            row("c", Some("work"), "boss", 6),
        ];
        let g = path_groups(&rows, "", "all", 0);
        assert_eq!(g["count"], 2);
        assert_eq!(g["paths"][0]["path"], "work/prefs/tea");
        assert_eq!(g["paths"][1]["count"], 2);
        assert_eq!(g["paths"][1]["children"], json!(["work/prefs"]));
    }
}
