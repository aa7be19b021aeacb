//! Skills moving in and out of the workspace as packages: a JSON export (one
//! skill or a list), a ZIP / `.skill` archive of skill folders, a lone
//! Markdown file taken as `SKILL.md`, or the files of a folder picked in the
//! browser (each named by its path inside the folder); and the ZIP export
//! with one folder per skill. Archives are read in memory and never unpacked
//! to disk; entry counts and sizes are bounded before and while reading.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use serde_json::{json, Map, Value};

use crate::db::skills::{file_bytes, validate_files, validate_path, MAX_FILE_BYTES};

/// Everything one import may carry, raw and decoded.
pub const MAX_IMPORT_BYTES: usize = 200 * 1024 * 1024;
/// Uploaded files per import, and entries per archive.
pub const MAX_IMPORT_ENTRIES: usize = 10_000;

const TOO_LARGE: &str = "The import is larger than 200 MiB";

/// One skill read from an upload, before the caller decides what to do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub description: Value,
    pub meta: Value,
    pub is_active: Option<bool>,
    /// Validated and sorted by path; `SKILL.md` is among them.
    pub files: Vec<Value>,
}

impl Package {
    /// The package as upstream returns it: id, name, description, meta,
    /// `is_active` when the source gave one, and the files.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "meta": self.meta,
        });
        if let Some(a) = self.is_active {
            v["is_active"] = json!(a);
        }
        v["files"] = json!(self.files);
        v
    }
}

/// A file entry from raw bytes: text when they are UTF-8 without NUL bytes,
/// base64 otherwise.
pub fn encode_file(path: &str, data: &[u8]) -> Value {
    match std::str::from_utf8(data) {
        Ok(text) if !text.contains('\0') => json!({"path": path, "content": text}),
        _ => {
            use base64::Engine;
            json!({
                "path": path,
                "content": base64::engine::general_purpose::STANDARD.encode(data),
                "encoding": "base64",
            })
        }
    }
}

/// All uploads of one import request, `(file name, bytes)`: names holding a
/// `/` are files of a picked folder, the others are packages of their own.
pub fn read_uploads(uploads: Vec<(String, Vec<u8>)>) -> Result<Vec<Package>, String> {
    if uploads.len() > MAX_IMPORT_ENTRIES {
        return Err("Too many files were uploaded".into());
    }
    let mut packages = Vec::new();
    let mut folder: Vec<Value> = Vec::new();
    for (name, data) in uploads {
        if name.contains('/') {
            validate_path(&name)?;
            folder.push(encode_file(&name, &data));
        } else {
            packages.extend(parse_import(&data, &name)?);
        }
    }
    if !folder.is_empty() {
        let paths: Vec<&str> = folder
            .iter()
            .filter_map(|f| f.get("path").and_then(Value::as_str))
            .collect();
        let roots = outermost_roots(paths.iter().copied());
        if roots.is_empty() {
            return Err("Pick a folder that holds one or more skills side by side".into());
        }
        if paths
            .iter()
            .any(|p| !roots.iter().any(|r| p.starts_with(r.as_str())))
        {
            return Err("Some picked files lie outside every skill folder".into());
        }
        let sets: Vec<Value> = roots
            .iter()
            .map(|root| {
                let files: Vec<Value> = folder
                    .iter()
                    .filter_map(|f| {
                        let p = f.get("path")?.as_str()?;
                        let rel = p.strip_prefix(root.as_str())?;
                        let mut f = f.clone();
                        f["path"] = json!(rel);
                        Some(f)
                    })
                    .collect();
                json!({ "files": files })
            })
            .collect();
        packages.extend(packages_from_values(sets)?);
    }
    let decoded: usize = packages
        .iter()
        .flat_map(|p| p.files.iter())
        .map(|f| file_bytes(f).len())
        .sum();
    if decoded > MAX_IMPORT_BYTES {
        return Err(TOO_LARGE.into());
    }
    Ok(packages)
}

/// The folders (`"a/b/"`, or `""` for the top) that hold a `SKILL.md`, sorted,
/// without those nested inside another.
fn outermost_roots<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut roots: Vec<String> = paths
        .filter_map(|p| {
            if p == "SKILL.md" {
                Some(String::new())
            } else {
                p.strip_suffix("/SKILL.md").map(|d| format!("{d}/"))
            }
        })
        .collect();
    roots.sort();
    roots.dedup();
    let all = roots.clone();
    roots.retain(|r| !all.iter().any(|p| p != r && r.starts_with(p.as_str())));
    roots
}

/// How an archive downloaded from a URL is read: any folder holding a
/// `SKILL.md` is a skill and other files are passed over (a repository
/// holds more than skills); with `directory`, the archive's top folder is
/// dropped and only paths under `directory` are read (a GitHub download of
/// one folder of a repository).
#[derive(Debug, Clone, Default)]
pub struct Discover {
    pub directory: Option<String>,
}

/// One uploaded file: JSON (a skill or a list), ZIP / `.skill`, or Markdown.
pub fn parse_import(data: &[u8], filename: &str) -> Result<Vec<Package>, String> {
    parse_import_with(data, filename, None)
}

/// [`parse_import`], reading archives as `discover` says when given.
pub fn parse_import_with(
    data: &[u8],
    filename: &str,
    discover: Option<&Discover>,
) -> Result<Vec<Package>, String> {
    if data.len() > MAX_IMPORT_BYTES {
        return Err(TOO_LARGE.into());
    }
    let lower = filename.to_lowercase();
    let values = if lower.ends_with(".json") {
        match serde_json::from_slice::<Value>(data) {
            Ok(Value::Array(list)) => list,
            Ok(one) => vec![one],
            Err(e) => return Err(format!("The JSON file could not be read: {e}")),
        }
    } else if lower.ends_with(".zip") || lower.ends_with(".skill") {
        archive_packages(data, discover)?
    } else if lower.ends_with(".md") {
        vec![json!({"files": [encode_file("SKILL.md", data)]})]
    } else {
        return Err("Import a JSON, ZIP, .skill or Markdown file".into());
    };
    packages_from_values(values)
}

/// The skill folders of a ZIP archive, as `{"files": [...]}` values.
fn archive_packages(data: &[u8], discover: Option<&Discover>) -> Result<Vec<Value>, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(data))
        .map_err(|_| "The archive is not a readable ZIP file".to_string())?;
    if zip.len() > MAX_IMPORT_ENTRIES {
        return Err("The archive holds too many entries".into());
    }
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut links: Vec<String> = Vec::new();
    let mut total = 0usize;
    for i in 0..zip.len() {
        let (path, is_dir, declared) = {
            let f = zip
                .by_index_raw(i)
                .map_err(|_| "The archive is damaged".to_string())?;
            let name = f
                .name()
                .map_err(|_| "The archive holds an unreadable name".to_string())?;
            let path = name.trim_end_matches('/').to_string();
            validate_path(&path)?;
            let kind = f.unix_mode().unwrap_or(0) & 0o170000;
            let special = !matches!(kind, 0 | 0o100000 | 0o040000);
            if special && discover.is_none() {
                return Err("Archives may not hold links or special files".into());
            }
            let path = match discover.and_then(|d| d.directory.as_deref()) {
                Some(dir) => match path.split_once('/') {
                    Some((_, inner)) if inner.starts_with(dir) => inner.to_string(),
                    _ => continue,
                },
                None => path,
            };
            if special {
                links.push(path);
                continue;
            }
            if f.encrypted() {
                return Err("Encrypted archives cannot be imported".into());
            }
            (path, f.is_dir(), f.size())
        };
        if is_dir {
            continue;
        }
        if entries.contains_key(&path) {
            return Err(format!("The archive holds {path} twice"));
        }
        let budget = MAX_FILE_BYTES.min(MAX_IMPORT_BYTES - total);
        if declared > budget as u64 {
            return Err("The archive is larger than an import may be".into());
        }
        let mut f = zip.by_index(i).map_err(|_| {
            "The archive uses a compression method this server cannot read".to_string()
        })?;
        let mut buf = Vec::new();
        (&mut f)
            .take(budget as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|_| format!("The archive entry {path} is damaged"))?;
        if buf.len() > budget {
            return Err("The archive is larger than an import may be".into());
        }
        total += buf.len();
        entries.insert(path, buf);
    }
    let roots = if entries.contains_key("SKILL.md") {
        vec![String::new()]
    } else {
        outermost_roots(entries.keys().map(String::as_str))
    };
    if roots.is_empty() {
        return Err("The archive holds no SKILL.md".into());
    }
    if links
        .iter()
        .any(|l| roots.iter().any(|r| l.starts_with(r.as_str())))
    {
        return Err("Archives may not hold links or special files".into());
    }
    if discover.is_none()
        && entries
            .keys()
            .any(|p| !roots.iter().any(|r| p.starts_with(r.as_str())))
    {
        return Err("The archive holds files outside its skill folders".into());
    }
    Ok(roots
        .iter()
        .map(|root| {
            let files: Vec<Value> = entries
                .iter()
                .filter_map(|(p, data)| Some(encode_file(p.strip_prefix(root.as_str())?, data)))
                .collect();
            json!({ "files": files })
        })
        .collect())
}

/// Packages from JSON values: validated files (or `content` as `SKILL.md`),
/// and an id, name and description taken from the value or else from the
/// `SKILL.md` front matter.
fn packages_from_values(values: Vec<Value>) -> Result<Vec<Package>, String> {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let Value::Object(o) = v else {
            return Err("Each imported skill must be a JSON object".into());
        };
        let files = match o.get("files") {
            Some(Value::Array(list)) => list.clone(),
            Some(_) => return Err("A skill's files must be a list".into()),
            None => vec![json!({
                "path": "SKILL.md",
                "content": o.get("content").and_then(Value::as_str).unwrap_or(""),
            })],
        };
        let files = validate_files(&files, &[])?;
        total += files.iter().map(|f| file_bytes(f).len()).sum::<usize>();
        if total > MAX_IMPORT_BYTES {
            return Err(TOO_LARGE.into());
        }
        let fm = frontmatter(&crate::db::skills::main_content(&files));
        let truthy = |v: Option<&Value>| match v {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::Bool(false)) => None,
            Some(v) => Some(v.clone()),
        };
        let name = truthy(o.get("name"))
            .or_else(|| truthy(fm.get("name")))
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_else(|| "Imported skill".into());
        let id = match truthy(o.get("id")) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => slug(&name),
        };
        let description = match o.get("description") {
            Some(d) => d.clone(),
            None => fm.get("description").cloned().unwrap_or(json!("")),
        };
        out.push(Package {
            id,
            name,
            description,
            meta: truthy(o.get("meta")).unwrap_or_else(|| json!({})),
            is_active: o.get("is_active").and_then(Value::as_bool),
            files,
        });
    }
    Ok(out)
}

/// A skill id made from a name: lowercase, runs of other characters as `-`.
fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "imported-skill".into()
    } else {
        s
    }
}

/// The top-level `key: value` scalars of a leading `---` front matter block
/// (plain or quoted; `|` / `>` blocks joined). Anything else is skipped.
pub fn frontmatter(content: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut lines = content
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l));
    if lines.next().map(str::trim_end) != Some("---") {
        return out;
    }
    let mut body: Vec<&str> = Vec::new();
    let mut closed = false;
    for l in lines {
        if l.trim_end() == "---" {
            closed = true;
            break;
        }
        body.push(l);
    }
    if !closed {
        return out;
    }
    let mut i = 0;
    while i < body.len() {
        let line = body[i];
        i += 1;
        if line.starts_with([' ', '\t', '#', '-']) || line.trim().is_empty() {
            continue;
        }
        let Some((key, raw)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let raw = raw.trim();
        let value = if raw.starts_with('|') || raw.starts_with('>') {
            let mut parts = Vec::new();
            while i < body.len() && (body[i].starts_with([' ', '\t']) || body[i].trim().is_empty())
            {
                parts.push(body[i].trim());
                i += 1;
            }
            let sep = if raw.starts_with('|') { "\n" } else { " " };
            Some(json!(parts.join(sep).trim().to_string()))
        } else if raw.is_empty() {
            None
        } else {
            Some(json!(unquote(raw)))
        };
        if let Some(v) = value {
            out.insert(key.to_string(), v);
        }
    }
    out
}

fn unquote(raw: &str) -> String {
    let b = raw.as_bytes();
    match b.first() {
        Some(b'\'') => {
            // Up to the closing quote; `''` stands for one quote.
            let mut out = String::new();
            let mut chars = raw[1..].chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(c);
            }
            out
        }
        Some(b'"') => {
            let mut end = None;
            let mut i = 1;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 1,
                    b'"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
            match end {
                Some(end) => serde_json::from_str::<String>(&raw[..=end])
                    .unwrap_or_else(|_| raw[1..end].to_string()),
                None => raw[1..].to_string(),
            }
        }
        // A trailing comment after a plain value.
        _ => match raw.find(" #") {
            Some(i) => raw[..i].trim_end().to_string(),
            None => raw.to_string(),
        },
    }
}

/// A ZIP with one folder per skill (`(id, files)`): named after the
/// `SKILL.md` front matter `name` when it is a plain lowercase slug,
/// otherwise after the id.
pub fn zip_export(skills: &[(String, Vec<Value>)]) -> Result<Vec<u8>, String> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut roots = std::collections::HashSet::new();
    let failed = |_| "The export archive could not be written".to_string();
    for (id, files) in skills {
        let fm = frontmatter(&crate::db::skills::main_content(files));
        let root = match fm.get("name").and_then(Value::as_str) {
            Some(n) if is_slug(n) => n.to_string(),
            _ => id.clone(),
        };
        validate_path(&root)?;
        if !roots.insert(root.clone()) {
            return Err("Two of the selected skills would export to the same folder name".into());
        }
        for f in files {
            let path = f.get("path").and_then(Value::as_str).unwrap_or("");
            validate_path(path)?;
            w.start_file(format!("{root}/{path}"), opts)
                .map_err(failed)?;
            w.write_all(&file_bytes(f))
                .map_err(|_| "The export archive could not be written".to_string())?;
        }
    }
    Ok(w.finish().map_err(failed)?.into_inner())
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (p, d) in entries {
            w.start_file(*p, opts).unwrap();
            w.write_all(d).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn front_matter_scalars() {
        let fm = frontmatter("---\nname: tides\ndescription: 'It''s tidal' # c\nx:\n  - a\nlong: >\n  one\n  two\n---\nbody");
        assert_eq!(fm["name"], "tides");
        assert_eq!(fm["description"], "It's tidal");
        assert_eq!(fm["long"], "one two");
        assert!(!fm.contains_key("x"));
        assert_eq!(
            frontmatter("---\nd: \"a \\\"b\\\"\" # c\n---\n")["d"],
            "a \"b\""
        );
        assert_eq!(frontmatter("---\nd: \"ü\n---\n")["d"], "ü");
        assert!(frontmatter("no front matter").is_empty());
        assert!(frontmatter("---\nname: open").is_empty());
    }

    #[test]
    fn archives_split_into_outermost_skill_folders() {
        let data = zip_of(&[
            ("b/one/SKILL.md", b"---\nname: one\n---\nx"),
            ("b/one/inner/SKILL.md", b"nested"),
            ("b/two/SKILL.md", b"# two"),
            ("b/two/bin.dat", b"\x00\x01"),
        ]);
        let p = parse_import(&data, "x.zip").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].id, "one");
        assert_eq!(p[0].files.len(), 2);
        assert_eq!(p[1].name, "Imported skill");
        assert_eq!(p[1].files[1]["encoding"], "base64");
        let stray = zip_of(&[("a/SKILL.md", b"x"), ("loose.txt", b"y")]);
        assert!(parse_import(&stray, "x.zip").is_err());
        let evil = zip_of(&[("../SKILL.md", b"x")]);
        assert!(parse_import(&evil, "x.zip").is_err());
        assert!(parse_import(b"not a zip", "x.zip").is_err());
    }

    #[test]
    fn a_downloaded_repository_is_read_for_its_skill_folders() {
        let data = zip_of(&[
            ("repo-HEAD/README.md", b"readme"),
            ("repo-HEAD/pdf/forms/SKILL.md", b"---\nname: forms\n---\nx"),
            ("repo-HEAD/pdf/forms/a.txt", b"a"),
            ("repo-HEAD/docx/SKILL.md", b"---\nname: docx\n---\ny"),
        ]);
        let all = Discover {
            directory: Some(String::new()),
        };
        let p = parse_import_with(&data, "skills.zip", Some(&all)).unwrap();
        let ids: Vec<&str> = p.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["docx", "forms"]);
        let one = Discover {
            directory: Some("pdf/".into()),
        };
        let p = parse_import_with(&data, "skills.zip", Some(&one)).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].files.len(), 2);
        let none = Discover {
            directory: Some("nowhere/".into()),
        };
        assert!(parse_import_with(&data, "skills.zip", Some(&none)).is_err());
        // Without discovery the loose README is refused, as for an upload.
        assert!(parse_import(&data, "skills.zip").is_err());
    }

    #[test]
    fn export_round_trips() {
        let files = vec![
            json!({"path": "SKILL.md", "content": "---\nname: Not A Slug\n---\n"}),
            json!({"path": "a/b.txt", "content": "b"}),
        ];
        let data = zip_export(&[("my-id".into(), files)]).unwrap();
        let back = parse_import(&data, "s.zip").unwrap();
        assert_eq!(back[0].files.len(), 2);
        assert_eq!(back[0].name, "Not A Slug");
        assert_eq!(back[0].id, "not-a-slug");
    }
}
