//! Splits reasoning written into the answer text (`<think>…</think>` and the
//! other pairs models use, or the pair a chat names in its settings) out of
//! streamed content, so it is shown and stored apart from the answer even
//! when the provider mixes both into one stream. Tags may arrive cut across
//! deltas and tags shaped `<name>` may carry attributes
//! (`<think effort="high">`), so undecided tails are held back until the
//! next delta. A pure state machine: no I/O, no clock.

use serde_json::{Map, Value};

/// One pair of tags: reasoning between them, or (`reasoning: false`) the
/// answer itself, wrapped in markers that are dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct TagPair {
    pub start: String,
    pub end: String,
    pub reasoning: bool,
}

/// Markers some models wrap their final answer in.
pub const SOLUTION_TAGS: (&str, &str) = ("<|begin_of_solution|>", "<|end_of_solution|>");

/// The pairs looked for when a chat names none.
pub const DEFAULT_TAGS: &[(&str, &str)] = &[
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reason>", "</reason>"),
    ("<reasoning>", "</reasoning>"),
    ("<thought>", "</thought>"),
    ("<Thought>", "</Thought>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
    ("◁think▷", "◁/think▷"),
];

/// The longest an opening tag with attributes may be before it is taken
/// for plain text.
const MAX_OPEN_TAG: usize = 256;

fn pair(start: &str, end: &str, reasoning: bool) -> TagPair {
    TagPair {
        start: start.to_string(),
        end: end.to_string(),
        reasoning,
    }
}

/// The pairs of a turn from its `params.reasoning_tags`: `false` turns
/// detection off (no pairs), a two-item list names the only reasoning pair,
/// anything else means the defaults. The solution markers are looked for
/// whenever detection is on.
pub fn tags_from_params(setting: Option<&Value>) -> Vec<TagPair> {
    let mut tags = match setting {
        Some(Value::Bool(false)) => return Vec::new(),
        Some(Value::Array(a)) if a.len() == 2 => match (a[0].as_str(), a[1].as_str()) {
            (Some(s), Some(e)) if !s.is_empty() && !e.is_empty() => vec![pair(s, e, true)],
            _ => default_tags(),
        },
        _ => default_tags(),
    };
    tags.push(pair(SOLUTION_TAGS.0, SOLUTION_TAGS.1, false));
    tags
}

pub fn default_tags() -> Vec<TagPair> {
    DEFAULT_TAGS.iter().map(|(s, e)| pair(s, e, true)).collect()
}

#[derive(Debug, PartialEq)]
pub enum Piece {
    Text(String),
    /// A reasoning block starts, opened by `start` with these attributes.
    Open {
        start: String,
        end: String,
        attributes: Map<String, Value>,
    },
    Reasoning(String),
    /// The open reasoning block was closed by its end tag.
    Close,
}

pub struct ThinkSplitter {
    tags: Vec<TagPair>,
    /// The pair whose block is open.
    inside: Option<usize>,
    pending: String,
    /// Right after a block closed, white space before the answer goes on.
    trim_start: bool,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        Self::new(default_tags())
    }
}

/// Whether `s` at its start opens the tag `t`.
enum Opening {
    /// The whole tag: its length and the attribute text.
    Full(usize, String),
    /// Too little text yet to say.
    Maybe,
    No,
}

fn opening(s: &str, t: &str) -> Opening {
    let angle = t.len() > 2 && t.starts_with('<') && t.ends_with('>');
    if !angle {
        return if s.starts_with(t) {
            Opening::Full(t.len(), String::new())
        } else if t.starts_with(s) {
            Opening::Maybe
        } else {
            Opening::No
        };
    }
    let head = &t[..t.len() - 1]; // `<name`
    if s.len() <= head.len() {
        return if head.starts_with(s) {
            Opening::Maybe
        } else {
            Opening::No
        };
    }
    if !s.starts_with(head) {
        return Opening::No;
    }
    let rest = &s[head.len()..];
    let first = rest.chars().next().unwrap_or(' ');
    if first == '>' {
        return Opening::Full(head.len() + 1, String::new());
    }
    if !first.is_whitespace() {
        return Opening::No;
    }
    // Attributes run to the first `>` on the same line.
    let after_first = &rest[first.len_utf8()..];
    match after_first.find(['>', '\n']) {
        Some(i) if after_first.as_bytes()[i] == b'>' => {
            let attrs = after_first[..i].to_string();
            Opening::Full(head.len() + first.len_utf8() + i + 1, attrs)
        }
        Some(_) => Opening::No,
        None if rest.len() < MAX_OPEN_TAG => Opening::Maybe,
        None => Opening::No,
    }
}

/// `key="value"` pairs of an opening tag.
fn attributes(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key: String = rest[..eq]
            .trim_end()
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let after = rest[eq + 1..].trim_start();
        let Some(quoted) = after.strip_prefix('"') else {
            rest = &rest[eq + 1..];
            continue;
        };
        let Some(close) = quoted.find('"') else { break };
        if !key.is_empty() && close > 0 {
            out.insert(key, Value::String(quoted[..close].to_string()));
        }
        rest = &quoted[close + 1..];
    }
    out
}

/// Length of the longest suffix of `s` that is a proper prefix of `tag`.
fn partial_tail(s: &str, tag: &str) -> usize {
    (1..tag.len().min(s.len() + 1))
        .rev()
        .find(|&n| s.is_char_boundary(s.len() - n) && tag.starts_with(&s[s.len() - n..]))
        .unwrap_or(0)
}

impl ThinkSplitter {
    /// A splitter for these pairs; none means text passes through as is.
    pub fn new(tags: Vec<TagPair>) -> Self {
        ThinkSplitter {
            tags,
            inside: None,
            pending: String::new(),
            trim_start: false,
        }
    }

    fn text(&mut self, out: &mut Vec<Piece>, t: &str) {
        let t = if self.trim_start { t.trim_start() } else { t };
        if !t.is_empty() {
            self.trim_start = false;
            out.push(Piece::Text(t.to_string()));
        }
    }

    /// Where the earliest opening tag starts: `Ok((at, pair, length,
    /// attributes))` for a whole one, `Err(at)` where one may be starting
    /// (or the end of the text when none can).
    fn find_open(&self) -> Result<(usize, usize, usize, String), usize> {
        for (at, _) in self.pending.char_indices() {
            let s = &self.pending[at..];
            let mut maybe = false;
            for (k, pair) in self.tags.iter().enumerate() {
                match opening(s, &pair.start) {
                    Opening::Full(len, attrs) => return Ok((at, k, len, attrs)),
                    Opening::Maybe => maybe = true,
                    Opening::No => {}
                }
            }
            if maybe {
                return Err(at);
            }
        }
        Err(self.pending.len())
    }

    pub fn push(&mut self, delta: &str) -> Vec<Piece> {
        let mut out = Vec::new();
        if self.tags.is_empty() {
            if !delta.is_empty() {
                out.push(Piece::Text(delta.to_string()));
            }
            return out;
        }
        self.pending.push_str(delta);
        loop {
            match self.inside {
                None => match self.find_open() {
                    Ok((at, k, len, attrs)) => {
                        let before = self.pending[..at].to_string();
                        self.text(&mut out, &before);
                        self.pending.drain(..at + len);
                        let pair = &self.tags[k];
                        if pair.reasoning {
                            out.push(Piece::Open {
                                start: pair.start.clone(),
                                end: pair.end.clone(),
                                attributes: attributes(&attrs),
                            });
                        } else {
                            self.trim_start = true;
                        }
                        self.inside = Some(k);
                    }
                    Err(hold) => {
                        let before = self.pending[..hold].to_string();
                        self.text(&mut out, &before);
                        self.pending.drain(..hold);
                        break;
                    }
                },
                Some(k) => {
                    let (close, reasoning) = (self.tags[k].end.clone(), self.tags[k].reasoning);
                    let found = self.pending.find(&close);
                    let upto = match found {
                        Some(i) => i,
                        None => self.pending.len() - partial_tail(&self.pending, &close),
                    };
                    let inner = self.pending[..upto].to_string();
                    if reasoning {
                        if !inner.is_empty() {
                            out.push(Piece::Reasoning(inner));
                        }
                    } else {
                        self.text(&mut out, &inner);
                    }
                    self.pending.drain(..upto);
                    let Some(_) = found else { break };
                    self.pending.drain(..close.len());
                    if reasoning {
                        out.push(Piece::Close);
                    }
                    self.inside = None;
                    self.trim_start = true;
                }
            }
        }
        out
    }

    /// Whatever is still held back when the stream (or a round of it) ends;
    /// an open block is closed.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        let open = self.inside.take().map(|k| self.tags[k].reasoning);
        if open == Some(true) {
            if !rest.is_empty() {
                out.push(Piece::Reasoning(rest));
            }
            out.push(Piece::Close);
        } else {
            self.text(&mut out, &rest);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(tags: Vec<TagPair>, deltas: &[&str]) -> (String, String, Vec<Piece>) {
        let mut s = ThinkSplitter::new(tags);
        let (mut text, mut reasoning) = (String::new(), String::new());
        let mut pieces: Vec<Piece> = deltas.iter().flat_map(|d| s.push(d)).collect();
        pieces.extend(s.finish());
        let mut marks = Vec::new();
        for p in pieces {
            match p {
                Piece::Text(t) => text.push_str(&t),
                Piece::Reasoning(r) => reasoning.push_str(&r),
                other => marks.push(other),
            }
        }
        (text, reasoning, marks)
    }

    fn run(deltas: &[&str]) -> (String, String) {
        let (t, r, _) = run_with(default_tags(), deltas);
        (t, r)
    }

    #[test]
    fn splits_tags_cut_anywhere() {
        assert_eq!(
            run(&["<think>a b</think>answer"]),
            ("answer".into(), "a b".into())
        );
        assert_eq!(
            run(&["<thi", "nk>why", "</th", "ink>so"]),
            ("so".into(), "why".into())
        );
        assert_eq!(run(&["plain < text"]), ("plain < text".into(), "".into()));
        assert_eq!(run(&["x<", "b>y"]), ("x<b>y".into(), "".into()));
        assert_eq!(
            run(&["<thinking>deep", "</thinking>done"]),
            ("done".into(), "deep".into())
        );
        assert_eq!(
            run(&["<think>never closed"]),
            ("".into(), "never closed".into())
        );
        assert_eq!(run(&["é<", "think>ü</think>ö"]), ("éö".into(), "ü".into()));
        assert_eq!(run(&["◁think▷a◁/think▷ b"]), ("b".into(), "a".into()));
        assert_eq!(
            run(&["<|begin_of_thought|>x<|end_of_", "thought|>\n\ny"]),
            ("y".into(), "x".into())
        );
    }

    #[test]
    fn attributes_are_read_even_when_cut() {
        let (text, reasoning, marks) = run_with(
            default_tags(),
            &["<think eff", "ort=\"high\" x=\"1\">deep</think>ok"],
        );
        assert_eq!((text.as_str(), reasoning.as_str()), ("ok", "deep"));
        let Piece::Open {
            attributes, start, ..
        } = &marks[0]
        else {
            panic!("{marks:?}")
        };
        assert_eq!(start, "<think>");
        assert_eq!(attributes["effort"], "high");
        assert_eq!(attributes["x"], "1");
        assert_eq!(marks[1], Piece::Close);
        // Not a tag: a different name, or no `>` on the line.
        assert_eq!(run(&["<thinker>a"]).0, "<thinker>a");
        assert_eq!(run(&["<think a\nb> c"]).0, "<think a\nb> c");
    }

    #[test]
    fn a_chats_own_pair_or_none() {
        let own = tags_from_params(Some(&serde_json::json!(["<plan>", "</plan>"])));
        let (t, r, _) = run_with(own.clone(), &["<plan>step</plan>Done. <think>x</think>"]);
        assert_eq!((t.as_str(), r.as_str()), ("Done. <think>x</think>", "step"));
        let off = tags_from_params(Some(&Value::Bool(false)));
        let (t, r, _) = run_with(off, &["<think>visible</think>kept"]);
        assert_eq!((t.as_str(), r.as_str()), ("<think>visible</think>kept", ""));
        assert_eq!(tags_from_params(None).len(), DEFAULT_TAGS.len() + 1);
        let all = tags_from_params(None);
        let (t, r, _) = run_with(
            all.clone(),
            &["<|begin_of_solution|>", "4.", "<|end_of_solution|>"],
        );
        assert_eq!((t.as_str(), r.as_str()), ("4.", ""));
        let (t, _, _) = run_with(all, &["<|begin_of_solution|> 4.<|end_of_", "solution|> ok"]);
        assert_eq!(t, "4.ok");
    }
}
