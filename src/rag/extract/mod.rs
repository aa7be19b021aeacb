//! Text extraction from uploaded documents.
//!
//! The format is chosen from the file name's extension, then the declared
//! content type, then a sniff of the bytes. The server never parses an
//! upload itself: [`extract_file`] runs the parsers in a worker process
//! under CPU, memory, output and time limits (see [`worker`]), inside which
//! they also run behind `catch_unwind`. Archives (docx, pptx, xlsx, epub)
//! are read with a cap on the decompressed size and PDFs have their
//! structure checked first, so a hostile file ends as a failed file with a
//! message and never takes the server down.

mod office;
mod pdf;
pub mod worker;

use std::time::Duration;

pub use worker::{extract_bytes_isolated, extract_file, WorkerArgs, WorkerSettings};

/// Limits for one extraction.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes that may be decompressed from an archive.
    pub max_unpacked: u64,
    /// Characters of text kept (the rest is cut).
    pub max_chars: usize,
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked: 64 * 1024 * 1024,
            max_chars: 20_000_000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// Files above this size are stored but not read into memory for extraction.
pub const MAX_EXTRACT_BYTES: u64 = 512 * 1024 * 1024;

/// Why a document gave no text. The message is shown to the user as
/// `data.error`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractError(pub String);

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExtractError {}

fn err(msg: impl Into<String>) -> ExtractError {
    ExtractError(msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    Html,
    Xml,
    Pdf,
    Docx,
    Pptx,
    Spreadsheet,
    Epub,
    Unsupported,
}

const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "md",
    "markdown",
    "mdx",
    "rst",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "ndjson",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "log",
    "tex",
    "bib",
    "srt",
    "vtt",
    "sql",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "bat",
    "py",
    "pyi",
    "ipynb",
    "rs",
    "go",
    "java",
    "kt",
    "kts",
    "scala",
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hpp",
    "hh",
    "cs",
    "fs",
    "vb",
    "swift",
    "m",
    "mm",
    "js",
    "mjs",
    "cjs",
    "jsx",
    "ts",
    "tsx",
    "vue",
    "svelte",
    "css",
    "scss",
    "sass",
    "less",
    "rb",
    "php",
    "pl",
    "pm",
    "lua",
    "r",
    "jl",
    "dart",
    "ex",
    "exs",
    "erl",
    "hs",
    "clj",
    "lisp",
    "el",
    "ml",
    "nim",
    "zig",
    "sol",
    "graphql",
    "gql",
    "proto",
    "dockerfile",
    "makefile",
    "cmake",
    "gradle",
    "tf",
    "hcl",
    "diff",
    "patch",
    "properties",
    "gitignore",
    "editorconfig",
    "asm",
    "s",
];

/// Which parser a file goes to.
pub fn kind_of(filename: &str, content_type: Option<&str>, head: &[u8]) -> Kind {
    let ext = std::path::Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => return Kind::Pdf,
        "docx" => return Kind::Docx,
        "pptx" => return Kind::Pptx,
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => return Kind::Spreadsheet,
        "epub" => return Kind::Epub,
        "html" | "htm" | "xhtml" => return Kind::Html,
        "xml" | "svg" | "rss" | "atom" | "xsd" | "xsl" => return Kind::Xml,
        e if TEXT_EXTENSIONS.contains(&e) => return Kind::Text,
        _ => {}
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let ct = ct.split(';').next().unwrap_or("").trim().to_string();
    match ct.as_str() {
        "application/pdf" => return Kind::Pdf,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            return Kind::Docx
        }
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            return Kind::Pptx
        }
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.ms-excel"
        | "application/vnd.oasis.opendocument.spreadsheet" => return Kind::Spreadsheet,
        "application/epub+zip" => return Kind::Epub,
        "text/html" | "application/xhtml+xml" => return Kind::Html,
        "text/xml" | "application/xml" => return Kind::Xml,
        _ => {}
    }
    if head.starts_with(b"%PDF-") {
        return Kind::Pdf;
    }
    if ct.starts_with("text/") || ct == "application/json" || looks_textual(head) {
        return Kind::Text;
    }
    Kind::Unsupported
}

/// No NUL byte in the first block: treated as text (any encoding).
pub fn looks_textual(head: &[u8]) -> bool {
    !head.is_empty() && !head[..head.len().min(8192)].contains(&0)
}

/// Bytes as text: UTF-8 (BOM dropped), else Latin-1, which accepts any byte.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Extracts text synchronously, in this process. Third-party parsers may
/// panic, overflow the stack or exhaust memory on hostile input: the server
/// uses [`extract_file`], which runs this in a worker process.
pub fn extract_bytes(
    bytes: &[u8],
    filename: &str,
    content_type: Option<&str>,
    limits: &Limits,
) -> Result<String, ExtractError> {
    if bytes.is_empty() {
        return Err(err("The file is empty."));
    }
    let kind = kind_of(filename, content_type, &bytes[..bytes.len().min(8192)]);
    let text = match kind {
        Kind::Text => decode_text(bytes),
        Kind::Html => html_to_text(bytes),
        Kind::Xml => office::xml_text(bytes, &[]).map_err(|e| err(format!("Invalid XML: {e}")))?,
        Kind::Pdf => pdf::pdf_text(bytes, limits)?,
        Kind::Docx => office::docx(bytes, limits)?,
        Kind::Pptx => office::pptx(bytes, limits)?,
        Kind::Spreadsheet => office::spreadsheet(bytes, limits)?,
        Kind::Epub => office::epub(bytes, limits)?,
        Kind::Unsupported => {
            let shown = content_type.filter(|c| !c.is_empty()).unwrap_or(filename);
            return Err(err(format!(
                "File type {shown} is not supported for processing"
            )));
        }
    };
    let mut text = text.replace("\r\n", "\n");
    if text.len() > limits.max_chars {
        let mut cut = limits.max_chars;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if text.trim().is_empty() {
        return Err(err("No text could be extracted from this file."));
    }
    Ok(text)
}

/// Element nesting past which HTML is reduced by the plain tag stripper:
/// the layout converter's time grows with the square of the depth (minutes
/// for a few tens of thousands of nested `<div>`s), real pages stay far below.
const MAX_HTML_DEPTH: usize = 1000;

pub fn html_to_text(bytes: &[u8]) -> String {
    let html = decode_text(bytes);
    if html_depth_exceeds(&html, MAX_HTML_DEPTH) {
        return office::strip_tags(&html);
    }
    match html2text::from_read(html.as_bytes(), 10_000) {
        Ok(t) => t,
        Err(_) => office::strip_tags(&html),
    }
}

/// A quick over-estimate of element nesting: opening tags minus closing
/// ones, with void and self-closed elements not counted.
pub fn html_depth_exceeds(html: &str, max: usize) -> bool {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "!doctype",
    ];
    let b = html.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|c| *c == b'<') {
        let start = i + off + 1;
        let end = b[start..]
            .iter()
            .position(|c| *c == b'>')
            .map_or(b.len(), |e| start + e);
        let tag = &html[start..end];
        i = (end + 1).min(b.len());
        if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
            continue;
        }
        if tag.starts_with('!') || tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        let name = tag
            .split(|c: char| c.is_ascii_whitespace())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if name.is_empty() || VOID.contains(&name.as_str()) {
            continue;
        }
        depth += 1;
        if depth > max {
            return true;
        }
    }
    false
}

/// [`extract_bytes`] with panics caught (what the worker process runs).
pub fn extract_guarded(
    bytes: &[u8],
    filename: &str,
    content_type: Option<&str>,
    limits: &Limits,
) -> Result<String, ExtractError> {
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        extract_bytes(bytes, filename, content_type, limits)
    }));
    match out {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::warn!(file = filename, panic = %msg, "document parser panicked");
            Err(err(
                "The document could not be parsed (it may be damaged or in an unsupported variant).",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension_type_and_sniff() {
        assert_eq!(kind_of("a.PDF", None, b""), Kind::Pdf);
        assert_eq!(
            kind_of("x.ts", Some("video/mp2t"), b"let a = 1;"),
            Kind::Text
        );
        assert_eq!(kind_of("noext", Some("application/pdf"), b""), Kind::Pdf);
        assert_eq!(kind_of("noext", None, b"%PDF-1.7"), Kind::Pdf);
        assert_eq!(
            kind_of("blob.bin", None, b"\x00\x01\x02"),
            Kind::Unsupported
        );
        assert_eq!(kind_of("notes", None, b"plain words"), Kind::Text);
    }

    #[test]
    fn text_and_html() {
        let l = Limits::default();
        assert_eq!(extract_bytes(b"hello", "a.txt", None, &l).unwrap(), "hello");
        let latin = extract_bytes(b"caf\xe9", "a.txt", None, &l).unwrap();
        assert_eq!(latin, "café");
        let h = extract_bytes(
            b"<html><body><h1>Title</h1><p>Some &amp; text</p><script>x()</script></body></html>",
            "p.html",
            None,
            &l,
        )
        .unwrap();
        assert!(h.contains("Title") && h.contains("Some & text"), "{h}");
        assert!(extract_bytes(b"", "a.txt", None, &l).is_err());
        assert!(extract_bytes(b"   \n", "a.txt", None, &l).is_err());
    }

    #[test]
    fn deep_html_is_stripped_not_laid_out() {
        let deep = format!("{}core{}", "<div>".repeat(5000), "</div>".repeat(5000));
        assert!(html_depth_exceeds(&deep, MAX_HTML_DEPTH));
        let t = extract_bytes(deep.as_bytes(), "d.html", None, &Limits::default()).unwrap();
        assert_eq!(t.trim(), "core");
        let flat = "<p>a<br>b<img src=x><hr/></p>".repeat(5000);
        assert!(!html_depth_exceeds(&flat, MAX_HTML_DEPTH));
        assert!(!html_depth_exceeds("<<<>>>< / ><", 2));
    }

    #[test]
    fn garbage_pdf_fails_cleanly() {
        let l = Limits::default();
        let r = extract_guarded(b"%PDF-1.4\n1 0 obj << /Type /Catalog", "bad.pdf", None, &l);
        assert!(r.is_err());
    }
}
