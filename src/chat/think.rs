//! Splits `<think>…</think>` (and `<thinking>`/`<reason>` variants some models
//! print) out of streamed content, so reasoning is shown apart from the answer
//! even when the provider mixes both into one text stream. Tags may arrive cut
//! across deltas, so undecided tails are held back until the next delta.

const OPEN: &[&str] = &["<think>", "<thinking>", "<reason>", "<reasoning>"];

#[derive(Debug, PartialEq)]
pub enum Piece {
    Text(String),
    Reasoning(String),
}

#[derive(Default)]
pub struct ThinkSplitter {
    inside: Option<&'static str>,
    pending: String,
}

fn closing(open: &str) -> String {
    format!("</{}", &open[1..])
}

/// Length of the longest suffix of `s` that is a proper prefix of one of `tags`.
fn partial_tail(s: &str, tags: &[String]) -> usize {
    let mut best = 0;
    for t in tags {
        for n in (1..t.len()).rev() {
            if n <= s.len() && s.is_char_boundary(s.len() - n) && t.starts_with(&s[s.len() - n..]) {
                best = best.max(n);
                break;
            }
        }
    }
    best
}

impl ThinkSplitter {
    pub fn push(&mut self, delta: &str) -> Vec<Piece> {
        self.pending.push_str(delta);
        let mut out = Vec::new();
        loop {
            match self.inside {
                None => {
                    let found = OPEN
                        .iter()
                        .filter_map(|t| self.pending.find(t).map(|i| (i, *t)))
                        .min_by_key(|(i, _)| *i);
                    if let Some((i, tag)) = found {
                        if i > 0 {
                            out.push(Piece::Text(self.pending[..i].to_string()));
                        }
                        self.pending.drain(..i + tag.len());
                        self.inside = Some(tag);
                        continue;
                    }
                    let tags: Vec<String> = OPEN.iter().map(|t| t.to_string()).collect();
                    let keep = partial_tail(&self.pending, &tags);
                    let emit_len = self.pending.len() - keep;
                    if emit_len > 0 {
                        out.push(Piece::Text(self.pending[..emit_len].to_string()));
                        self.pending.drain(..emit_len);
                    }
                    break;
                }
                Some(open) => {
                    let close = closing(open);
                    if let Some(i) = self.pending.find(&close) {
                        if i > 0 {
                            out.push(Piece::Reasoning(self.pending[..i].to_string()));
                        }
                        self.pending.drain(..i + close.len());
                        self.inside = None;
                        continue;
                    }
                    let keep = partial_tail(&self.pending, &[close]);
                    let emit_len = self.pending.len() - keep;
                    if emit_len > 0 {
                        out.push(Piece::Reasoning(self.pending[..emit_len].to_string()));
                        self.pending.drain(..emit_len);
                    }
                    break;
                }
            }
        }
        out
    }

    /// Whatever is still held back when the stream ends.
    pub fn finish(&mut self) -> Option<Piece> {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() {
            return None;
        }
        Some(if self.inside.is_some() {
            Piece::Reasoning(rest)
        } else {
            Piece::Text(rest)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(deltas: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::default();
        let (mut text, mut reasoning) = (String::new(), String::new());
        let mut pieces: Vec<Piece> = deltas.iter().flat_map(|d| s.push(d)).collect();
        pieces.extend(s.finish());
        for p in pieces {
            match p {
                Piece::Text(t) => text.push_str(&t),
                Piece::Reasoning(r) => reasoning.push_str(&r),
            }
        }
        (text, reasoning)
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
    }
}
