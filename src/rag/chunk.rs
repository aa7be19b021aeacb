//! Splitting extracted text into chunks, with upstream's settings:
//!
//! 1. optional markdown-header pre-split (`rag.enable_markdown_header_text_splitter`,
//!    on by default): a new section starts at every `#`…`######` heading outside
//!    code fences; the heading line stays in the section's text;
//! 2. optional merge of small sections (`rag.chunk_min_size_target`, 0 = off);
//! 3. the text splitter (`rag.text_splitter`):
//!    * `""` / `character`: recursive splitting on `"\n\n"`, `"\n"`, `" "`, then
//!      between characters, packing pieces into chunks of at most `chunk_size`
//!      characters that repeat up to `chunk_overlap` characters of the previous
//!      chunk; separators stay at the start of the piece that follows them and
//!      chunks are trimmed;
//!    * `token`: fixed windows of `chunk_size` tokens advancing by
//!      `chunk_size - chunk_overlap`;
//!    * `token_transformers`: the recursive splitter measuring tokens.
//!
//! Tokens are counted by an approximation of OpenAI's `cl100k_base` (what
//! upstream's token splitter uses) that needs no vocabulary: a run of letters
//! or digits counts one token for its first 6 characters and one more per
//! started 4 characters after that (most English words are one token), every other non-space character counts
//! one, CJK characters one each, whitespace nothing.
//!
//! Edge cases: empty or blank text gives no chunks; a `chunk_size` of 0 is
//! taken as 1000; an overlap of `chunk_size` or more is reduced to half the
//! size; text without any separator is cut between characters (never inside a
//! multi-byte UTF-8 sequence).

use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::config::ConfigStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Splitter {
    Character,
    Token,
    TokenTransformers,
}

#[derive(Debug, Clone)]
pub struct ChunkOpts {
    pub splitter: Splitter,
    pub chunk_size: usize,
    pub chunk_overlap: usize,
    pub markdown_headers: bool,
    /// Sections shorter than this are merged with neighbours (0 = off).
    pub min_size_target: usize,
}

impl Default for ChunkOpts {
    fn default() -> Self {
        ChunkOpts {
            splitter: Splitter::Character,
            chunk_size: 1000,
            chunk_overlap: 100,
            markdown_headers: true,
            min_size_target: 0,
        }
    }
}

impl ChunkOpts {
    /// `rag.text_splitter`, `rag.chunk_size`, `rag.chunk_overlap`,
    /// `rag.enable_markdown_header_text_splitter`, `rag.chunk_min_size_target`.
    pub fn from_config(config: &impl AsRef<ConfigStore>) -> ChunkOpts {
        let config = config.as_ref();
        let num = |key: &str, default: usize| {
            super::config_f64(config, key).map_or(default, |v| if v < 0.0 { 0 } else { v as usize })
        };
        let splitter = match config.get_str("rag.text_splitter").as_str() {
            "" | "character" => Splitter::Character,
            "token" => Splitter::Token,
            "token_transformers" => Splitter::TokenTransformers,
            other => {
                tracing::warn!(
                    splitter = other,
                    "unknown rag.text_splitter; using the character splitter"
                );
                Splitter::Character
            }
        };
        ChunkOpts {
            splitter,
            chunk_size: num("rag.chunk_size", 1000),
            chunk_overlap: num("rag.chunk_overlap", 100),
            markdown_headers: config.get_bool("rag.enable_markdown_header_text_splitter"),
            min_size_target: num("rag.chunk_min_size_target", 0),
        }
    }

    fn sizes(&self) -> (usize, usize) {
        let size = if self.chunk_size == 0 {
            1000
        } else {
            self.chunk_size
        };
        let overlap = if self.chunk_overlap >= size {
            size / 2
        } else {
            self.chunk_overlap
        };
        (size, overlap)
    }
}

/// A chunk with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub text: String,
    /// Character offset of the chunk in the input text.
    pub start_index: usize,
    /// The markdown headings above the chunk (`"Header 1"` … `"Header 6"`).
    pub headers: Map<String, Value>,
}

/// Splits `text` into chunk texts.
pub fn chunk(text: &str, opts: &ChunkOpts) -> Vec<String> {
    chunk_detailed(text, opts)
        .into_iter()
        .map(|c| c.text)
        .collect()
}

/// Splits `text` into chunks with their offsets and markdown headings.
pub fn chunk_detailed(text: &str, opts: &ChunkOpts) -> Vec<Chunk> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let sections: Vec<Section> = if opts.markdown_headers {
        markdown_sections(text)
    } else {
        vec![Section {
            text: text.to_string(),
            byte_start: 0,
            headers: Map::new(),
        }]
    };
    let measure: fn(&str) -> usize = match opts.splitter {
        Splitter::Character => char_len,
        Splitter::Token | Splitter::TokenTransformers => approx_tokens,
    };
    let sections = if opts.min_size_target > 0 {
        merge_small(sections, opts.min_size_target, opts.sizes().0, measure)
    } else {
        sections
    };
    let (size, overlap) = opts.sizes();
    let mut out = Vec::new();
    for s in sections {
        let pieces = match opts.splitter {
            Splitter::Character | Splitter::TokenTransformers => {
                recursive_split(&s.text, size, overlap, measure)
            }
            Splitter::Token => token_windows(&s.text, size, overlap),
        };
        // Offsets: each piece is searched for from just after the previous
        // piece's start, so repeated text maps to the right occurrence.
        let mut from = 0usize;
        for p in pieces {
            let local = s.text[from..].find(&p).map(|i| i + from);
            let byte = local.map_or(s.byte_start, |l| s.byte_start + l);
            if let Some(l) = local {
                from = l + p.chars().next().map_or(1, char::len_utf8);
                from = from.min(s.text.len());
            }
            let start_index = text.get(..byte).map_or(0, |prefix| prefix.chars().count());
            out.push(Chunk {
                text: p,
                start_index,
                headers: s.headers.clone(),
            });
        }
    }
    out
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Approximate token spans (byte ranges) of `s`; see the module docs.
fn approx_token_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c.is_whitespace() {
            continue;
        }
        if c.is_alphanumeric() && !is_cjk(c) {
            // A word: one token for the first 6 characters, one per 4 after.
            let mut end = i + c.len_utf8();
            let mut count = 1usize;
            let mut piece_start = i;
            while let Some(&(j, d)) = iter.peek() {
                if !d.is_alphanumeric() || is_cjk(d) {
                    break;
                }
                iter.next();
                count += 1;
                end = j + d.len_utf8();
                if count > 6 && (count - 7).is_multiple_of(4) {
                    spans.push((piece_start, j));
                    piece_start = j;
                }
            }
            spans.push((piece_start, end));
        } else {
            spans.push((i, i + c.len_utf8()));
        }
    }
    spans
}

fn approx_tokens(s: &str) -> usize {
    approx_token_spans(s).len()
}

fn token_windows(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let spans = approx_token_spans(text);
    let step = size - overlap;
    let mut out = Vec::new();
    let mut start = 0;
    while start < spans.len() {
        let end = (start + size).min(spans.len());
        let piece = text[spans[start].0..spans[end - 1].1].trim();
        if !piece.is_empty() {
            out.push(piece.to_string());
        }
        if end == spans.len() {
            break;
        }
        start += step;
    }
    out
}

const SEPARATORS: [&str; 4] = ["\n\n", "\n", " ", ""];

/// Splits on `sep`, keeping it at the start of every piece after the first.
fn split_keep(text: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return text.chars().map(String::from).collect();
    }
    let mut out = Vec::new();
    let mut last = 0;
    for (i, _) in text.match_indices(sep) {
        if i > last {
            out.push(text[last..i].to_string());
        }
        last = i;
    }
    if last < text.len() {
        out.push(text[last..].to_string());
    }
    out.retain(|p| !p.is_empty());
    out
}

fn recursive_split(text: &str, size: usize, overlap: usize, len: fn(&str) -> usize) -> Vec<String> {
    split_level(text, &SEPARATORS, size, overlap, len)
}

fn split_level(
    text: &str,
    seps: &[&str],
    size: usize,
    overlap: usize,
    len: fn(&str) -> usize,
) -> Vec<String> {
    let pos = seps
        .iter()
        .position(|s| s.is_empty() || text.contains(s))
        .unwrap_or(seps.len() - 1);
    let sep = seps[pos];
    let rest = &seps[pos + 1..];
    let mut out = Vec::new();
    let mut small: Vec<String> = Vec::new();
    for piece in split_keep(text, sep) {
        if len(&piece) < size {
            small.push(piece);
            continue;
        }
        if !small.is_empty() {
            out.extend(pack(std::mem::take(&mut small), size, overlap, len));
        }
        if rest.is_empty() {
            let t = piece.trim();
            if !t.is_empty() {
                out.push(t.to_string());
            }
        } else {
            out.extend(split_level(&piece, rest, size, overlap, len));
        }
    }
    if !small.is_empty() {
        out.extend(pack(small, size, overlap, len));
    }
    out
}

/// Packs pieces into chunks of at most `size`, each starting with up to
/// `overlap` of the previous chunk's tail pieces.
fn pack(pieces: Vec<String>, size: usize, overlap: usize, len: fn(&str) -> usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut window: VecDeque<(String, usize)> = VecDeque::new();
    let mut total = 0usize;
    let emit = |window: &VecDeque<(String, usize)>, out: &mut Vec<String>| {
        let joined: String = window.iter().map(|(p, _)| p.as_str()).collect();
        let t = joined.trim();
        if !t.is_empty() {
            out.push(t.to_string());
        }
    };
    for piece in pieces {
        let l = len(&piece);
        if total + l > size && !window.is_empty() {
            emit(&window, &mut out);
            // Keep a tail of at most `overlap` that leaves room for the new piece.
            while total > overlap || (total + l > size && total > 0) {
                match window.pop_front() {
                    Some((_, pl)) => total -= pl,
                    None => break,
                }
            }
        }
        total += l;
        window.push_back((piece, l));
    }
    if !window.is_empty() {
        emit(&window, &mut out);
    }
    out
}

struct Section {
    text: String,
    byte_start: usize,
    headers: Map<String, Value>,
}

/// The heading level and title of a markdown heading line.
fn heading(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_start();
    let level = t.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &t[level..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    Some((level, rest.trim()))
}

fn markdown_sections(text: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut headers: Vec<Option<String>> = vec![None; 6];
    let mut cur_start: Option<usize> = None;
    let mut cur_end = 0usize;
    let mut cur_headers = Map::new();
    let mut fence: Option<&str> = None;
    let mut offset = 0usize;
    let flush =
        |start: Option<usize>, end: usize, h: &Map<String, Value>, out: &mut Vec<Section>| {
            if let Some(s) = start {
                let raw = &text[s..end];
                let trimmed = raw.trim();
                if !trimmed.is_empty() {
                    let lead = raw.len() - raw.trim_start().len();
                    out.push(Section {
                        text: trimmed.to_string(),
                        byte_start: s + lead,
                        headers: h.clone(),
                    });
                }
            }
        };
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let stripped = line.trim_start();
        if let Some(f) = fence {
            if stripped.starts_with(f) {
                fence = None;
            }
        } else if stripped.starts_with("```") {
            fence = Some("```");
        } else if stripped.starts_with("~~~") {
            fence = Some("~~~");
        } else if let Some((level, title)) = heading(line) {
            flush(cur_start, cur_end, &cur_headers, &mut sections);
            headers[level - 1] = Some(title.to_string());
            for h in headers.iter_mut().skip(level) {
                *h = None;
            }
            cur_headers = Map::new();
            for (i, h) in headers.iter().enumerate() {
                if let Some(h) = h {
                    cur_headers.insert(format!("Header {}", i + 1), Value::String(h.clone()));
                }
            }
            cur_start = Some(start);
            cur_end = offset;
            continue;
        }
        if cur_start.is_none() {
            cur_start = Some(start);
        }
        cur_end = offset;
    }
    flush(cur_start, cur_end, &cur_headers, &mut sections);
    sections
}

/// Grows sections shorter than `min` by joining the next ones (with a blank
/// line) while the result stays within `max`; a small last piece joins the
/// previous section when it fits.
fn merge_small(
    sections: Vec<Section>,
    min: usize,
    max: usize,
    len: fn(&str) -> usize,
) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut cur: Option<Section> = None;
    for s in sections {
        match cur.take() {
            None => cur = Some(s),
            Some(mut c) => {
                let joined = format!("{}\n\n{}", c.text, s.text);
                if len(&c.text) < min && len(&joined) <= max {
                    c.text = joined;
                    cur = Some(c);
                } else {
                    out.push(c);
                    cur = Some(s);
                }
            }
        }
    }
    if let Some(c) = cur {
        if len(&c.text) < min {
            if let Some(prev) = out.last_mut() {
                let joined = format!("{}\n\n{}", prev.text, c.text);
                if len(&joined) <= max {
                    prev.text = joined;
                    return out;
                }
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(size: usize, overlap: usize) -> ChunkOpts {
        ChunkOpts {
            chunk_size: size,
            chunk_overlap: overlap,
            markdown_headers: false,
            ..ChunkOpts::default()
        }
    }

    #[test]
    fn empty_and_blank() {
        assert!(chunk("", &ChunkOpts::default()).is_empty());
        assert!(chunk(" \n\n\t ", &ChunkOpts::default()).is_empty());
        assert_eq!(chunk("hello", &ChunkOpts::default()), vec!["hello"]);
    }

    #[test]
    fn sizes_and_overlap() {
        let words: Vec<String> = (0..300).map(|i| format!("w{i:03}")).collect();
        let text = words.join(" ");
        let chunks = chunk(&text, &opts(100, 20));
        assert!(chunks.len() > 10);
        for c in &chunks {
            assert!(c.chars().count() <= 100, "{c:?}");
        }
        // Consecutive chunks share words (the overlap) and cover every word.
        for pair in chunks.windows(2) {
            let last_word = pair[0].split(' ').next_back().unwrap();
            assert!(pair[1].contains(last_word), "{pair:?}");
        }
        for w in &words {
            assert!(chunks.iter().any(|c| c.contains(w.as_str())));
        }
        // No overlap: words appear once.
        let chunks = chunk(&text, &opts(100, 0));
        let joined: Vec<&str> = chunks.iter().flat_map(|c| c.split(' ')).collect();
        assert_eq!(joined.len(), 300);
    }

    #[test]
    fn paragraphs_first() {
        let text = format!("{}\n\n{}", "a".repeat(60), "b".repeat(60));
        assert_eq!(
            chunk(&text, &opts(100, 10)),
            vec!["a".repeat(60), "b".repeat(60)]
        );
    }

    #[test]
    fn no_separator_and_multibyte() {
        let text = "é".repeat(250) + &"日本".repeat(50);
        let chunks = chunk(&text, &opts(100, 10));
        assert!(chunks.len() >= 4);
        for c in &chunks {
            assert!(c.chars().count() <= 100);
        }
        let emoji = "🦀".repeat(30);
        let chunks = chunk(&emoji, &opts(7, 2));
        assert!(chunks
            .iter()
            .all(|c| c.chars().count() <= 7 && c.chars().all(|ch| ch == '🦀')));
    }

    #[test]
    fn overlap_not_smaller_than_size() {
        let text = "word ".repeat(200);
        let chunks = chunk(&text, &opts(50, 50));
        assert!(!chunks.is_empty() && chunks.len() < 200);
        let chunks = chunk(&text, &opts(50, 500));
        assert!(!chunks.is_empty() && chunks.len() < 200);
        // Zero size falls back to the default.
        assert_eq!(chunk(&text, &opts(0, 0)).len(), 1);
    }

    #[test]
    fn markdown_headers() {
        let text = "intro line\n# Title\nbody one\n## Sub\nbody two\n```\n# not a heading\n```\n# Next\nend";
        let o = ChunkOpts::default();
        let chunks = chunk_detailed(text, &o);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "intro line",
                "# Title\nbody one",
                "## Sub\nbody two\n```\n# not a heading\n```",
                "# Next\nend"
            ]
        );
        assert_eq!(chunks[2].headers.get("Header 1").unwrap(), "Title");
        assert_eq!(chunks[2].headers.get("Header 2").unwrap(), "Sub");
        assert!(chunks[3].headers.get("Header 2").is_none());
        assert_eq!(chunks[1].start_index, text.find("# Title").unwrap());
        // Off: one chunk.
        let off = ChunkOpts {
            markdown_headers: false,
            ..o
        };
        assert_eq!(chunk(text, &off).len(), 1);
    }

    #[test]
    fn start_index_counts_characters() {
        let text = "ééé\n\nabc abc\n\nabc abc";
        let chunks = chunk_detailed(text, &opts(8, 0));
        let starts: Vec<usize> = chunks.iter().map(|c| c.start_index).collect();
        assert_eq!(chunks[0].text, "ééé");
        assert_eq!(starts, vec![0, 5, 14]);
    }

    #[test]
    fn token_splitter() {
        assert_eq!(approx_tokens("hello world, hi"), 4);
        assert_eq!(approx_tokens("internationalization"), 5);
        let text = "alpha beta gamma delta ".repeat(100);
        let o = ChunkOpts {
            splitter: Splitter::Token,
            chunk_size: 40,
            chunk_overlap: 10,
            markdown_headers: false,
            min_size_target: 0,
        };
        let chunks = chunk(&text, &o);
        assert!(chunks.len() >= 13);
        for c in &chunks {
            assert!(approx_tokens(c) <= 40);
        }
        let o = ChunkOpts {
            splitter: Splitter::TokenTransformers,
            ..o
        };
        for c in chunk(&text, &o) {
            assert!(approx_tokens(&c) <= 40);
        }
    }

    #[test]
    fn small_sections_merge() {
        let text = "# A\nx\n# B\ny\n# C\n".to_string() + &"z".repeat(50);
        let o = ChunkOpts {
            min_size_target: 20,
            chunk_size: 40,
            chunk_overlap: 0,
            ..ChunkOpts::default()
        };
        let chunks = chunk(&text, &o);
        assert_eq!(chunks[0], "# A\nx\n\n# B\ny");
        // Without a target every heading is its own section.
        let o = ChunkOpts {
            min_size_target: 0,
            ..o
        };
        assert_eq!(chunk(&text, &o)[..2], ["# A\nx", "# B\ny"]);
    }
}
