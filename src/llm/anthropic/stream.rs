//! An OpenAI `chat.completion.chunk` event stream as a Messages event stream.
//!
//! Blocks are numbered in the order they open: thinking, then text, then one
//! `tool_use` block per call. Text after a tool call has started is dropped
//! (Messages replies put text before tools). A tool call is known by its id;
//! pieces without an id belong to the call last seen at their `index`, so
//! parallel calls that reuse an index stay apart. A tool block closes as soon
//! as its arguments parse as JSON; whatever is still open closes at the end.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::reply::{new_id, stop_reason, Usage};

/// Bytes of an unfinished line kept between chunks at the most.
const MAX_LINE: usize = 4 * 1024 * 1024;

struct Call {
    id: String,
    name: String,
    arguments: String,
    /// The block index, once the block has opened.
    block: Option<usize>,
    closed: bool,
}

/// The conversion state of one stream.
pub struct Converter {
    model: String,
    counted: Option<i64>,
    usage: Usage,
    stop: &'static str,
    error: Option<String>,
    next_block: usize,
    thinking_open: bool,
    text_open: bool,
    calls: Vec<Call>,
    /// OpenAI `index` → position in `calls` of the call last seen there.
    by_index: HashMap<i64, usize>,
    any_tool: bool,
    /// Bytes after the last newline of what was fed so far.
    pending: Vec<u8>,
    finished: bool,
}

fn event(out: &mut String, data: Value) {
    let kind = data["type"].as_str().unwrap_or("").to_string();
    out.push_str("event: ");
    out.push_str(&kind);
    out.push_str("\ndata: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

impl Converter {
    /// `model` is the name the client asked for; `counted` the input tokens
    /// counted beforehand, if any.
    pub fn new(model: &str, counted: Option<i64>) -> Converter {
        Converter {
            model: model.to_string(),
            counted,
            usage: Usage::default(),
            stop: "end_turn",
            error: None,
            next_block: 0,
            thinking_open: false,
            text_open: false,
            calls: Vec::new(),
            by_index: HashMap::new(),
            any_tool: false,
            pending: Vec::new(),
            finished: false,
        }
    }

    /// The `message_start` event.
    pub fn start(&self) -> String {
        let mut out = String::new();
        event(
            &mut out,
            json!({"type": "message_start", "message": {
                "id": new_id("msg"),
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": self.model,
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": self.counted.unwrap_or(0), "output_tokens": 0},
            }}),
        );
        out
    }

    /// Feeds raw bytes of the OpenAI stream; answers the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> String {
        let mut out = String::new();
        if self.error.is_some() {
            return out;
        }
        self.pending.extend_from_slice(bytes);
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            self.line(&String::from_utf8_lossy(&line), &mut out);
            if self.error.is_some() {
                self.pending.clear();
                return out;
            }
        }
        if self.pending.len() > MAX_LINE {
            self.pending.clear();
        }
        out
    }

    /// Marks the stream as failed (the connection broke off).
    pub fn fail(&mut self, message: &str) {
        if self.error.is_none() {
            self.error = Some(message.to_string());
        }
    }

    fn line(&mut self, line: &str, out: &mut String) {
        let line = line.trim();
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            return;
        };
        if data == "[DONE]" || data == "{}" {
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return;
        };
        self.chunk(&chunk, out);
    }

    fn close_block(&mut self, out: &mut String) {
        event(
            out,
            json!({"type": "content_block_stop", "index": self.next_block}),
        );
        self.next_block += 1;
    }

    fn chunk(&mut self, chunk: &Value, out: &mut String) {
        if let Some(err) = chunk.get("error").filter(|e| truthy(e)) {
            let text = match err {
                Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_string),
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            self.error = Some(
                text.filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "The chat completion stream failed.".into()),
            );
            return;
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage.update(Usage::read(u));
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        let message = choice.get("message").unwrap_or(&Value::Null);
        if let Some(r) = reasoning(delta, message) {
            if !self.text_open && !self.any_tool {
                if !self.thinking_open {
                    event(
                        out,
                        json!({"type": "content_block_start", "index": self.next_block,
                            "content_block": {"type": "thinking", "thinking": ""}}),
                    );
                    self.thinking_open = true;
                }
                event(
                    out,
                    json!({"type": "content_block_delta", "index": self.next_block,
                        "delta": {"type": "thinking_delta", "thinking": r}}),
                );
            }
        }
        if let Some(text) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if !self.any_tool {
                if self.thinking_open {
                    self.thinking_open = false;
                    self.close_block(out);
                }
                if !self.text_open {
                    event(
                        out,
                        json!({"type": "content_block_start", "index": self.next_block,
                            "content_block": {"type": "text", "text": ""}}),
                    );
                    self.text_open = true;
                }
                event(
                    out,
                    json!({"type": "content_block_delta", "index": self.next_block,
                        "delta": {"type": "text_delta", "text": text}}),
                );
            }
        }
        let calls = delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .or_else(|| message.get("tool_calls").and_then(Value::as_array));
        if let Some(calls) = calls.filter(|c| !c.is_empty()) {
            if self.thinking_open {
                self.thinking_open = false;
                self.close_block(out);
            }
            if self.text_open {
                self.text_open = false;
                self.close_block(out);
            }
            for piece in calls {
                self.tool_piece(piece, out);
            }
        }
        if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
            self.stop = stop_reason(reason.as_str());
        }
    }

    fn tool_piece(&mut self, piece: &Value, out: &mut String) {
        let index = piece.get("index").and_then(Value::as_i64).unwrap_or(0);
        let id = piece.get("id").and_then(Value::as_str).unwrap_or("");
        let f = piece.get("function").unwrap_or(&Value::Null);
        let name = f.get("name").and_then(Value::as_str).unwrap_or("");
        let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
        let at = if !id.is_empty() {
            let at = match self.calls.iter().position(|c| c.id == id) {
                Some(at) => at,
                None => self.new_call(id.to_string(), name),
            };
            self.by_index.insert(index, at);
            at
        } else if let Some(at) = self.by_index.get(&index) {
            *at
        } else {
            let at = self.new_call(new_id("toolu"), name);
            self.by_index.insert(index, at);
            at
        };
        let next = self.next_block;
        let call = &mut self.calls[at];
        if call.name.is_empty() && !name.is_empty() {
            call.name = name.to_string();
        }
        if call.block.is_none() && !call.name.is_empty() {
            call.block = Some(next);
            self.any_tool = true;
            self.next_block += 1;
            event(
                out,
                json!({"type": "content_block_start", "index": next, "content_block": {
                    "type": "tool_use", "id": call.id, "name": call.name, "input": {}}}),
            );
        }
        if args.is_empty() {
            return;
        }
        call.arguments.push_str(args);
        let Some(block) = call.block.filter(|_| !call.closed) else {
            return;
        };
        event(
            out,
            json!({"type": "content_block_delta", "index": block,
                "delta": {"type": "input_json_delta", "partial_json": args}}),
        );
        let may_be_done = call.arguments.trim_end().ends_with('}')
            || !call.arguments.trim_start().starts_with('{');
        if may_be_done && serde_json::from_str::<Value>(&call.arguments).is_ok() {
            call.closed = true;
            event(out, json!({"type": "content_block_stop", "index": block}));
        }
    }

    fn new_call(&mut self, id: String, name: &str) -> usize {
        self.calls.push(Call {
            id,
            name: name.to_string(),
            arguments: String::new(),
            block: None,
            closed: false,
        });
        self.calls.len() - 1
    }

    /// The closing events: open blocks closed, calls that never got a block
    /// given one, then `message_delta` with the stop reason and usage and
    /// `message_stop` — or a single `error` event when the stream failed.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if self.finished {
            return out;
        }
        self.finished = true;
        if !self.pending.is_empty() && self.error.is_none() {
            let rest = std::mem::take(&mut self.pending);
            self.line(&String::from_utf8_lossy(&rest), &mut out);
        }
        if let Some(message) = &self.error {
            event(
                &mut out,
                json!({"type": "error", "error": {"type": "api_error", "message": message}}),
            );
            return out;
        }
        if self.thinking_open {
            self.thinking_open = false;
            self.close_block(&mut out);
        }
        for i in 0..self.calls.len() {
            if self.calls[i].block.is_some() || self.calls[i].name.is_empty() {
                continue;
            }
            let block = self.next_block;
            self.next_block += 1;
            let call = &mut self.calls[i];
            call.block = Some(block);
            event(
                &mut out,
                json!({"type": "content_block_start", "index": block, "content_block": {
                    "type": "tool_use", "id": call.id, "name": call.name, "input": {}}}),
            );
            if !call.arguments.is_empty() {
                event(
                    &mut out,
                    json!({"type": "content_block_delta", "index": block,
                        "delta": {"type": "input_json_delta", "partial_json": call.arguments}}),
                );
            }
        }
        if self.text_open {
            self.text_open = false;
            event(
                &mut out,
                json!({"type": "content_block_stop", "index": self.next_block}),
            );
        }
        for call in &mut self.calls {
            if let (Some(block), false) = (call.block, call.closed) {
                call.closed = true;
                event(
                    &mut out,
                    json!({"type": "content_block_stop", "index": block}),
                );
            }
        }
        let mut usage = serde_json::Map::new();
        usage.insert(
            "output_tokens".into(),
            json!(self.usage.output.unwrap_or(0)),
        );
        if let Some(input) = self.usage.input.or(self.counted) {
            usage.insert("input_tokens".into(), json!(input));
        }
        self.usage.extras(&mut usage);
        event(
            &mut out,
            json!({"type": "message_delta",
                "delta": {"stop_reason": self.stop, "stop_sequence": null},
                "usage": usage}),
        );
        event(&mut out, json!({"type": "message_stop"}));
        out
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Number(_) => true,
    }
}

/// Reasoning text of a chunk, from whichever field the provider uses.
fn reasoning<'a>(delta: &'a Value, message: &'a Value) -> Option<&'a str> {
    let direct = [
        (delta, "reasoning_content"),
        (delta, "reasoning"),
        (delta, "thinking"),
        (message, "reasoning_content"),
        (message, "reasoning"),
    ]
    .into_iter()
    .filter_map(|(v, k)| v.get(k).and_then(Value::as_str))
    .find(|s| !s.is_empty());
    if direct.is_some() {
        return direct;
    }
    let blocks = delta
        .get("thinking_blocks")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .or_else(|| message.get("thinking_blocks").and_then(Value::as_array))?;
    blocks.iter().find_map(|b| {
        ["thinking", "content", "text"]
            .iter()
            .filter_map(|k| b.get(*k).and_then(Value::as_str))
            .find(|s| !s.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Vec<Value> {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn sse(chunks: &[Value]) -> String {
        chunks
            .iter()
            .map(|c| format!("data: {c}\n\n"))
            .collect::<String>()
            + "data: [DONE]\n\n"
    }

    #[test]
    fn text_then_usage() {
        let mut c = Converter::new("m", Some(50));
        let mut all = c.start();
        let body = sse(&[
            json!({"choices": [{"delta": {"content": "he"}}]}),
            json!({"choices": [{"delta": {"content": "llo"}, "finish_reason": "stop"}],
                "usage": {"completion_tokens": 2}}),
        ]);
        // Fed in awkward pieces: lines split across chunks.
        for piece in body.as_bytes().chunks(7) {
            all.push_str(&c.feed(piece));
        }
        all.push_str(&c.finish());
        let ev = events(&all);
        let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(ev[0]["message"]["usage"]["input_tokens"], json!(50));
        assert_eq!(
            ev[5]["usage"],
            json!({"output_tokens": 2, "input_tokens": 50})
        );
        assert_eq!(ev[5]["delta"]["stop_reason"], json!("end_turn"));
    }

    #[test]
    fn parallel_calls_sharing_an_index_stay_apart() {
        let mut c = Converter::new("m", None);
        let mut all = String::new();
        let body = sse(&[
            json!({"choices": [{"delta": {"tool_calls": [
                {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\""}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": ":1}"}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [
                {"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}}],
                "finish_reason": null}),
            json!({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}),
        ]);
        all.push_str(&c.feed(body.as_bytes()));
        all.push_str(&c.finish());
        let ev = events(&all);
        let starts: Vec<(i64, &str)> = ev
            .iter()
            .filter(|e| e["type"] == "content_block_start")
            .map(|e| {
                (
                    e["index"].as_i64().unwrap(),
                    e["content_block"]["id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(starts, [(0, "a"), (1, "b")]);
        let stops: Vec<i64> = ev
            .iter()
            .filter(|e| e["type"] == "content_block_stop")
            .map(|e| e["index"].as_i64().unwrap())
            .collect();
        assert_eq!(
            stops,
            [0, 1],
            "each block closes once, when its JSON parses"
        );
        let last = &ev[ev.len() - 2];
        assert_eq!(last["delta"]["stop_reason"], json!("tool_use"));
        assert_eq!(last["usage"], json!({"output_tokens": 0}));
    }

    #[test]
    fn an_error_chunk_ends_in_an_error_event() {
        let mut c = Converter::new("m", None);
        let mut all = c.feed(b"data: {\"error\": {\"message\": \"nope\"}}\n\n");
        all.push_str(&c.finish());
        let ev = events(&all);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["error"]["message"], json!("nope"));
    }
}
