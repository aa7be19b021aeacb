//! Version history of workspace resources: `prompt_history`, `tool_history`,
//! `function_history` and `skill_history` share one shape (an id, the owning
//! resource's id, a parent entry, a JSON snapshot, the author, an optional
//! commit message and a creation time in seconds).

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{Map, Value};

use super::json::JsonCol;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prompt,
    Tool,
    Function,
    Skill,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Prompt => "prompt_history",
            Kind::Tool => "tool_history",
            Kind::Function => "function_history",
            Kind::Skill => "skill_history",
        }
    }

    /// The column (and wire key) naming the owning resource.
    pub fn fk(self) -> &'static str {
        match self {
            Kind::Prompt => "prompt_id",
            Kind::Tool => "tool_id",
            Kind::Function => "function_id",
            Kind::Skill => "skill_id",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub id: String,
    pub resource_id: String,
    pub parent_id: Option<String>,
    pub snapshot: Value,
    pub user_id: String,
    pub commit_message: Option<String>,
    pub created_at: i64,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub author_role: Option<String>,
}

impl HistoryRow {
    /// The name, content and meta (`{}` unless an object) of a tool or
    /// function snapshot, for going back to it ("" for a missing text).
    pub fn restored(&self) -> (String, String, Value) {
        let text = |key: &str| {
            self.snapshot
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let meta = match self.snapshot.get("meta") {
            Some(m @ Value::Object(_)) => m.clone(),
            _ => Value::Object(Map::new()),
        };
        (text("name"), text("content"), meta)
    }
}

fn from_row(r: &Row) -> rusqlite::Result<HistoryRow> {
    let snapshot = match r.get::<_, JsonCol>(3)?.0 {
        v @ Value::Object(_) => v,
        _ => Value::Object(Map::new()),
    };
    Ok(HistoryRow {
        id: r.get(0)?,
        resource_id: r.get(1)?,
        parent_id: r.get(2)?,
        snapshot,
        user_id: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        commit_message: r.get(5)?,
        created_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
        author_name: r.get(7)?,
        author_email: r.get(8)?,
        author_role: r.get(9)?,
    })
}

fn select(kind: Kind) -> String {
    format!(
        "SELECT h.id, h.{fk}, h.parent_id, h.snapshot, h.user_id, h.commit_message, h.created_at, \
         u.name, u.email, u.role FROM {t} h LEFT JOIN user u ON u.id = h.user_id",
        fk = kind.fk(),
        t = kind.table()
    )
}

/// Adds an entry and returns its id.
#[allow(clippy::too_many_arguments)]
pub fn insert(
    c: &Connection,
    kind: Kind,
    resource_id: &str,
    parent_id: Option<&str>,
    snapshot: &Value,
    user_id: &str,
    commit_message: Option<&str>,
    now: i64,
) -> rusqlite::Result<String> {
    let id = super::new_id();
    c.execute(
        &format!(
            "INSERT INTO {} (id, {}, parent_id, snapshot, user_id, commit_message, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            kind.table(),
            kind.fk()
        ),
        params![
            id,
            resource_id,
            parent_id,
            JsonCol(snapshot.clone()),
            user_id,
            commit_message,
            now
        ],
    )?;
    Ok(id)
}

/// The version a save leaves live: `restore` when going back to an entry;
/// otherwise a new entry (child of `live`) when the snapshot changed or none
/// was recorded yet; otherwise `live` as it is.
#[allow(clippy::too_many_arguments)]
pub fn version_on_save(
    c: &Connection,
    kind: Kind,
    resource_id: &str,
    live: Option<&str>,
    before: &Value,
    after: &Value,
    restore: Option<&str>,
    user_id: &str,
    commit_message: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<String>> {
    if let Some(v) = restore {
        return Ok(Some(v.to_string()));
    }
    if after == before && live.is_some() {
        return Ok(live.map(str::to_string));
    }
    insert(
        c,
        kind,
        resource_id,
        live,
        after,
        user_id,
        commit_message,
        now,
    )
    .map(Some)
}

pub fn get(
    c: &Connection,
    kind: Kind,
    resource_id: &str,
    id: &str,
) -> rusqlite::Result<Option<HistoryRow>> {
    c.query_row(
        &format!("{} WHERE h.{} = ?1 AND h.id = ?2", select(kind), kind.fk()),
        [resource_id, id],
        from_row,
    )
    .optional()
}

/// Newest first.
pub fn list(
    c: &Connection,
    kind: Kind,
    resource_id: &str,
    offset: i64,
    limit: i64,
) -> rusqlite::Result<Vec<HistoryRow>> {
    let mut st = c.prepare(&format!(
        "{} WHERE h.{} = ?1 ORDER BY h.created_at DESC, h.rowid DESC LIMIT ?2 OFFSET ?3",
        select(kind),
        kind.fk()
    ))?;
    let rows = st.query_map(params![resource_id, limit, offset.max(0)], from_row)?;
    rows.collect()
}

pub fn latest(
    c: &Connection,
    kind: Kind,
    resource_id: &str,
) -> rusqlite::Result<Option<HistoryRow>> {
    Ok(list(c, kind, resource_id, 0, 1)?.into_iter().next())
}

/// Removes one entry, re-linking its children to its parent.
pub fn delete(c: &Connection, kind: Kind, resource_id: &str, id: &str) -> rusqlite::Result<bool> {
    let Some(entry) = get(c, kind, resource_id, id)? else {
        return Ok(false);
    };
    c.execute(
        &format!(
            "UPDATE {} SET parent_id = ?3 WHERE {} = ?1 AND parent_id = ?2",
            kind.table(),
            kind.fk()
        ),
        params![resource_id, id, entry.parent_id],
    )?;
    c.execute(&format!("DELETE FROM {} WHERE id = ?1", kind.table()), [id])?;
    Ok(true)
}

pub fn delete_all(c: &Connection, kind: Kind, resource_id: &str) -> rusqlite::Result<usize> {
    c.execute(
        &format!("DELETE FROM {} WHERE {} = ?1", kind.table(), kind.fk()),
        [resource_id],
    )
}

// ------------------------------------------------------------- unified diff

/// (op, a_start, a_end, b_start, b_end)
type Block = (Op, usize, usize, usize, usize);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Equal,
    Change,
}

/// (op, a_start, a_end, b_start, b_end) blocks from a longest common
/// subsequence; consecutive changes are merged into one block.
fn opcodes(a: &[&str], b: &[&str]) -> Vec<Block> {
    let (n, m) = (a.len(), b.len());
    // Trim the common prefix and suffix so the table stays small.
    let mut pre = 0;
    while pre < n && pre < m && a[pre] == b[pre] {
        pre += 1;
    }
    let mut suf = 0;
    while suf < n - pre && suf < m - pre && a[n - 1 - suf] == b[m - 1 - suf] {
        suf += 1;
    }
    let (ai, bi) = (&a[pre..n - suf], &b[pre..m - suf]);
    let (x, y) = (ai.len(), bi.len());
    let mut marks: Vec<(bool, bool)> = Vec::new(); // (in a, in b) per step; both = equal
    if x * y <= 4_000_000 {
        let mut dp = vec![0u32; (x + 1) * (y + 1)];
        for i in (0..x).rev() {
            for j in (0..y).rev() {
                dp[i * (y + 1) + j] = if ai[i] == bi[j] {
                    dp[(i + 1) * (y + 1) + j + 1] + 1
                } else {
                    dp[(i + 1) * (y + 1) + j].max(dp[i * (y + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < x || j < y {
            if i < x && j < y && ai[i] == bi[j] {
                marks.push((true, true));
                i += 1;
                j += 1;
            } else if j >= y || (i < x && dp[(i + 1) * (y + 1) + j] >= dp[i * (y + 1) + j + 1]) {
                marks.push((true, false));
                i += 1;
            } else {
                marks.push((false, true));
                j += 1;
            }
        }
    } else {
        marks.extend(std::iter::repeat_n((true, false), x));
        marks.extend(std::iter::repeat_n((false, true), y));
    }
    let mut out: Vec<Block> = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    let mut push = |op: Op, di: usize, dj: usize, i: usize, j: usize| match out.last_mut() {
        Some(last) if last.0 == op => {
            last.2 += di;
            last.4 += dj;
        }
        _ => out.push((op, i, i + di, j, j + dj)),
    };
    if pre > 0 {
        push(Op::Equal, pre, pre, 0, 0);
    }
    i += pre;
    j += pre;
    for (ina, inb) in marks {
        let op = if ina && inb { Op::Equal } else { Op::Change };
        let (di, dj) = (ina as usize, inb as usize);
        push(op, di, dj, i, j);
        i += di;
        j += dj;
    }
    if suf > 0 {
        push(Op::Equal, suf, suf, i, j);
    }
    out
}

fn range(start: usize, stop: usize) -> String {
    let len = stop - start;
    match len {
        1 => format!("{}", start + 1),
        0 => format!("{start},0"),
        _ => format!("{},{}", start + 1, len),
    }
}

/// A unified diff of two texts by lines (three lines of context, no line
/// terminators), empty when the line sequences are equal.
pub fn unified_diff(a: &str, b: &str, from_file: &str, to_file: &str) -> Vec<String> {
    let al: Vec<&str> = a.lines().collect();
    let bl: Vec<&str> = b.lines().collect();
    if al == bl {
        return vec![];
    }
    let n = 3;
    let mut codes = opcodes(&al, &bl);
    if let Some(first) = codes.first_mut() {
        if first.0 == Op::Equal {
            first.1 = first.1.max(first.2.saturating_sub(n));
            first.3 = first.3.max(first.4.saturating_sub(n));
        }
    }
    if let Some(last) = codes.last_mut() {
        if last.0 == Op::Equal {
            last.2 = last.2.min(last.1 + n);
            last.4 = last.4.min(last.3 + n);
        }
    }
    let mut groups: Vec<Vec<Block>> = Vec::new();
    let mut group = Vec::new();
    for (op, mut i1, i2, mut j1, j2) in codes {
        if op == Op::Equal && i2 - i1 > 2 * n {
            group.push((op, i1, i2.min(i1 + n), j1, j2.min(j1 + n)));
            groups.push(std::mem::take(&mut group));
            i1 = i1.max(i2 - n);
            j1 = j1.max(j2 - n);
        }
        group.push((op, i1, i2, j1, j2));
    }
    let only_context = group.len() == 1 && group[0].0 == Op::Equal;
    if !group.is_empty() && !only_context {
        groups.push(group);
    }
    let mut out = vec![format!("--- {from_file}"), format!("+++ {to_file}")];
    for g in groups {
        let (first, last) = (g[0], g[g.len() - 1]);
        out.push(format!(
            "@@ -{} +{} @@",
            range(first.1, last.2),
            range(first.3, last.4)
        ));
        for (op, i1, i2, j1, j2) in g {
            match op {
                Op::Equal => out.extend(al[i1..i2].iter().map(|l| format!(" {l}"))),
                Op::Change => {
                    out.extend(al[i1..i2].iter().map(|l| format!("-{l}")));
                    out.extend(bl[j1..j2].iter().map(|l| format!("+{l}")));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_matches_unified_format() {
        let d = unified_diff("a\nb\nc\n", "a\nB\nc\nd\n", "x", "y");
        assert_eq!(
            d,
            vec![
                "--- x",
                "+++ y",
                "@@ -1,3 +1,4 @@",
                " a",
                "-b",
                "+B",
                " c",
                "+d"
            ]
        );
        assert!(unified_diff("same\n", "same", "x", "y").is_empty());
        let a: String = (0..20).map(|i| format!("{i}\n")).collect();
        let b = a.replace("2\n", "two\n").replace("17\n", "seventeen\n");
        let d = unified_diff(&a, &b, "x", "y");
        assert_eq!(d.iter().filter(|l| l.starts_with("@@")).count(), 2);
        assert_eq!(d[2], "@@ -1,6 +1,6 @@");
        assert_eq!(unified_diff("", "new", "x", "y")[2], "@@ -0,0 +1 @@");
    }
}
