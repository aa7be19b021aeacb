//! Talking to a model: streamed answers normalised to [`StreamEvent`]s
//! (OpenAI SSE and Ollama NDJSON), non-streamed answers, and the relay for
//! API clients.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use serde_json::{json, Value};

use super::http::{self, client, request_timeout, send_error, status_error, stream_idle_timeout};
use super::ollama_wire::{ollama_to_openai, ollama_usage};
use super::payload::{ollama_request, openai_request};
use super::{pytext, responses};
use super::{
    Completion, LlmError, ModelTarget, Provider, Relay, RelayBody, StreamEvent, ToolCallDelta,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Wire {
    Sse,
    Ndjson,
    /// SSE carrying Responses API events.
    Responses,
}

fn request_for(
    target: &ModelTarget,
    body: Value,
    stream: bool,
) -> Result<(String, Value, Wire), LlmError> {
    match target.provider {
        Provider::OpenAi => {
            let (url, b) = openai_request(target, body, stream)?;
            if responses::is_responses(&target.api_config) {
                let b = responses::request::to_responses(b);
                return Ok((responses::responses_url(&url), b, Wire::Responses));
            }
            Ok((url, b, Wire::Sse))
        }
        Provider::Ollama => {
            let b = ollama_request(target, body, stream)?;
            Ok((format!("{}/api/chat", target.base_url), b, Wire::Ndjson))
        }
    }
}

fn post(target: &ModelTarget, url: &str, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(url)
        .headers(http::auth_headers(
            target.api_key.as_deref(),
            &target.api_config,
            url,
        ))
        .json(body)
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

pub(crate) async fn stream_chat(
    target: &ModelTarget,
    body: Value,
) -> Result<BoxStream<'static, Result<StreamEvent, LlmError>>, LlmError> {
    let (url, payload, wire) = request_for(target, body, true)?;
    let resp = post(target, &url, &payload)
        .send()
        .await
        .map_err(|e| send_error(&target.base_url, e, None))?;
    if !resp.status().is_success() {
        return Err(status_error(resp).await);
    }
    // Some servers ignore `stream: true` and answer with one JSON document.
    if wire != Wire::Ndjson && content_type(&resp).contains("application/json") {
        let v: Value = resp
            .json()
            .await
            .map_err(|e| LlmError::Decode(e.to_string()))?;
        let v = as_chat_completion(wire, v)?;
        let events = events_from_completion(&v)?;
        return Ok(futures::stream::iter(events.into_iter().map(Ok)).boxed());
    }
    Ok(events(resp, wire, target.upstream_id.clone()))
}

/// A whole Responses API result in Chat Completions shape (other wires'
/// answers are that already).
fn as_chat_completion(wire: Wire, v: Value) -> Result<Value, LlmError> {
    if wire != Wire::Responses {
        return Ok(v);
    }
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(LlmError::Upstream(responses::stream::error_text(err)));
    }
    Ok(responses::reply::to_chat_completion(&v))
}

fn events_from_completion(v: &Value) -> Result<Vec<StreamEvent>, LlmError> {
    if let Some(msg) = v.get("error").filter(|e| !e.is_null()) {
        return Err(LlmError::Upstream(
            http::error_message(&json!({"error": msg})).unwrap_or_default(),
        ));
    }
    let choice = &v["choices"][0];
    let msg = &choice["message"];
    let mut out = Vec::new();
    if let Some(r) = reasoning_of(msg) {
        out.push(StreamEvent::Reasoning(r));
    }
    if let Some(c) = msg
        .get("content")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        out.push(StreamEvent::Content(c.to_string()));
    }
    for d in tool_call_deltas(msg.get("tool_calls"), 0) {
        out.push(StreamEvent::ToolCall(d));
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        out.push(StreamEvent::Usage(u.clone()));
    }
    out.push(StreamEvent::Finish {
        reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        last_chunk: v.clone(),
    });
    Ok(out)
}

/// Tool-call pieces of an OpenAI delta or message (`tool_calls`), or of an
/// Ollama message (whole calls, arguments as an object). Arguments that are
/// not text are passed on as their JSON text; a call without an `index` takes
/// its place in the list, counted from `first_index`.
fn tool_call_deltas(calls: Option<&Value>, first_index: u64) -> Vec<ToolCallDelta> {
    let Some(calls) = calls.and_then(Value::as_array) else {
        return vec![];
    };
    calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_object())
        .map(|(i, c)| {
            let f = c.get("function").unwrap_or(&Value::Null);
            let arguments = match f.get("arguments") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            ToolCallDelta {
                index: c
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(first_index + i as u64),
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                name: f.get("name").and_then(Value::as_str).map(str::to_string),
                arguments,
            }
        })
        .collect()
}

/// A delta's `reasoning_details` (or the ones a proxy nests under
/// `provider_specific_fields`), as a list of objects.
fn reasoning_details_of(delta: &Value) -> Vec<Value> {
    let found = delta
        .get("reasoning_details")
        .filter(|v| !v.is_null())
        .or_else(|| delta.pointer("/provider_specific_fields/reasoning_details"));
    match found {
        Some(Value::Array(a)) => a.iter().filter(|d| d.is_object()).cloned().collect(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        _ => Vec::new(),
    }
}

fn reasoning_of(delta: &Value) -> Option<String> {
    ["reasoning_content", "reasoning", "thinking"]
        .iter()
        .find_map(|k| pytext::delta_text(delta.get(*k)))
}

/// Turns the body of a streamed answer into events.
fn events(
    resp: reqwest::Response,
    wire: Wire,
    model: String,
) -> BoxStream<'static, Result<StreamEvent, LlmError>> {
    decode_stream(resp.bytes_stream().boxed(), wire, model)
}

/// Server-sent events that arrive some other way than an HTTP body (a
/// browser tab forwarding its provider's stream), decoded like one.
pub fn sse_events(
    body: BoxStream<'static, Bytes>,
    model: String,
) -> BoxStream<'static, Result<StreamEvent, LlmError>> {
    decode_stream(body.map(Ok).boxed(), Wire::Sse, model)
}

/// The events of one whole (non-streamed) chat completion.
pub fn completion_events(v: &Value) -> Result<Vec<StreamEvent>, LlmError> {
    events_from_completion(v)
}

fn decode_stream(
    body: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    wire: Wire,
    model: String,
) -> BoxStream<'static, Result<StreamEvent, LlmError>> {
    let state = Decoder::new(
        body,
        wire,
        model,
        format!("chatcmpl-{}", uuid::Uuid::new_v4()),
        stream_idle_timeout(),
    );
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(ev) = s.queue.pop_front() {
                return Some((ev, s));
            }
            if s.done {
                return None;
            }
            let next = match s.idle {
                Some(t) => match tokio::time::timeout(t, s.body.next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        s.fail(LlmError::Interrupted(format!(
                            "no data for {} seconds",
                            t.as_secs()
                        )));
                        continue;
                    }
                },
                None => s.body.next().await,
            };
            match next {
                Some(Ok(bytes)) => s.feed(&bytes),
                Some(Err(e)) => s.fail(LlmError::Interrupted(describe(&e))),
                None => s.end(),
            }
        }
    })
    .boxed()
}

fn describe(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    let mut parts = vec![cur.to_string()];
    while let Some(next) = cur.source() {
        parts.push(next.to_string());
        cur = next;
    }
    parts.last().cloned().unwrap_or_default()
}

/// The longest line (NDJSON) or event (SSE) read from a provider. Generated
/// images arrive inline as base64, so this is generous; past it the answer
/// fails instead of growing the buffer without end.
const MAX_PIECE_BYTES: usize = 32 << 20;

struct Decoder {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    wire: Wire,
    buf: Vec<u8>,
    /// `data:` lines of the SSE event being read.
    data: String,
    queue: VecDeque<Result<StreamEvent, LlmError>>,
    done: bool,
    finish_reason: Option<String>,
    finish_chunk: Option<Value>,
    last_chunk: Option<Value>,
    usage: Option<Value>,
    model: String,
    chunk_id: String,
    idle: Option<Duration>,
    /// Tool calls an Ollama stream has sent so far (they carry no index).
    ollama_calls: u64,
    /// Reads the events of a Responses API stream.
    responses: responses::stream::Mapper,
}

impl Decoder {
    /// A decoder that has read nothing yet.
    fn new(
        body: BoxStream<'static, reqwest::Result<Bytes>>,
        wire: Wire,
        model: String,
        chunk_id: String,
        idle: Option<Duration>,
    ) -> Decoder {
        Decoder {
            body,
            wire,
            buf: Vec::new(),
            data: String::new(),
            queue: VecDeque::new(),
            done: false,
            finish_reason: None,
            finish_chunk: None,
            last_chunk: None,
            usage: None,
            model,
            chunk_id,
            idle,
            ollama_calls: 0,
            responses: Default::default(),
        }
    }

    fn fail(&mut self, e: LlmError) {
        if !self.done {
            self.queue.push_back(Err(e));
            self.done = true;
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        // What is buffered holds no line end, so only the new bytes are
        // searched, and the lines read are dropped from the buffer at once:
        // a long line arriving in many small pieces costs linear time.
        let mut from = self.buf.len();
        let mut start = 0;
        self.buf.extend_from_slice(bytes);
        while !self.done {
            let Some(off) = self.buf[from..].iter().position(|b| *b == b'\n') else {
                break;
            };
            let end = from + off;
            let line = String::from_utf8_lossy(&self.buf[start..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
            start = end + 1;
            from = start;
            self.line(&line);
        }
        self.buf.drain(..start.min(self.buf.len()));
        if self.buf.len() > MAX_PIECE_BYTES {
            self.too_long("line");
        }
    }

    fn too_long(&mut self, what: &str) {
        self.buf = Vec::new();
        self.data = String::new();
        self.fail(LlmError::Decode(format!(
            "one {what} of the answer is longer than {} MiB",
            MAX_PIECE_BYTES >> 20
        )));
    }

    fn line(&mut self, line: &str) {
        match self.wire {
            Wire::Ndjson => {
                let t = line.trim();
                if t.is_empty() {
                    return;
                }
                match serde_json::from_str::<Value>(t) {
                    Ok(v) => self.ollama_chunk(v),
                    Err(_) => {
                        tracing::debug!("skipping unreadable NDJSON line from the model provider")
                    }
                }
            }
            Wire::Sse | Wire::Responses => {
                if line.is_empty() {
                    self.dispatch();
                    return;
                }
                if line.starts_with(':') {
                    return;
                }
                let Some(rest) = line.strip_prefix("data:") else {
                    // A bare JSON line carrying an error (some proxies
                    // report failures that way) ends the answer with it.
                    if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
                        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
                            let msg = http::error_message(&json!({"error": err}))
                                .unwrap_or_else(|| err.to_string());
                            self.fail(LlmError::Upstream(msg));
                        }
                    }
                    return;
                };
                let rest = rest.strip_prefix(' ').unwrap_or(rest);
                // Not every server separates events with a blank line; a data
                // line that is complete on its own is an event by itself.
                if self.data.is_empty()
                    && (rest.trim() == "[DONE]" || serde_json::from_str::<Value>(rest).is_ok())
                {
                    self.data.push_str(rest);
                    self.dispatch();
                } else {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(rest);
                    if self.data.len() > MAX_PIECE_BYTES {
                        self.too_long("event");
                    }
                }
            }
        }
    }

    fn dispatch(&mut self) {
        let data = std::mem::take(&mut self.data);
        let data = data.trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            self.finish();
            return;
        }
        match serde_json::from_str::<Value>(data) {
            Ok(v) if self.wire == Wire::Responses => self.responses_event(v),
            Ok(v) => self.openai_chunk(v),
            Err(_) => tracing::debug!("skipping unreadable SSE event from the model provider"),
        }
    }

    fn openai_chunk(&mut self, v: Value) {
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let msg =
                http::error_message(&json!({"error": err})).unwrap_or_else(|| err.to_string());
            self.fail(LlmError::Upstream(msg));
            return;
        }
        let choice = &v["choices"][0];
        let delta = choice
            .get("delta")
            .or_else(|| choice.get("message"))
            .unwrap_or(&Value::Null);
        if let Some(r) = reasoning_of(delta) {
            self.queue.push_back(Ok(StreamEvent::Reasoning(r)));
        }
        let details = reasoning_details_of(delta);
        if !details.is_empty() {
            self.queue
                .push_back(Ok(StreamEvent::ReasoningDetails(details)));
        }
        if let Some(c) = pytext::delta_text(delta.get("content")) {
            self.queue.push_back(Ok(StreamEvent::Content(c)));
        }
        for d in tool_call_deltas(delta.get("tool_calls"), 0) {
            self.queue.push_back(Ok(StreamEvent::ToolCall(d)));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
            self.queue.push_back(Ok(StreamEvent::Usage(u.clone())));
        }
        if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(r.to_string());
            self.finish_chunk = Some(v.clone());
        }
        self.last_chunk = Some(v);
    }

    fn responses_event(&mut self, v: Value) {
        for ev in self.responses.map(v) {
            match ev {
                Err(e) => {
                    self.fail(e);
                    return;
                }
                Ok(StreamEvent::Finish { .. }) => {
                    self.done = true;
                    self.queue.push_back(ev);
                }
                Ok(_) => self.queue.push_back(ev),
            }
        }
    }

    fn ollama_chunk(&mut self, v: Value) {
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let msg =
                http::error_message(&json!({"error": err})).unwrap_or_else(|| err.to_string());
            self.fail(LlmError::Upstream(msg));
            return;
        }
        let msg = v.get("message").unwrap_or(&Value::Null);
        if let Some(t) = msg
            .get("thinking")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            self.queue
                .push_back(Ok(StreamEvent::Reasoning(t.to_string())));
        }
        if let Some(c) = msg
            .get("content")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            self.queue
                .push_back(Ok(StreamEvent::Content(c.to_string())));
        }
        let calls = tool_call_deltas(msg.get("tool_calls"), self.ollama_calls);
        self.ollama_calls += calls.len() as u64;
        let has_tools = self.ollama_calls > 0;
        // Ollama sends each call whole, without an id.
        for d in calls {
            self.queue.push_back(Ok(StreamEvent::ToolCall(d)));
        }
        if v.get("done").and_then(Value::as_bool).unwrap_or(false) {
            let usage = ollama_usage(&v);
            self.queue.push_back(Ok(StreamEvent::Usage(usage.clone())));
            let reason = if has_tools {
                "tool_calls".to_string()
            } else {
                v.get("done_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("stop")
                    .to_string()
            };
            let model = v
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(&self.model)
                .to_string();
            let chunk = json!({
                "id": self.chunk_id,
                "object": "chat.completion.chunk",
                "created": crate::db::now_secs(),
                "model": model,
                "choices": [{"index": 0, "logprobs": null, "delta": {}, "finish_reason": reason}],
                "usage": usage,
            });
            self.finish_reason = Some(reason);
            self.finish_chunk = Some(chunk);
            self.finish();
        }
    }

    /// The answer is complete.
    fn finish(&mut self) {
        if self.done {
            return;
        }
        let mut last = self
            .finish_chunk
            .take()
            .or_else(|| self.last_chunk.take())
            .unwrap_or_else(|| json!({}));
        // OpenAI reports usage in its own chunk after the finish chunk.
        if let (Some(u), Some(o)) = (&self.usage, last.as_object_mut()) {
            if o.get("usage").is_none_or(Value::is_null) {
                o.insert("usage".into(), u.clone());
            }
        }
        self.queue.push_back(Ok(StreamEvent::Finish {
            reason: self.finish_reason.clone(),
            last_chunk: last,
        }));
        self.done = true;
    }

    /// The body ended.
    fn end(&mut self) {
        if self.done {
            return;
        }
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let line = String::from_utf8_lossy(&rest).to_string();
            self.line(line.trim_end_matches('\r'));
        }
        if self.wire != Wire::Ndjson {
            self.dispatch();
        }
        if self.done {
            return;
        }
        // A Responses stream may end without `response.completed`; what
        // came is the answer.
        if self.wire == Wire::Responses {
            let finish = self.responses.finish();
            self.queue.push_back(Ok(finish));
            self.done = true;
            return;
        }
        if self.finish_reason.is_some() {
            self.finish();
        } else {
            self.fail(LlmError::Interrupted(
                "the stream ended before the model finished".into(),
            ));
        }
    }
}

/// Decodes a complete streamed answer handed over in pieces, with the same
/// decoder a live response goes through (`ndjson`: Ollama's wire, else SSE).
/// For fuzzing and replay tests.
pub fn decode_body(ndjson: bool, pieces: &[&[u8]]) -> Vec<Result<StreamEvent, LlmError>> {
    let mut d = Decoder::new(
        futures::stream::empty().boxed(),
        if ndjson { Wire::Ndjson } else { Wire::Sse },
        "model".into(),
        "chatcmpl-replay".into(),
        None,
    );
    for p in pieces {
        d.feed(p);
    }
    d.end();
    d.queue.into_iter().collect()
}

pub(crate) async fn complete(target: &ModelTarget, body: Value) -> Result<Completion, LlmError> {
    let (url, payload, wire) = request_for(target, body, false)?;
    let timeout = request_timeout();
    let mut req = post(target, &url, &payload);
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| send_error(&target.base_url, e, timeout))?;
    if !resp.status().is_success() {
        return Err(status_error(resp).await);
    }
    // A server that streams anyway is read to the end.
    if content_type(&resp).contains("text/event-stream") || content_type(&resp).contains("ndjson") {
        let wire = if content_type(&resp).contains("ndjson") {
            Wire::Ndjson
        } else {
            wire
        };
        return collect(
            events(resp, wire, target.upstream_id.clone()),
            &target.upstream_id,
        )
        .await;
    }
    let v: Value = resp.json().await.map_err(|e| {
        if e.is_timeout() {
            LlmError::Timeout {
                url: target.base_url.clone(),
                secs: timeout.map(|t| t.as_secs()).unwrap_or(0),
            }
        } else {
            LlmError::Decode(e.to_string())
        }
    })?;
    let raw = match target.provider {
        Provider::OpenAi if wire == Wire::Responses => as_chat_completion(wire, v)?,
        Provider::OpenAi => {
            if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
                return Err(LlmError::Upstream(
                    http::error_message(&json!({"error": err})).unwrap_or_else(|| err.to_string()),
                ));
            }
            v
        }
        Provider::Ollama => ollama_to_openai(&v, &target.upstream_id),
    };
    let content = raw["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let usage = raw.get("usage").filter(|u| u.is_object()).cloned();
    Ok(Completion {
        content,
        usage,
        raw,
    })
}

async fn collect(
    mut s: BoxStream<'static, Result<StreamEvent, LlmError>>,
    model: &str,
) -> Result<Completion, LlmError> {
    let (mut content, mut reasoning, mut usage, mut reason) =
        (String::new(), String::new(), None, None);
    let mut calls: Vec<ToolCallDelta> = Vec::new();
    let mut details: Vec<Value> = Vec::new();
    // The items of a Responses stream, read once it has ended.
    let mut items: Vec<Value> = Vec::new();
    while let Some(ev) = s.next().await {
        match ev? {
            StreamEvent::Responses(e) => {
                responses::reduce::apply(&mut items, &e);
            }
            StreamEvent::Content(c) => content.push_str(&c),
            StreamEvent::Reasoning(r) => reasoning.push_str(&r),
            StreamEvent::ReasoningDetails(d) => details.extend(d),
            StreamEvent::Usage(u) => usage = Some(u),
            StreamEvent::Finish { reason: r, .. } => reason = r,
            StreamEvent::ToolCall(d) => {
                let i = d.index as usize;
                if calls.len() <= i {
                    calls.resize_with(i + 1, Default::default);
                }
                let c: &mut crate::llm::ToolCallDelta = &mut calls[i];
                c.id = c.id.take().or(d.id);
                if let Some(n) = d.name.filter(|n| !n.is_empty()) {
                    c.name = Some(n);
                }
                if let Some(a) = d.arguments {
                    c.arguments.get_or_insert_with(String::new).push_str(&a);
                }
            }
        }
    }
    if !items.is_empty() {
        content.push_str(&responses::reply::output_text(&items));
        for (i, call) in responses::reply::tool_calls(&items).into_iter().enumerate() {
            calls.push(ToolCallDelta {
                index: i as u64,
                id: call["id"].as_str().map(str::to_string),
                name: call["function"]["name"].as_str().map(str::to_string),
                arguments: call["function"]["arguments"].as_str().map(str::to_string),
            });
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id.clone().unwrap_or_else(|| format!("call_{}", uuid::Uuid::new_v4().simple())),
                    "type": "function",
                    "function": {"name": c.name.clone().unwrap_or_default(), "arguments": c.arguments.clone().unwrap_or_default()},
                })
            })
            .collect();
    }
    if !details.is_empty() {
        message["reasoning_details"] = Value::Array(details);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    let raw = json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4()),
        "object": "chat.completion",
        "created": crate::db::now_secs(),
        "model": model,
        "choices": [{"index": 0, "logprobs": null, "finish_reason": reason.unwrap_or_else(|| "stop".into()), "message": message}],
        "usage": usage.clone(),
    });
    Ok(Completion {
        content,
        usage,
        raw,
    })
}

pub(crate) async fn openai_passthrough(target: &ModelTarget, body: Value) -> Relay {
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    // Ollama speaks the same protocol under /v1.
    let target = match target.provider {
        Provider::OpenAi => target.clone(),
        Provider::Ollama => ModelTarget {
            base_url: format!("{}/v1", target.base_url),
            ..target.clone()
        },
    };
    if responses::is_responses(&target.api_config) {
        return responses_passthrough(&target, body, stream).await;
    }
    // API clients decide themselves whether they want usage chunks.
    let own_options = body.get("stream_options").cloned();
    let (url, mut payload) = match openai_request(&target, body, stream) {
        Ok(r) => r,
        Err(e) => return Relay::error(&e),
    };
    if let Some(o) = payload.as_object_mut() {
        match own_options {
            Some(so) if stream => o.insert("stream_options".into(), so),
            _ => o.remove("stream_options"),
        };
    }
    let req = post(&target, &url, &payload);
    http::forward(
        req,
        &target.base_url,
        false,
        if stream { None } else { request_timeout() },
    )
    .await
}

/// An API client's chat request to a Responses API connection: the provider's
/// event stream is relayed as it is, a whole answer in Chat Completions shape.
async fn responses_passthrough(target: &ModelTarget, body: Value, stream: bool) -> Relay {
    let (url, payload, _) = match request_for(target, body, stream) {
        Ok(r) => r,
        Err(e) => return Relay::error(&e),
    };
    let timeout = if stream { None } else { request_timeout() };
    let relay = http::forward(
        post(target, &url, &payload),
        &target.base_url,
        stream,
        timeout,
    )
    .await;
    match relay.body {
        RelayBody::Json(v) if relay.status.is_success() => {
            match as_chat_completion(Wire::Responses, v) {
                Ok(v) => Relay {
                    body: RelayBody::Json(v),
                    ..relay
                },
                Err(e) => Relay::error(&e),
            }
        }
        _ => relay,
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
