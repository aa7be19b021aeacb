use base64::Engine as _;
use serde_json::{json, Value};

use super::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn said(r: CallResult<impl std::fmt::Debug>) -> &'static str {
    match r {
        Err(CallEnd::Says(m)) => m,
        other => panic!("expected an end, got {other:?}"),
    }
}

fn heard(p: &mut CallProtocol, item: &str) {
    let mut e = json!({
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": item, "content_index": 0, "transcript": "when is high tide",
    });
    assert_eq!(p.observe(&mut e).unwrap(), None);
}

fn delegated(p: &mut CallProtocol, response: &str, call: &str, name: &str, args: Value) -> Value {
    let mut created = json!({"type": "response.created", "response": {"id": response, "metadata": {"input_item_id": "item_1", "other": 1}}});
    p.observe(&mut created).unwrap();
    let mut item = json!({
        "type": "response.output_item.done", "response_id": response,
        "item": {"type": "function_call", "status": "completed", "name": name,
                 "call_id": call, "arguments": args.to_string()},
    });
    p.observe(&mut item).unwrap();
    let mut done =
        json!({"type": "response.done", "response": {"id": response, "status": "completed"}});
    p.observe(&mut done).unwrap();
    item
}

#[test]
fn a_heard_input_is_answered_once() {
    let mut p = CallProtocol::new(&[]);
    let respond = json!({"type": "bridge.respond", "item_id": "item_1"});
    assert_eq!(
        said(p.command(&respond)),
        "Unknown or already answered input"
    );
    heard(&mut p, "item_1");
    let asked = p.command(&respond).unwrap();
    assert_eq!(
        asked,
        vec![
            json!({"type": "response.create", "response": {"metadata": {"input_item_id": "item_1"}}})
        ]
    );
    assert_eq!(
        said(p.command(&respond)),
        "Unknown or already answered input"
    );
}

#[test]
fn an_empty_or_failed_transcript_is_deleted_at_the_provider() {
    let mut p = CallProtocol::new(&[]);
    for mut e in [
        json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "a", "transcript": "  "}),
        json!({"type": "conversation.item.input_audio_transcription.failed", "item_id": "a", "error": {"message": "x"}}),
    ] {
        assert_eq!(
            p.observe(&mut e).unwrap(),
            Some(json!({"type": "conversation.item.delete", "item_id": "a"}))
        );
    }
    assert_eq!(
        said(p.command(&json!({"type": "bridge.respond", "item_id": "a"}))),
        "Unknown or already answered input"
    );
}

#[test]
fn a_function_result_goes_over_once_and_is_spoken_once() {
    let mut p = CallProtocol::new(&[]);
    heard(&mut p, "item_1");
    delegated(
        &mut p,
        "resp_1",
        "call_1",
        "generate_chat_completion",
        json!({"request": "tide"}),
    );
    let speak = json!({"type": "bridge.respond", "call_id": "call_1"});
    assert_eq!(said(p.command(&speak)), "Function result is not ready");
    let result = json!({"type": "bridge.result", "call_id": "call_1", "status": "completed", "answer": "Six."});
    let sent = p.command(&result).unwrap();
    assert_eq!(sent[0]["item"]["type"], "function_call_output");
    assert_eq!(
        serde_json::from_str::<Value>(sent[0]["item"]["output"].as_str().unwrap()).unwrap(),
        json!({"status": "completed", "answer": "Six."})
    );
    assert_eq!(
        said(p.command(&result)),
        "Unknown or resolved function call"
    );
    let asked = p.command(&speak).unwrap();
    assert_eq!(
        asked[0]["response"],
        json!({"tools": [], "tool_choice": "none", "metadata": {"call_id": "call_1"}})
    );
    assert_eq!(said(p.command(&speak)), "Function result is not ready");
}

#[test]
fn a_failed_result_is_spoken_with_our_instructions() {
    let mut p = CallProtocol::new(&[Gesture {
        name: "wave".into(),
        description: "Wave.".into(),
    }]);
    delegated(
        &mut p,
        "r",
        "c",
        "generate_chat_completion",
        json!({"request": "x"}),
    );
    p.command(&json!({"type": "bridge.result", "call_id": "c", "status": "failed", "answer": ""}))
        .unwrap();
    let asked = p
        .command(&json!({"type": "bridge.respond", "call_id": "c"}))
        .unwrap();
    assert_eq!(asked[0]["response"]["tools"], json!([]));
    assert!(asked[0]["response"]["instructions"]
        .as_str()
        .unwrap()
        .starts_with("Briefly tell the user the request failed"));
}

#[test]
fn provider_function_calls_are_checked() {
    let mut p = CallProtocol::new(&[]);
    let mut odd = json!({"type": "response.output_item.done", "response_id": "r",
        "item": {"type": "function_call", "status": "completed", "name": "rm_rf", "call_id": "c", "arguments": "{}"}});
    assert_eq!(said(p.observe(&mut odd)), "Unexpected voice function");
    for (args, message) in [
        (
            json!({"request": "x", "more": 1}),
            "Invalid voice function arguments",
        ),
        (json!({"request": 3}), "Invalid voice function arguments"),
        (json!({"request": "   "}), "Invalid voice function request"),
    ] {
        let mut e = json!({"type": "response.output_item.done", "response_id": "r",
            "item": {"type": "function_call", "status": "completed", "name": "generate_chat_completion",
                     "call_id": "c", "arguments": args.to_string()}});
        assert_eq!(said(p.observe(&mut e)), message);
    }
}

#[test]
fn each_snapshot_replaces_the_one_before_and_is_capped() {
    let mut p = CallProtocol::new(&[]);
    let first = json!([{"role": "user", "content": "where is the pier"}]);
    let items = p
        .command(&json!({"type": "bridge.context", "messages": first}))
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["item"]["id"], "chat_context_1");
    let text = items[0]["item"]["content"][0]["text"].as_str().unwrap();
    let (preamble, body) = text.split_once('\n').unwrap();
    assert!(preamble.starts_with("Current chat snapshot"));
    assert_eq!(serde_json::from_str::<Value>(body).unwrap(), first);
    let items = p
        .command(&json!({"type": "bridge.context", "messages": []}))
        .unwrap();
    assert_eq!(
        items[0],
        json!({"type": "conversation.item.delete", "item_id": "chat_context_1"})
    );
    assert_eq!(items[1]["item"]["id"], "chat_context_2");

    let long: Vec<Value> = (0..3)
        .map(|_| json!({"role": "user", "content": "x".repeat(30_000)}))
        .collect();
    assert_eq!(
        said(p.command(&json!({"type": "bridge.context", "messages": long}))),
        "Call history is too large"
    );
    for bad in [
        json!([{"role": "system", "content": "x"}]),
        json!([{"role": "user", "content": "x", "name": "y"}]),
        json!([{"role": "user", "content": "x".repeat(32_001)}]),
    ] {
        assert_eq!(
            said(p.command(&json!({"type": "bridge.context", "messages": bad}))),
            "Invalid history message"
        );
    }
}

#[test]
fn only_the_allowed_commands_pass() {
    let mut p = CallProtocol::new(&[]);
    for (command, message) in [
        (
            json!({"type": "session.update", "session": {"voice": "x"}}),
            "Unsupported call command",
        ),
        (
            json!({"type": "bridge.history", "messages": []}),
            "Unsupported call command",
        ),
        (
            json!({"type": "input_audio_buffer.commit", "extra": 1}),
            "Unsupported call command",
        ),
        (
            json!({"type": "response.create", "response": {}}),
            "Unsupported call command",
        ),
        (
            json!({"type": "bridge.status", "status": "dancing"}),
            "Unsupported call command",
        ),
        (json!([1]), "Invalid call command"),
        (
            json!({"type": "response.cancel", "response_id": "nope"}),
            "Unknown response",
        ),
        (
            json!({"type": "input_audio_buffer.append", "audio": b64(&[0; 48_002])}),
            "Invalid microphone audio",
        ),
        (
            json!({"type": "input_audio_buffer.append", "audio": b64(&[0; 3])}),
            "Invalid microphone audio",
        ),
        (
            json!({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": 0}),
            "Invalid playback position",
        ),
        (
            json!({"type": "bridge.animation.result", "call_id": "c", "status": "started"}),
            "Invalid animation result",
        ),
        (
            json!({"type": "bridge.animation.respond", "response_id": "r"}),
            "Animation response is not ready",
        ),
    ] {
        assert_eq!(said(p.command(&command)), message, "{command}");
    }
    let mic = json!({"type": "input_audio_buffer.append", "audio": b64(&[0; 4800])});
    assert_eq!(p.command(&mic).unwrap(), vec![mic]);
    let status = p
        .command(&json!({"type": "bridge.status", "status": "working"}))
        .unwrap();
    assert_eq!(status[0]["response"]["conversation"], "none");
}

#[test]
fn playback_can_be_cut_within_the_audio_heard() {
    let mut p = CallProtocol::new(&[]);
    // a tenth of a second at 24 kHz
    let mut delta = json!({"type": "response.output_audio.delta", "response_id": "r",
        "item_id": "i", "content_index": 0, "delta": b64(&[0; 4800])});
    p.observe(&mut delta).unwrap();
    let cut = |ms: Value| json!({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": ms});
    assert!(p.command(&cut(json!(100))).is_ok());
    assert_eq!(
        said(p.command(&cut(json!(101)))),
        "Invalid playback position"
    );
    assert_eq!(
        said(p.command(&cut(json!(true)))),
        "Invalid playback position"
    );
    assert_eq!(
        said(p.command(&cut(json!(1.5)))),
        "Invalid playback position"
    );
    let mut odd = json!({"type": "response.output_audio.delta", "response_id": "r",
        "item_id": "i", "content_index": 0, "delta": b64(&[0; 3])});
    assert_eq!(said(p.observe(&mut odd)), "Invalid provider PCM");
}

#[test]
fn a_gesture_reports_what_the_avatar_can_do_and_the_provider_goes_on() {
    let wave = Gesture {
        name: "wave".into(),
        description: "Wave.".into(),
    };
    let mut p = CallProtocol::new(&[wave]);
    assert_eq!(p.animation_tools().len(), 1);
    let played = delegated(
        &mut p,
        "resp_1",
        "call_1",
        "play_animation",
        json!({"name": "wave"}),
    );
    assert_eq!(played["animation_valid"], true);
    let unknown = delegated(
        &mut p,
        "resp_2",
        "call_2",
        "play_animation",
        json!({"name": "cartwheel"}),
    );
    assert_eq!(unknown["animation_valid"], false);
    // the response is not ready while one of its gestures is unanswered
    let go_on = json!({"type": "bridge.animation.respond", "response_id": "resp_1"});
    assert_eq!(said(p.command(&go_on)), "Animation response is not ready");
    let result = |call: &str| json!({"type": "bridge.animation.result", "call_id": call, "status": "started"});
    let out = p.command(&result("call_1")).unwrap();
    let output: Value = serde_json::from_str(out[0]["item"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["status"], "started");
    let out = p.command(&result("call_2")).unwrap();
    let output: Value = serde_json::from_str(out[0]["item"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["status"], "unavailable");
    assert_eq!(
        said(p.command(&result("call_1"))),
        "Invalid animation result"
    );
    let asked = p.command(&go_on).unwrap();
    assert_eq!(
        asked[0]["response"]["metadata"],
        json!({"input_item_id": "item_1"})
    );
    assert_eq!(
        asked[0]["response"]["tools"][0]["name"],
        "generate_chat_completion"
    );
    assert_eq!(said(p.command(&go_on)), "Animation response is not ready");
}

#[test]
fn a_call_tracks_a_bounded_number_of_ids() {
    let mut p = CallProtocol::new(&[]);
    for i in 0..LIMIT {
        let mut e = json!({"type": "response.created", "response": {"id": format!("r{i}")}});
        p.observe(&mut e).unwrap();
    }
    let mut one_more = json!({"type": "response.created", "response": {"id": "last"}});
    assert_eq!(
        said(p.observe(&mut one_more)),
        "Call limit reached. Start a new call."
    );
}
