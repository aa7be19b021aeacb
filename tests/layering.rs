//! The layering rules of `src/` (issue 10), checked by reading the sources.
//!
//! Edges are the places that speak HTTP / Socket.IO: `src/api/**`,
//! `src/socket/**`, `src/web/**` (serving the frontend), `src/lib.rs` and
//! `src/main.rs`. Every other file is part of a domain room (`chat`, `rag`,
//! `files`, `llm`, `auth`, `db`, …) and
//!
//! 1. must not name `crate::api`, `crate::socket` or the `axum` crate;
//! 2. must not take part in an import circle: no two files may reach each
//!    other through `use crate::…`, inline `crate::a::b::…`, `super::…` or
//!    `self::…` paths (edges too: this rule holds for every file).
//!
//! `src/error.rs` counts as domain: `ApiError` is the error type the rooms
//! return; its HTTP rendering lives in `src/api/error_response.rs`.
//!
//! How paths are read: comments, string and char literals are blanked first;
//! `use` trees are expanded (`use crate::a::{b, c::d}` is two paths); a path
//! leads to the file of its longest prefix that is a module file
//! (`src/a/b.rs` or `src/a/b/mod.rs`, the crate root being `src/lib.rs`), so
//! `crate::db::files::get` is an edge to `src/db/files.rs`. `super` is
//! resolved from the enclosing module, including inline `mod x { … }`
//! blocks. `mod x;` declarations and paths relative to the current module
//! without `self::` (`chunk::chunk`) are not edges. `src/main.rs` is a crate
//! of its own (it reaches the library by name), so it has no edges.
//!
//! Plain file reading, no cargo invocation: the test takes milliseconds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

/// Files and folders that are edges (HTTP / Socket.IO / frontend serving).
const EDGES: &[&str] = &[
    "src/api/",
    "src/socket/",
    "src/web/",
    "src/lib.rs",
    "src/main.rs",
];

/// Domain files allowed to reach the edges, as (file, what it names). Empty:
/// an entry here is a debt to pay, and one that no longer occurs fails the
/// test.
const KNOWN_VIOLATIONS: &[(&str, &str)] = &[];

/// Import circles allowed to exist, each as the sorted files of one strongly
/// connected part of the import graph. Empty, with the same rule as above.
const KNOWN_CIRCLES: &[&[&str]] = &[];

const FORBIDDEN_MODULES: &[&str] = &["api", "socket"];

// ------------------------------------------------------------------ sources

struct Source {
    /// `src/a/b.rs`, with forward slashes.
    rel: String,
    /// The module path of the file (`[]` for the crate root).
    module: Vec<String>,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_edge(rel: &str) -> bool {
    EDGES.iter().any(|e| {
        if e.ends_with('/') {
            rel.starts_with(e)
        } else {
            rel == *e
        }
    })
}

fn module_of(rel: &str) -> Vec<String> {
    let inner = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = inner.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap();
            out.push(Source {
                module: module_of(&rel),
                tokens: tokenize(&blank_non_code(&text)),
                rel,
            });
        }
    }
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    collect(&root.join("src"), root, &mut out);
    assert!(
        out.iter().any(|s| s.rel == "src/lib.rs"),
        "src/lib.rs not found"
    );
    out
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The text with comments, string literals and char literals replaced by
/// spaces (line breaks kept, so line numbers stay right).
fn blank_non_code(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        let prev_ident = i > 0 && ident_char(s[i - 1]);
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                blank(&mut out, s[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, s[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&s, i) {
            // r"…", r#"…"#, br"…": no escapes, ends at `"` + the same hashes.
            let start = i;
            while s[i] != '"' {
                i += 1;
            }
            i += 1;
            while i < s.len() {
                if s[i] == '"' && (0..hashes).all(|k| s.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            for &ch in &s[start..i.min(s.len())] {
                blank(&mut out, ch);
            }
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < s.len() && s[i] != '"' {
                if s[i] == '\\' {
                    blank(&mut out, s[i]);
                    i += 1;
                }
                if i < s.len() {
                    blank(&mut out, s[i]);
                    i += 1;
                }
            }
            if i < s.len() {
                blank(&mut out, s[i]);
                i += 1;
            }
        } else if c == '\'' && !prev_ident {
            // A char literal ('x', '\n', '\u{1F600}'), else a lifetime.
            let end = if next == Some('\\') {
                (i + 2..s.len()).find(|&j| s[j] == '\'')
            } else if s.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for &ch in &s[i..=e] {
                        blank(&mut out, ch);
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// If a raw (byte) string starts at `i`, the number of its `#`s.
fn raw_string_start(s: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if s.get(j) == Some(&'b') {
        j += 1;
    }
    if s.get(j) != Some(&'r') || (i > 0 && ident_char(s[i - 1])) {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while s.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (s.get(j) == Some(&'"')).then_some(hashes)
}

fn tokenize(code: &str) -> Vec<Token> {
    let s: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if ident_char(c) {
            let start = i;
            while i < s.len() && ident_char(s[i]) {
                i += 1;
            }
            let mut word: String = s[start..i].iter().collect();
            if word == "r" && s.get(i) == Some(&'#') {
                // A raw identifier: r#type.
                i += 1;
                let start = i;
                while i < s.len() && ident_char(s[i]) {
                    i += 1;
                }
                word = s[start..i].iter().collect();
            }
            out.push(Token {
                tok: Tok::Ident(word),
                line,
            });
        } else if c == ':' && s.get(i + 1) == Some(&':') {
            out.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    out
}

// ------------------------------------------------------------------ paths

/// One path found in a file, before resolution.
#[derive(Debug, Clone, PartialEq)]
struct RawPath {
    /// `crate`, `super`, `self` or another first segment (external crates
    /// and relative paths, which are not followed).
    segments: Vec<String>,
    /// The module the path is written in (file module + inline modules).
    scope: Vec<String>,
    line: usize,
}

fn ident(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn is(t: Option<&Token>, want: &Tok) -> bool {
    t.is_some_and(|t| &t.tok == want)
}

/// Expands the use tree starting at `i` (just after `use`) into paths;
/// returns the index after the closing `;`.
fn parse_use(
    toks: &[Token],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix;
    if is(toks.get(i), &Tok::PathSep) {
        // `use ::serde::…`: an external crate.
        path.push("::".into());
        i += 1;
    }
    loop {
        match toks.get(i).map(|t| &t.tok) {
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    if is(toks.get(i), &Tok::Punct('}')) {
                        return i + 1;
                    }
                    i = parse_use(toks, i, path.clone(), out);
                    if is(toks.get(i), &Tok::Punct(',')) {
                        i += 1;
                    }
                }
            }
            Some(Tok::Punct('*')) => {
                out.push(path);
                return i + 1;
            }
            Some(Tok::Ident(w)) => {
                // `self` inside a group names the group's prefix.
                if w != "self" || path.is_empty() {
                    path.push(w.clone());
                }
                i += 1;
                if is(toks.get(i), &Tok::PathSep) {
                    i += 1;
                    continue;
                }
                if ident(toks.get(i)) == Some("as") {
                    i += 2;
                }
                out.push(path);
                return i;
            }
            _ => return i,
        }
    }
}

/// Every `crate` / `super` / `self` path and every named identifier of a file.
fn paths_of(src: &Source) -> Vec<RawPath> {
    let toks = &src.tokens;
    let mut out = Vec::new();
    // Inline modules: (name, brace depth outside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let scope = |inline: &[(String, usize)]| {
        let mut m = src.module.clone();
        m.extend(inline.iter().map(|(n, _)| n.clone()));
        m
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        match &t.tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(name), true) = (
                    ident(toks.get(i + 1)),
                    is(toks.get(i + 2), &Tok::Punct('{')),
                ) {
                    inline.push((name.to_string(), depth));
                }
            }
            Tok::Ident(w) if w == "use" => {
                let mut trees = Vec::new();
                let end = parse_use(toks, i + 1, Vec::new(), &mut trees);
                let here = scope(&inline);
                for segments in trees {
                    out.push(RawPath {
                        segments,
                        scope: here.clone(),
                        line: t.line,
                    });
                }
                i = end;
                continue;
            }
            Tok::Ident(w)
                if matches!(w.as_str(), "crate" | "super" | "self")
                    && is(toks.get(i + 1), &Tok::PathSep)
                    && !(i > 0 && is(toks.get(i - 1), &Tok::Punct('$')))
                    && !(i > 0 && is(toks.get(i - 1), &Tok::PathSep)) =>
            {
                let mut segments = vec![w.clone()];
                let mut j = i + 1;
                while is(toks.get(j), &Tok::PathSep) {
                    match ident(toks.get(j + 1)) {
                        Some(s) => {
                            segments.push(s.to_string());
                            j += 2;
                        }
                        None => break,
                    }
                }
                out.push(RawPath {
                    segments,
                    scope: scope(&inline),
                    line: t.line,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The absolute module path a crate-relative path names, or `None` for
/// external crates and plain relative paths.
fn absolute(p: &RawPath) -> Option<Vec<String>> {
    let first = p.segments.first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" | "super" => p.scope.clone(),
        _ => return None,
    };
    let mut rest = &p.segments[1..];
    if first == "super" {
        base.pop();
        while rest.first().map(String::as_str) == Some("super") {
            base.pop();
            rest = &rest[1..];
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

// ------------------------------------------------------------------ graph

struct Edge {
    line: usize,
    path: String,
}

struct Graph {
    files: Vec<String>,
    /// from → to → the first place the import is written.
    edges: BTreeMap<String, BTreeMap<String, Edge>>,
    /// Domain files naming an edge: (file, what) → first line.
    violations: BTreeMap<(String, String), usize>,
}

fn build() -> Graph {
    let srcs = sources();
    let by_module: BTreeMap<Vec<String>, String> = srcs
        .iter()
        .filter(|s| s.rel != "src/main.rs")
        .map(|s| (s.module.clone(), s.rel.clone()))
        .collect();
    let mut g = Graph {
        files: srcs.iter().map(|s| s.rel.clone()).collect(),
        edges: BTreeMap::new(),
        violations: BTreeMap::new(),
    };
    for src in &srcs {
        let domain = !is_edge(&src.rel);
        if domain {
            for t in &src.tokens {
                if t.tok == Tok::Ident("axum".into()) {
                    g.violations
                        .entry((src.rel.clone(), "axum".into()))
                        .or_insert(t.line);
                }
            }
        }
        if src.rel == "src/main.rs" {
            continue;
        }
        for p in paths_of(src) {
            let Some(abs) = absolute(&p) else { continue };
            let target = (0..=abs.len())
                .rev()
                .find_map(|n| by_module.get(&abs[..n]).map(|f| (n, f)));
            let Some((n, file)) = target else { continue };
            if domain && n > 0 && FORBIDDEN_MODULES.contains(&abs[0].as_str()) {
                g.violations
                    .entry((src.rel.clone(), format!("crate::{}", abs[0])))
                    .or_insert(p.line);
            }
            if file == &src.rel {
                continue;
            }
            g.edges
                .entry(src.rel.clone())
                .or_default()
                .entry(file.clone())
                .or_insert(Edge {
                    line: p.line,
                    path: p.segments.join("::"),
                });
        }
    }
    g
}

/// Strongly connected parts of two or more files, each sorted.
fn circles(g: &Graph) -> Vec<Vec<String>> {
    // Tarjan's algorithm.
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on_stack.insert(v);
        if let Some(outs) = t.g.edges.get(v) {
            for w in outs.keys() {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if t.on_stack.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut part = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on_stack.remove(w);
                part.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if part.len() > 1 {
                part.sort();
                t.out.push(part);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for f in &g.files {
        if !t.index.contains_key(f.as_str()) {
            visit(&mut t, f);
        }
    }
    t.out.sort();
    t.out
}

/// A shortest cycle through the first file of a part, with its imports.
fn describe(g: &Graph, part: &[String]) -> String {
    let members: BTreeSet<&str> = part.iter().map(String::as_str).collect();
    let start = part[0].as_str();
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    let mut closing = None;
    'bfs: while let Some(v) = queue.pop_front() {
        for w in g.edges.get(v).into_iter().flat_map(|m| m.keys()) {
            let w = w.as_str();
            if !members.contains(w) {
                continue;
            }
            if w == start {
                closing = Some(v);
                break 'bfs;
            }
            if w != start && !prev.contains_key(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut chain = vec![start];
    let mut cur = closing.expect("a strongly connected part has a cycle");
    while cur != start {
        chain.push(cur);
        cur = prev[cur];
    }
    chain[1..].reverse();
    chain.push(start);
    let mut s = format!("  circle of {} files: {}\n", part.len(), part.join(", "));
    for w in chain.windows(2) {
        let e = &g.edges[w[0]][w[1]];
        let _ = writeln!(s, "    {}:{} -> {} (`{}`)", w[0], e.line, w[1], e.path);
    }
    s
}

// ------------------------------------------------------------------ tests

#[test]
fn domain_rooms_do_not_name_the_edges() {
    let g = build();
    let known: BTreeSet<(String, String)> = KNOWN_VIOLATIONS
        .iter()
        .map(|(f, w)| (f.to_string(), w.to_string()))
        .collect();
    let mut report = String::new();
    for ((file, what), line) in &g.violations {
        if !known.contains(&(file.clone(), what.clone())) {
            let _ = writeln!(report, "  {file}:{line} names `{what}`");
        }
    }
    let mut stale = String::new();
    for (file, what) in &known {
        if !g.violations.contains_key(&(file.clone(), what.clone())) {
            let _ = writeln!(stale, "  ({file:?}, {what:?})");
        }
    }
    assert!(
        report.is_empty() && stale.is_empty(),
        "domain rooms must not name crate::api, crate::socket or axum\n\
         new violations:\n{report}\
         entries of KNOWN_VIOLATIONS that no longer occur (remove them):\n{stale}"
    );
}

#[test]
fn no_import_circles() {
    let g = build();
    let found = circles(&g);
    let known: Vec<Vec<String>> = KNOWN_CIRCLES
        .iter()
        .map(|c| {
            let mut v: Vec<String> = c.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        })
        .collect();
    let mut report = String::new();
    for part in found.iter().filter(|p| !known.contains(p)) {
        report.push_str(&describe(&g, part));
    }
    let mut stale = String::new();
    for c in known.iter().filter(|c| !found.contains(c)) {
        let _ = writeln!(stale, "  {c:?}");
    }
    assert!(
        report.is_empty() && stale.is_empty(),
        "files must not import each other in a circle\n\
         new circles:\n{report}\
         entries of KNOWN_CIRCLES that no longer occur exactly (update them):\n{stale}"
    );
}

// The reader itself.

fn paths_in(module: &[&str], code: &str) -> Vec<Vec<String>> {
    let src = Source {
        rel: "src/x.rs".into(),
        module: module.iter().map(|s| s.to_string()).collect(),
        tokens: tokenize(&blank_non_code(code)),
    };
    paths_of(&src).iter().filter_map(absolute).collect()
}

fn p(s: &str) -> Vec<String> {
    s.split("::")
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn reader_expands_use_trees_and_resolves_super() {
    let found = paths_in(
        &["rag", "context"],
        "use crate::db::{files, knowledge::{self, RESOURCE}};\n\
         pub(crate) use super::Hit;\n\
         use std::io;\n\
         use chunk::x;\n\
         fn f() { crate::api::files::resolve(); let _ = super::super::llm::X; self::g(); }\n\
         mod tests { use super::*; }\n",
    );
    assert_eq!(
        found,
        vec![
            p("db::files"),
            p("db::knowledge"),
            p("db::knowledge::RESOURCE"),
            p("rag::Hit"),
            p("api::files::resolve"),
            p("llm::X"),
            p("rag::context::g"),
            p("rag::context"),
        ]
    );
}

#[test]
fn reader_ignores_comments_strings_and_macro_crates() {
    let found = paths_in(
        &["a"],
        "// crate::api::x\n/* crate::api /* nested */ crate::socket */\n\
         let s = \"crate::api::y\"; let r = r#\"crate::api \"# ; let c = '\"';\n\
         let l: &'static str = x; $crate::z::w(); <T as ::crate_x::Y>;\n\
         crate::db::ok();\n",
    );
    assert_eq!(found, vec![p("db::ok")]);
}
