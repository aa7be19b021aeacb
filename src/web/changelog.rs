//! Turns the bundled `CHANGELOG.md` (Keep a Changelog layout) into the JSON
//! object served by `/api/changelog`:
//!
//! ```text
//! { "<version>": { "date": "<date>",
//!                  "<section, lower-case>": [ { "title", "content", "raw" }, ... ],
//!                  ... },
//!   ... }
//! ```
//!
//! Versions and sections keep the file's order. For each list item `raw` is
//! the item rendered as an HTML `<li>` element (the frontend displays this),
//! `content` its plain text (text runs trimmed and joined by single spaces),
//! and `title` the part before the first `": "` of that text when there is one.
//!
//! Only the Markdown that changelogs use is understood: `##`/`###` headings,
//! `-`/`*`/`+` list items (with nested items indented by four or more
//! spaces), `**strong**`, `*em*`/`_em_`, `` `code` ``, `[links](url)`,
//! `<https://autolinks>`, backslash escapes and character references. Inline
//! HTML is shown as text.

use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Parses a changelog. See the module documentation for the shape.
pub fn changelog_json(md: &str) -> Value {
    let mut versions = Map::new();
    let mut version: Option<(String, Map<String, Value>)> = None;
    let mut section: Option<(String, Vec<Item>)> = None;
    let mut item: Option<Item> = None;

    let finish_item = |item: &mut Option<Item>, section: &mut Option<(String, Vec<Item>)>| {
        if let (Some(it), Some((_, items))) = (item.take(), section.as_mut()) {
            items.push(it);
        }
    };
    let finish_section =
        |section: &mut Option<(String, Vec<Item>)>,
         version: &mut Option<(String, Map<String, Value>)>| {
            if let (Some((name, items)), Some((_, map))) = (section.take(), version.as_mut()) {
                let mut list = Vec::new();
                for it in items {
                    it.flatten_into(&mut list);
                }
                map.insert(name, Value::Array(list));
            }
        };

    for line in md.lines() {
        let trimmed_end = line.trim_end();
        if let Some(text) = heading(trimmed_end, 2) {
            finish_item(&mut item, &mut section);
            finish_section(&mut section, &mut version);
            if let Some((name, map)) = version.take() {
                versions.insert(name, Value::Object(map));
            }
            let (name, date) = split_version_heading(&plain_text(text));
            let mut map = Map::new();
            map.insert("date".into(), Value::String(date));
            version = Some((name, map));
        } else if let Some(text) = heading(trimmed_end, 3) {
            finish_item(&mut item, &mut section);
            finish_section(&mut section, &mut version);
            if version.is_some() {
                section = Some((plain_text(text).to_lowercase(), Vec::new()));
            }
        } else if trimmed_end.starts_with('#') && heading_level(trimmed_end).is_some() {
            // Any other heading ends the current list.
            finish_item(&mut item, &mut section);
        } else if let Some((indent, text)) = list_marker(trimmed_end) {
            if indent >= 4 {
                if let Some(parent) = item.as_mut() {
                    parent.children.push(text.to_string());
                    continue;
                }
            }
            finish_item(&mut item, &mut section);
            if section.is_some() {
                item = Some(Item {
                    text: text.to_string(),
                    children: Vec::new(),
                });
            }
        } else if trimmed_end.trim().is_empty() {
            // Blank lines between items do not end the list.
        } else if let Some(it) = item.as_mut() {
            // Continuation of the previous item (or of its last nested item).
            let target = it.children.last_mut().unwrap_or(&mut it.text);
            target.push('\n');
            target.push_str(trimmed_end.trim_start());
        }
    }
    finish_item(&mut item, &mut section);
    finish_section(&mut section, &mut version);
    if let Some((name, map)) = version.take() {
        versions.insert(name, Value::Object(map));
    }
    Value::Object(versions)
}

/// The parsed changelog embedded in the binary, computed once.
/// `Value::Object` (empty when the frontend is not built).
pub fn cached() -> &'static Value {
    static CACHE: OnceLock<Value> = OnceLock::new();
    CACHE.get_or_init(|| match super::changelog_markdown() {
        Some(md) => changelog_json(&md),
        None => Value::Object(Map::new()),
    })
}

/// The `n` newest versions of the cached changelog (the API answers 5).
pub fn latest(n: usize) -> Value {
    match cached() {
        Value::Object(map) => Value::Object(
            map.iter()
                .take(n)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

struct Item {
    text: String,
    children: Vec<String>,
}

impl Item {
    /// Emits this item followed by its nested items, each as its own entry.
    fn flatten_into(self, out: &mut Vec<Value>) {
        let (mut raw, texts) = render_item(&self.text);
        let mut nested = Vec::new();
        if !self.children.is_empty() {
            raw.truncate(raw.len() - "</li>".len());
            raw.push_str("<ul>");
            let mut all_texts = texts.clone();
            for child in &self.children {
                let (child_raw, child_texts) = render_item(child);
                raw.push_str(&child_raw);
                all_texts.extend(child_texts.iter().cloned());
                nested.push(entry(child_raw, &child_texts));
            }
            raw.push_str("</ul></li>");
            out.push(entry(raw, &all_texts));
        } else {
            out.push(entry(raw, &texts));
        }
        out.extend(nested);
    }
}

fn entry(raw: String, texts: &[String]) -> Value {
    let text = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let (title, content) = match text.split_once(": ") {
        Some((title, content)) => (title.trim().to_string(), content.trim().to_string()),
        None => (String::new(), text.clone()),
    };
    json!({ "title": title, "content": content, "raw": raw })
}

fn heading_level(line: &str) -> Option<usize> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' '))).then_some(level)
}

/// Text of an ATX heading of exactly `level`, without closing hashes.
fn heading(line: &str, level: usize) -> Option<&str> {
    if heading_level(line) != Some(level) {
        return None;
    }
    let text = line[level..].trim();
    Some(text.trim_end_matches('#').trim_end())
}

/// "[1.2.3] - 2024-01-31" → ("1.2.3", "2024-01-31").
fn split_version_heading(text: &str) -> (String, String) {
    let text = text.trim();
    let (version, date) = match text.split_once(" - ") {
        Some((v, rest)) => (v.trim(), rest.split(" - ").next().unwrap_or("").trim()),
        None => (text, ""),
    };
    let version = version
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(version);
    (version.to_string(), date.to_string())
}

/// A list item line: returns (indent, text after the marker).
fn list_marker(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let mut chars = rest.chars();
    let marker = chars.next()?;
    if !matches!(marker, '-' | '*' | '+') {
        return None;
    }
    let after = &rest[1..];
    if !after.starts_with(' ') && !after.starts_with('\t') {
        return None;
    }
    let text = after.trim_start();
    // "- - -" / "***" style rules are not list items worth keeping.
    if text.is_empty() {
        return None;
    }
    Some((indent, text))
}

fn plain_text(markdown: &str) -> String {
    let mut r = Renderer::default();
    r.inline(markdown);
    r.flush();
    r.texts.concat()
}

/// Renders one list item: (`<li>…</li>`, text runs).
fn render_item(markdown: &str) -> (String, Vec<String>) {
    let mut r = Renderer::default();
    r.html.push_str("<li>");
    r.inline(markdown);
    r.flush();
    r.html.push_str("</li>");
    (r.html, r.texts)
}

/// Characters a backslash makes literal (anything else keeps the backslash).
const ESCAPABLE: &str = "\\`*_{}[]()<>#+-.!";

#[derive(Default)]
struct Renderer {
    html: String,
    texts: Vec<String>,
    run: String,
}

impl Renderer {
    fn text(&mut self, s: &str) {
        self.run.push_str(s);
        escape_into(&mut self.html, s, false);
    }

    fn char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.text(c.encode_utf8(&mut buf));
    }

    /// Ends the current text run (at an element boundary).
    fn flush(&mut self) {
        if !self.run.is_empty() {
            self.texts.push(std::mem::take(&mut self.run));
        }
    }

    fn open(&mut self, tag: &str) {
        self.flush();
        self.html.push('<');
        self.html.push_str(tag);
        self.html.push('>');
    }

    fn close(&mut self, tag: &str) {
        self.flush();
        self.html.push_str("</");
        self.html.push_str(tag);
        self.html.push('>');
    }

    fn inline(&mut self, s: &str) {
        let mut i = 0;
        while i < s.len() {
            let rest = &s[i..];
            let c = rest.chars().next().expect("non-empty");
            match c {
                '\\' => {
                    if let Some(next) = rest[1..].chars().next().filter(|n| ESCAPABLE.contains(*n))
                    {
                        self.char(next);
                        i += 1 + next.len_utf8();
                    } else {
                        self.char('\\');
                        i += 1;
                    }
                }
                '`' => {
                    let ticks = rest.bytes().take_while(|b| *b == b'`').count();
                    let fence = &rest[..ticks];
                    match find_closing_ticks(&rest[ticks..], ticks) {
                        Some(end) => {
                            let code = rest[ticks..ticks + end].trim();
                            self.open("code");
                            self.text(code);
                            self.close("code");
                            i += ticks + end + ticks;
                        }
                        None => {
                            self.text(fence);
                            i += ticks;
                        }
                    }
                }
                '*' | '_' => {
                    let run = rest.bytes().take_while(|b| *b == c as u8).count();
                    let prev = s[..i].chars().next_back();
                    if let Some(consumed) = self.emphasis(s, i, c, run.min(2), prev) {
                        i += consumed;
                    } else {
                        self.text(&rest[..run]);
                        i += run;
                    }
                }
                '[' => match parse_link(rest) {
                    Some((label, url, consumed)) => {
                        self.flush();
                        self.html.push_str("<a href=\"");
                        escape_into(&mut self.html, &decode_references(url), true);
                        self.html.push_str("\">");
                        self.inline(label);
                        self.close("a");
                        i += consumed;
                    }
                    None => {
                        self.char('[');
                        i += 1;
                    }
                },
                '<' => match parse_autolink(rest) {
                    Some((url, consumed)) => {
                        self.flush();
                        self.html.push_str("<a href=\"");
                        escape_into(&mut self.html, url, true);
                        self.html.push_str("\">");
                        self.text(url);
                        self.close("a");
                        i += consumed;
                    }
                    None => {
                        self.char('<');
                        i += 1;
                    }
                },
                '&' => match parse_reference(rest) {
                    Some((decoded, consumed)) => {
                        self.char(decoded);
                        i += consumed;
                    }
                    None => {
                        self.char('&');
                        i += 1;
                    }
                },
                _ => {
                    // Copy a stretch of ordinary characters at once.
                    let len = rest
                        .find(['\\', '`', '*', '_', '[', '<', '&'])
                        .unwrap_or(rest.len())
                        .max(c.len_utf8());
                    self.text(&rest[..len]);
                    i += len;
                }
            }
        }
    }

    /// Tries `**x**` / `__x__` (n = 2) or `*x*` / `_x_` (n = 1) at `s[i..]`.
    /// Returns the number of bytes consumed.
    fn emphasis(
        &mut self,
        s: &str,
        i: usize,
        c: char,
        n: usize,
        prev: Option<char>,
    ) -> Option<usize> {
        let delim = &s[i..i + n];
        let body_start = i + n;
        let first = s[body_start..].chars().next()?;
        if first.is_whitespace() || first == c {
            return None;
        }
        // Underscores inside words (snake_case) are never emphasis.
        if c == '_' && prev.is_some_and(|p| p.is_alphanumeric()) {
            return None;
        }
        let mut search = body_start;
        while let Some(pos) = s[search..].find(delim) {
            let close = search + pos;
            let before = s[..close].chars().next_back();
            let after = s[close + n..].chars().next();
            let escaped = s[..close].ends_with('\\');
            let ok = close > body_start
                && !escaped
                && before.is_some_and(|b| !b.is_whitespace())
                && (c != '_' || !after.is_some_and(|a| a.is_alphanumeric()))
                // A single delimiter never closes inside a longer run (`**`).
                && (n == 2 || (after != Some(c) && before != Some(c)));
            if ok {
                let tag = if n == 2 { "strong" } else { "em" };
                self.open(tag);
                self.inline(&s[body_start..close]);
                self.close(tag);
                return Some(close + n - i);
            }
            search = close + n;
        }
        None
    }
}

fn find_closing_ticks(s: &str, ticks: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let run = bytes[i..].iter().take_while(|b| **b == b'`').count();
            if run == ticks {
                return Some(i);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    None
}

/// `[label](url "title")` at the start of `s`: (label, url, bytes consumed).
fn parse_link(s: &str) -> Option<(&str, &str, usize)> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let label_end = loop {
        match bytes.get(i)? {
            b'\\' => i += 1,
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    break i;
                }
            }
            _ => {}
        }
        i += 1;
    };
    if bytes.get(label_end + 1) != Some(&b'(') {
        return None;
    }
    let dest_start = label_end + 2;
    let mut depth = 1usize;
    let mut j = dest_start;
    let dest_end = loop {
        match bytes.get(j)? {
            b'\\' => j += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break j;
                }
            }
            _ => {}
        }
        j += 1;
    };
    let inner = s[dest_start..dest_end].trim();
    // `<url with spaces>`, or a bare url; an optional "title" follows.
    let url = if let Some(bracketed) = inner.strip_prefix('<') {
        &bracketed[..bracketed.find('>')?]
    } else {
        match inner.find([' ', '\t']) {
            Some(space) if inner[space..].trim_start().starts_with(['"', '\'']) => &inner[..space],
            _ => inner,
        }
    };
    Some((&s[1..label_end], url, dest_end + 1))
}

fn parse_autolink(s: &str) -> Option<(&str, usize)> {
    let end = s.find('>')?;
    let url = &s[1..end];
    let is_url = ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| url.starts_with(p));
    (is_url && !url.contains([' ', '<', '\n'])).then_some((url, end + 1))
}

/// A character reference (`&amp;`, `&#39;`, `&#x27;`) at the start of `s`.
fn parse_reference(s: &str) -> Option<(char, usize)> {
    let end = s[..s.len().min(12)].find(';')?;
    let name = &s[1..end];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(code)?
    } else {
        match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => '\u{a0}',
            "copy" => '\u{a9}',
            "reg" => '\u{ae}',
            "trade" => '\u{2122}',
            "hellip" => '\u{2026}',
            "mdash" => '\u{2014}',
            "ndash" => '\u{2013}',
            "rarr" => '\u{2192}',
            "larr" => '\u{2190}',
            _ => return None,
        }
    };
    Some((c, end + 1))
}

fn decode_references(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with('&') {
            if let Some((c, used)) = parse_reference(rest) {
                out.push(c);
                i += used;
                continue;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn escape_into(out: &mut String, s: &str, attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# Changelog

Intro text with a [link](https://example.org).

## [2.1.0] - 2030-02-03

### Added

- 🚀 **Faster widgets.** Widgets render `twice` as fast. [Commit](https://example.org/c/1), [#12](https://example.org/i/12)
- **Config flag**: set MY_FLAG_NAME to *enable* it; a & b < c.

### Fixed

- Plain fix without title
  continued on the next line.

## [2.0.0] - 2030-01-01

### Changed

- **⬆️ Updates**
    - Bumped 'left-pad' to 2.
- Escaped \*stars\* and &quot;quotes&quot;, snake_case_name stays, <https://example.com/x?a=1&b=2>

### Removed

- Old thing.
"#;

    #[test]
    fn versions_and_sections_keep_order() {
        let v = changelog_json(SAMPLE);
        let versions: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(versions, ["2.1.0", "2.0.0"]);
        let first: Vec<&String> = v["2.1.0"].as_object().unwrap().keys().collect();
        assert_eq!(first, ["date", "added", "fixed"]);
        assert_eq!(v["2.1.0"]["date"], "2030-02-03");
        let second: Vec<&String> = v["2.0.0"].as_object().unwrap().keys().collect();
        assert_eq!(second, ["date", "changed", "removed"]);
    }

    #[test]
    fn item_without_colon_has_empty_title() {
        let v = changelog_json(SAMPLE);
        let item = &v["2.1.0"]["added"][0];
        assert_eq!(item["title"], "");
        assert_eq!(
            item["raw"],
            "<li>🚀 <strong>Faster widgets.</strong> Widgets render <code>twice</code> as fast. \
<a href=\"https://example.org/c/1\">Commit</a>, <a href=\"https://example.org/i/12\">#12</a></li>"
        );
        assert_eq!(
            item["content"],
            "🚀 Faster widgets. Widgets render twice as fast. Commit , #12"
        );
    }

    #[test]
    fn item_with_colon_is_split() {
        let v = changelog_json(SAMPLE);
        let item = &v["2.1.0"]["added"][1];
        assert_eq!(item["title"], "Config flag");
        assert_eq!(item["content"], "set MY_FLAG_NAME to enable it; a & b < c.");
        assert_eq!(
            item["raw"],
            "<li><strong>Config flag</strong>: set MY_FLAG_NAME to <em>enable</em> it; a &amp; b &lt; c.</li>"
        );
    }

    #[test]
    fn continuation_lines_join_the_item() {
        let v = changelog_json(SAMPLE);
        let items = v["2.1.0"]["fixed"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0]["content"],
            "Plain fix without title\ncontinued on the next line."
        );
    }

    #[test]
    fn nested_items_are_listed_after_their_parent() {
        let v = changelog_json(SAMPLE);
        let items = v["2.0.0"]["changed"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0]["raw"],
            "<li><strong>⬆️ Updates</strong><ul><li>Bumped 'left-pad' to 2.</li></ul></li>"
        );
        assert_eq!(items[0]["content"], "⬆️ Updates Bumped 'left-pad' to 2.");
        assert_eq!(items[1]["raw"], "<li>Bumped 'left-pad' to 2.</li>");
    }

    #[test]
    fn escapes_references_and_autolinks() {
        let v = changelog_json(SAMPLE);
        let item = &v["2.0.0"]["changed"][2];
        assert_eq!(
            item["raw"],
            "<li>Escaped *stars* and \"quotes\", snake_case_name stays, \
<a href=\"https://example.com/x?a=1&amp;b=2\">https://example.com/x?a=1&amp;b=2</a></li>"
        );
        assert_eq!(
            item["content"],
            "Escaped *stars* and \"quotes\", snake_case_name stays, https://example.com/x?a=1&b=2"
        );
    }

    #[test]
    fn inline_html_is_text() {
        let v =
            changelog_json("## [1.0.0] - 2020-01-01\n### Fixed\n- The <think> tag & <b>bold</b>\n");
        assert_eq!(
            v["1.0.0"]["fixed"][0]["raw"],
            "<li>The &lt;think&gt; tag &amp; &lt;b&gt;bold&lt;/b&gt;</li>"
        );
    }

    #[test]
    fn emphasis_edge_cases() {
        let (html, _) = render_item("a ** b ** c");
        assert_eq!(html, "<li>a ** b ** c</li>");
        let (html, _) = render_item("**unclosed");
        assert_eq!(html, "<li>**unclosed</li>");
        let (html, _) = render_item("2 * 3 * 4");
        assert_eq!(html, "<li>2 * 3 * 4</li>");
        let (html, _) = render_item("__init__ and _em_");
        assert_eq!(html, "<li><strong>init</strong> and <em>em</em></li>");
        let (html, _) = render_item("**bold with `code`** and `` a`b ``");
        assert_eq!(
            html,
            "<li><strong>bold with <code>code</code></strong> and <code>a`b</code></li>"
        );
        let (html, _) = render_item("[not a link] and [x](<https://e.org/a b> \"t\")");
        assert_eq!(
            html,
            "<li>[not a link] and <a href=\"https://e.org/a b\">x</a></li>"
        );
        let (html, _) = render_item(r"a '\' and \\ and \q");
        assert_eq!(html, r"<li>a '\' and \ and \q</li>");
    }

    #[test]
    fn empty_and_odd_input() {
        assert_eq!(changelog_json(""), json!({}));
        let v = changelog_json("## Unreleased\n### Added\n- x\n");
        assert_eq!(v["Unreleased"]["date"], "");
        assert_eq!(v["Unreleased"]["added"][0]["content"], "x");
        // Items before any version are ignored.
        assert_eq!(changelog_json("- stray\n### Added\n- x\n"), json!({}));
    }
}
