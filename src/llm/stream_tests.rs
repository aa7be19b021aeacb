//! Tests of the stream decoder and request shaping in `stream.rs`.

use super::*;

fn decoder(wire: Wire) -> Decoder {
    Decoder::new(
        futures::stream::empty().boxed(),
        wire,
        "m".into(),
        "c".into(),
        None,
    )
}

fn drain(d: &mut Decoder) -> Vec<Result<StreamEvent, String>> {
    d.queue
        .drain(..)
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

#[test]
fn sse_split_across_chunks() {
    let mut d = decoder(Wire::Sse);
    d.feed(b"data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\nda");
    d.feed(b"ta: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n: keepalive\n\n");
    d.feed(b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    d.feed(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n");
    let ev = drain(&mut d);
    assert_eq!(ev[0], Ok(StreamEvent::Reasoning("hm".into())));
    assert_eq!(ev[1], Ok(StreamEvent::Content("Hi".into())));
    assert!(matches!(&ev[2], Ok(StreamEvent::Usage(u)) if u["total_tokens"] == 3));
    match &ev[3] {
        Ok(StreamEvent::Finish { reason, last_chunk }) => {
            assert_eq!(reason.as_deref(), Some("stop"));
            assert_eq!(last_chunk["choices"][0]["finish_reason"], "stop");
            assert_eq!(last_chunk["usage"]["total_tokens"], 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(d.done);
}

#[test]
fn long_line_in_small_pieces_and_many_lines_in_one() {
    // A 1 MiB content delta delivered 1 KiB at a time.
    let text = "x".repeat(1 << 20);
    let line = format!(
        "data: {}\n\n",
        json!({"choices": [{"delta": {"content": text}}]})
    );
    let mut d = decoder(Wire::Sse);
    for piece in line.as_bytes().chunks(1024) {
        d.feed(piece);
    }
    assert_eq!(drain(&mut d), vec![Ok(StreamEvent::Content(text))]);
    assert!(d.buf.is_empty());

    // Many short events in one piece, the last one cut in half.
    let one = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
    let mut many = one.repeat(5000);
    many.push_str("data: {\"choi");
    let mut d = decoder(Wire::Sse);
    d.feed(many.as_bytes());
    assert_eq!(d.queue.len(), 5000);
    assert_eq!(d.buf, b"data: {\"choi");
    d.feed(b"ces\":[{\"delta\":{\"content\":\"b\"}}]}\n\n");
    assert_eq!(
        d.queue.back().unwrap().as_ref().ok(),
        Some(&StreamEvent::Content("b".into()))
    );
}

#[test]
fn endless_line_or_event_fails_instead_of_growing() {
    let mut d = decoder(Wire::Ndjson);
    let chunk = vec![b'{'; 1 << 20];
    for _ in 0..(MAX_PIECE_BYTES >> 20) + 1 {
        d.feed(&chunk);
    }
    let ev = drain(&mut d);
    assert_eq!(ev.len(), 1);
    assert!(ev[0].as_ref().unwrap_err().contains("longer than 32 MiB"));
    assert!(d.done && d.buf.is_empty());

    // SSE data lines without the blank line that ends an event.
    let mut d = decoder(Wire::Sse);
    let line = format!("data: {}\n", "y".repeat(1 << 20));
    for _ in 0..(MAX_PIECE_BYTES >> 20) + 1 {
        d.feed(line.as_bytes());
    }
    let ev = drain(&mut d);
    assert_eq!(ev.len(), 1);
    assert!(ev[0]
        .as_ref()
        .unwrap_err()
        .contains("one event of the answer"));
    assert!(d.data.is_empty());
}

#[test]
fn sse_error_and_truncation() {
    let mut d = decoder(Wire::Sse);
    d.feed(b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
    assert_eq!(
        drain(&mut d),
        vec![Err("The model provider sent an error: overloaded".into())]
    );

    let mut d = decoder(Wire::Sse);
    d.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n");
    d.end();
    let ev = drain(&mut d);
    assert_eq!(ev.len(), 2);
    assert!(ev[1].as_ref().unwrap_err().contains("broke off"));
}

#[test]
fn ndjson_with_thinking_and_usage() {
    let mut d = decoder(Wire::Ndjson);
    d.feed(b"{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"t\"},\"done\":false}\n{\"message\":{\"content\":\"A\"},\"done\":false}\n");
    d.feed(b"{\"model\":\"m\",\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":4,\"eval_count\":2,\"eval_duration\":1000000000}\n");
    let ev = drain(&mut d);
    assert_eq!(ev[0], Ok(StreamEvent::Reasoning("t".into())));
    assert_eq!(ev[1], Ok(StreamEvent::Content("A".into())));
    assert!(
        matches!(&ev[2], Ok(StreamEvent::Usage(u)) if u["total_tokens"] == 6 && u["response_token/s"] == 2.0)
    );
    assert!(
        matches!(&ev[3], Ok(StreamEvent::Finish { reason: Some(r), last_chunk }) if r == "stop" && last_chunk["object"] == "chat.completion.chunk")
    );
}

#[test]
fn ollama_completion_shape() {
    let v = ollama_to_openai(
        &json!({"model": "m", "message": {"content": "hi", "thinking": "t"}, "done": true, "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1}),
        "m",
    );
    assert_eq!(v["choices"][0]["message"]["content"], "hi");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "t");
    assert_eq!(v["usage"]["total_tokens"], 2);
}

#[test]
fn non_string_deltas_are_kept_as_text() {
    let mut d = decoder(Wire::Sse);
    d.feed(b"data: {\"choices\":[{\"delta\":{\"reasoning_content\":42}}]}\n\n");
    d.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"head \"}}]}\n\n");
    d.feed(b"data: {\"choices\":[{\"delta\":{\"content\":{\"text\":\"x\"}}}]}\n\n");
    d.feed(b"data: {\"choices\":[{\"delta\":{\"content\":null}}]}\n\n");
    let ev = drain(&mut d);
    assert_eq!(
        ev,
        vec![
            Ok(StreamEvent::Reasoning("42".into())),
            Ok(StreamEvent::Content("head ".into())),
            Ok(StreamEvent::Content("{'text': 'x'}".into())),
        ]
    );
}
