use serde_json::{json, Value};

use super::*;

fn msg(role: &str, content: &str) -> Value {
    json!({"role": role, "content": content})
}

/// `n` question/answer pairs.
fn pairs(n: usize) -> Vec<Value> {
    (1..=n)
        .flat_map(|i| {
            [
                msg("user", &format!("q{i}")),
                msg("assistant", &format!("a{i}")),
            ]
        })
        .collect()
}

#[test]
fn usage_dialects_count_prompt_and_completion() {
    let cases = [
        (json!({"prompt_tokens": 100, "completion_tokens": 10}), 110),
        (json!({"prompt_eval_count": 100, "eval_count": 10}), 110),
        (
            json!({"prompt_n": 60, "cache_n": 40, "predicted_n": 10}),
            110,
        ),
        (json!({"input_tokens": 100, "output_tokens": 10}), 110),
        // a prompt_tokens already includes llama.cpp's cached slice
        (
            json!({"prompt_tokens": 100, "completion_tokens": 10, "cache_n": 90}),
            110,
        ),
        (json!({"cache_n": 5}), 5),
        (json!({}), 0),
    ];
    for (usage, tokens) in cases {
        assert_eq!(usage_tokens(&usage), tokens, "{usage}");
    }
}

#[test]
fn estimates_are_a_quarter_of_the_characters() {
    assert_eq!(estimate_text(""), 0);
    assert_eq!(estimate_text("ab"), 1);
    assert_eq!(estimate_text(&"x".repeat(40)), 10);
    let with_image = json!({"role": "user", "content": [
        {"type": "text", "text": "x".repeat(8)},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]});
    assert_eq!(estimate_messages(&[with_image]), 4 + 2 + 1000);
    // inline file data is not counted
    let big = format!("data:image/png;base64,{}", "A".repeat(4000));
    let files = json!({"role": "user", "content": "", "files": [{"url": big}]});
    assert!(estimate_messages(&[files]) < 20);
}

#[test]
fn newest_usage_wins_over_the_estimate() {
    let mut messages = pairs(2);
    messages[1]["usage"] = json!({"prompt_tokens": 1000, "completion_tokens": 5});
    messages[3]["info"] = json!({"usage": {"prompt_tokens": 90, "completion_tokens": 10}});
    assert_eq!(conversation_tokens(&messages, 500), 100);
    messages.push(msg("user", &"x".repeat(40)));
    assert_eq!(conversation_tokens(&messages, 500), 100 + 4 + 10);
    assert_eq!(conversation_tokens(&pairs(1), 500), 500 + 2 * (4 + 1));
}

#[test]
fn threshold_settings() {
    let s = Settings::from_values(
        true,
        &json!(100),
        &Value::Null,
        &json!(95),
        String::new(),
        String::new(),
    );
    assert_eq!((s.threshold, s.cap, s.retention), (100, 100, 50));
    assert_eq!(s.threshold_for(Some(&json!(5000))), 100);
    assert_eq!(s.threshold_for(Some(&json!(50))), 50);
    assert_eq!(s.threshold_for(Some(&json!(0))), 100);
    assert_eq!(s.threshold_for(Some(&json!("60"))), 60);
    let s = Settings::from_values(
        false,
        &json!(-3),
        &json!(90_000),
        &json!("x"),
        String::new(),
        String::new(),
    );
    assert_eq!((s.threshold, s.cap, s.retention), (80_000, 90_000, 40));
    assert_eq!(clamp_retention(&json!(5)), 10);
    assert!(!exceeds(&pairs(3), "", None, 0));
    assert!(exceeds(&pairs(3), "", None, 20));
    assert!(!exceeds(&pairs(3), "", None, 40));
}

#[test]
fn the_kept_part_starts_at_a_user_turn() {
    // 3 pairs and a new question: keep 40% → the cut lands on q3
    let mut m = pairs(3);
    m.push(msg("user", "q4"));
    assert_eq!(boundary(&m, 40), 4);
    // 4 pairs + question (9 messages): 50% keeps from q3, 10% from q4
    let mut m = pairs(4);
    m.push(msg("user", "q5"));
    assert_eq!(boundary(&m, 50), 4);
    assert_eq!(boundary(&m, 10), 6);
    // no later user turn: nothing to cut
    let m = vec![
        msg("user", "q"),
        msg("assistant", "a"),
        msg("assistant", "b"),
    ];
    assert_eq!(boundary(&m, 40), 0);
    // the first later user turn is allowed even inside the kept share
    let m = vec![msg("user", "q1"), msg("assistant", "a1"), msg("user", "q2")];
    assert_eq!(boundary(&m, 50), 2);
}

#[test]
fn in_a_tool_loop_the_cut_lands_on_a_call_batch() {
    let call = |id: &str| json!({"role": "assistant", "content": "", "tool_calls": [{"id": id}]});
    let result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "r"});
    let m = vec![
        msg("user", "q"),
        call("c1"),
        result("c1"),
        call("c2"),
        result("c2"),
        call("c3"),
        result("c3"),
    ];
    assert_eq!(boundary(&m, 40), 5);
    assert_eq!(boundary(&m, 50), 3);
}

#[test]
fn a_stored_summary_replaces_what_came_before() {
    let mut m = pairs(3);
    m[2]["contextSummary"] = json!("older");
    m[4]["contextSummary"] = json!("newer");
    let (kept, summary) = apply_checkpoint(m.clone());
    assert_eq!(summary.as_deref(), Some("newer"));
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0]["content"], "q3");
    let (kept, summary) = apply_checkpoint(pairs(2));
    assert_eq!((kept.len(), summary), (4, None));
}

#[test]
fn a_tool_loop_marker_keeps_the_named_batch_on() {
    let out = json!([
        {"type": "message", "content": [{"type": "output_text", "text": "looking"}]},
        {"type": "function_call", "call_id": "c1", "name": "t", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": []},
        {"type": "message", "content": [{"type": "output_text", "text": "more"}]},
        {"type": "function_call", "call_id": "c2", "name": "t", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c2", "output": []},
        {"type": MARKER, "call_id": "c2", "summary": "S"},
    ]);
    let m = vec![
        msg("user", "q1"),
        msg("assistant", "a1"),
        msg("user", "q2"),
        json!({"role": "assistant", "content": "", "output": out}),
    ];
    let (kept, summary) = apply_checkpoint(m);
    assert_eq!(summary.as_deref(), Some("S"));
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0]["content"], "q2");
    let items = kept[1]["output"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[1]["call_id"], "c2");
}

#[test]
fn the_prompt_has_each_part_in_its_place() {
    let m = pairs(3);
    let p = render_prompt("", &m[..5], &m[5..], Some("PREV"), "Ann");
    let (head, rest) = p.split_once("### Messages Being Compacted:").unwrap();
    let (old, recent) = rest
        .split_once("### Recent Messages Kept In Context:")
        .unwrap();
    assert!(head.contains("### Previous Summary:\nPREV"));
    assert!(old.contains("USER: q1") && old.contains("ASSISTANT: a2") && !old.contains("a3"));
    assert!(recent.contains("ASSISTANT: a3") && !recent.contains("q1"));
    // admin templates get the usual variables; message text is not expanded
    let m = [msg("user", "say {{USER_NAME}}"), msg("assistant", "ok")];
    let p = render_prompt(
        "{{USER_NAME}}|{{prompt}}|{{MESSAGES:END:1}}|{{COMPACTED_MESSAGES}}|{{x}}",
        &m[..1],
        &m[1..],
        None,
        "Ann",
    );
    assert_eq!(
        p,
        "Ann|say {{USER_NAME}}|ASSISTANT: ok|USER: say {{USER_NAME}}|{{x}}"
    );
}

#[test]
fn tool_calls_show_in_the_transcript() {
    let m = json!({"role": "assistant", "content": "", "output": [
        {"type": "function_call", "call_id": "c1", "name": "get_time", "arguments": "{}"},
    ]});
    let t = transcript(&[m]);
    assert!(t[0].1.starts_with("[TOOL CALLS]") && t[0].1.contains("get_time"));
}

#[test]
fn answers_and_fallbacks() {
    let raw = json!({"choices": [{"message": {"content": "", "reasoning_content": "R"}}]});
    assert_eq!(answer_text(&raw), "R");
    let raw = json!({"choices": [{"message": {"content": "C"}}]});
    assert_eq!(answer_text(&raw), "C");
    assert_eq!(answer_text(&json!({"message": {"content": "O"}})), "O");
    let long = "y".repeat(900);
    let f = fallback_summary(Some("P"), &[msg("user", &long), msg("assistant", "")]);
    assert!(f.starts_with("P\n- user: yyy"));
    assert_eq!(f.chars().count(), 1 + 1 + 8 + 500);
}

#[test]
fn the_summary_joins_the_system_message() {
    let mut m = vec![msg("system", "Be kind."), msg("user", "q")];
    add_summary_to_system(&mut m, "S");
    assert_eq!(m[0]["content"], "Be kind.\n[CONVERSATION SUMMARY]\nS");
    let mut m = vec![msg("user", "q")];
    add_summary_to_system(&mut m, "S");
    assert_eq!(m[0], msg("system", "[CONVERSATION SUMMARY]\nS"));
}

#[test]
fn usage_report_rounds_half_to_even() {
    let r = usage_report(125, 1000);
    assert_eq!(r["percent"], 12);
    assert_eq!(usage_report(5, 0)["percent"], 0);
    assert_eq!(usage_report(90_500, 80_000)["percent"], 113);
}
