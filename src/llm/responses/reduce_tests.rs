use super::*;

fn fold(events: &[Value]) -> (Vec<Value>, Vec<Outcome>) {
    let mut out = Vec::new();
    let outcomes = events.iter().map(|e| apply(&mut out, e)).collect();
    (out, outcomes)
}

#[test]
fn text_reasoning_and_arguments_gather_in_their_items() {
    let (out, outcomes) = fold(&[
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"type": "reasoning", "id": "rs", "summary": []}}),
        json!({"type": "response.reasoning_summary_part.added", "output_index": 0,
               "part": {"type": "summary_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "pla"}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "n"}),
        json!({"type": "response.reasoning_text.delta", "output_index": 0, "delta": "body"}),
        json!({"type": "response.reasoning_summary_text.done", "output_index": 0, "text": "plan"}),
        json!({"type": "response.output_item.added", "output_index": 1,
               "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{\"a\""}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": ":1}"}),
        json!({"type": "response.output_item.added", "output_index": 2,
               "item": {"type": "message", "id": "m", "content": []}}),
        json!({"type": "response.content_part.added", "output_index": 2,
               "part": {"type": "output_text", "text": ""}}),
        json!({"type": "response.output_text.delta", "output_index": 2, "delta": "Hi"}),
        json!({"type": "response.output_text.delta", "output_index": 2, "delta": "!"}),
        json!({"type": "response.completed", "response": {"id": "r", "output": [],
               "usage": {"total_tokens": 3}}}),
    ]);
    assert_eq!(out[0]["summary"][0]["text"], "plan");
    assert_eq!(out[0]["content"][0]["text"], "body");
    assert_eq!(out[0]["status"], "completed");
    assert_eq!(out[1]["arguments"], "{\"a\":1}");
    assert_eq!(out[2]["content"][0]["text"], "Hi!");
    let last = outcomes.last().unwrap();
    assert!(last.done);
    assert_eq!(last.usage, Some(json!({"total_tokens": 3})));
    assert_eq!(last.response_id.as_deref(), Some("r"));
}

#[test]
fn finished_items_and_final_output_replace_what_streamed() {
    let finished = json!({"type": "message", "id": "m", "content": [{"type": "output_text", "text": "whole"}]});
    let (out, _) = fold(&[
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m", "content": []}}),
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "wh"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": finished}),
    ]);
    assert_eq!(out, vec![finished.clone()]);
    let final_word =
        json!({"type": "message", "content": [{"type": "output_text", "text": "final"}]});
    let (out, _) = fold(&[
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "draft"}),
        json!({"type": "response.completed", "response": {"output": [final_word]}}),
    ]);
    assert_eq!(out, vec![final_word]);
}

#[test]
fn refusals_and_errors() {
    let (out, outcomes) = fold(&[
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m", "content": []}}),
        json!({"type": "response.content_part.added", "output_index": 0, "content_index": 0, "part": {"type": "refusal", "refusal": ""}}),
        json!({"type": "response.refusal.delta", "output_index": 0, "content_index": 0, "delta": "no "}),
        json!({"type": "response.refusal.delta", "output_index": 0, "content_index": 0, "delta": "way"}),
        json!({"type": "response.refusal.done", "output_index": 0, "content_index": 0, "refusal": "no way"}),
        json!({"type": "response.failed", "response": {"error": {"message": "quota"}}}),
        json!({"type": "error", "message": "boom"}),
    ]);
    assert_eq!(
        out[0]["content"],
        json!([{"type": "refusal", "refusal": "no way"}])
    );
    assert_eq!(outcomes[5].error, Some(json!({"message": "quota"})));
    assert_eq!(outcomes[6].error.as_ref().unwrap()["message"], "boom");
}

#[test]
fn hostile_events_change_nothing_and_never_panic() {
    let mut out = vec![json!("not an item"), json!(7)];
    for ev in [
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "x"}),
        json!({"type": "response.output_text.delta", "output_index": -3, "delta": "x"}),
        json!({"type": "response.output_text.delta", "output_index": 1u64 << 40, "delta": "x"}),
        json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 1u64 << 40, "delta": "x"}),
        json!({"type": "response.output_text.done", "output_index": 1, "text": "x"}),
        json!({"type": "response.content_part.done", "output_index": 0, "part": {}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": "s"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": {"a": 1}}),
        json!({"type": "response.delta", "delta": "x"}),
        json!({"type": "response.completed", "response": {"output": [1, "x"]}}),
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": "x"}),
    ] {
        apply(&mut out, &ev);
    }
    assert!(out.len() < 10);
    for i in 0..50u64 {
        let far = json!({"type": "response.output_text.delta", "output_index": 1000 + i * 1000, "delta": "x"});
        apply(&mut out, &far);
    }
    assert!(
        out.len() <= 1024,
        "stray deltas cannot grow the list without end"
    );
}
