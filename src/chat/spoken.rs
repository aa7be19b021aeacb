//! What the chat model is told of a realtime voice call. A call stores its
//! record in an assistant message's `meta.voice`: the voice model's id and the
//! transcripts of what it said. A reply the voice model gave on its own (the
//! message's `model` is the voice's) is passed on only as a labelled
//! transcript, never as an answer of the chat model; the spoken transcripts
//! of a chat answer follow that answer as labelled assistant messages.

use serde_json::{json, Map, Value};

/// Marks a transcript so the model reads it as a record of what was said
/// aloud earlier, not as a claim about the present state of a task.
const LABEL: &str = "[Transcript of an earlier spoken voice reply; it does not describe the current state of any task]\n";

fn voice(m: &Value) -> Option<&Map<String, Value>> {
    m.get("meta")?
        .get("voice")?
        .as_object()
        .filter(|v| !v.is_empty())
}

fn labelled(text: &str) -> Value {
    json!({"role": "assistant", "content": format!("{LABEL}{text}")})
}

/// An assistant message the voice model spoke by itself (no output items):
/// the one labelled message it becomes, or `None` when it is not such a reply.
/// An empty reply becomes nothing (`Some(vec![])`).
pub fn spoken_alone(m: &Value, text: &str) -> Option<Vec<Value>> {
    let v = voice(m)?;
    let has_output = m
        .get("output")
        .and_then(Value::as_array)
        .is_some_and(|o| !o.is_empty());
    if has_output || m.get("model").is_none() || m.get("model") != v.get("model") {
        return None;
    }
    Some(if text.is_empty() {
        Vec::new()
    } else {
        vec![labelled(text)]
    })
}

/// The labelled transcripts that follow a chat answer the call read aloud.
pub fn transcripts_after(m: &Value) -> Vec<Value> {
    let Some(speech) = voice(m)
        .and_then(|v| v.get("speech"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    speech
        .iter()
        .filter_map(|s| s.get("transcript").and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .map(labelled)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(model: &str) -> Value {
        json!({"voice": {"model": model, "speech": [
            {"item_id": "a", "transcript": "said aloud"},
            {"item_id": "b", "transcript": ""},
            {"item_id": "c"}
        ]}})
    }

    #[test]
    fn a_voice_reply_becomes_one_labelled_transcript() {
        let m = json!({"role": "assistant", "model": "voice-1", "content": "hi", "meta": record("voice-1")});
        let out = spoken_alone(&m, "hi").unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0]["content"].as_str().unwrap().ends_with("\nhi"));
        assert!(transcripts_after(&m).len() == 1);
    }

    #[test]
    fn a_chat_answer_keeps_its_place_and_gets_its_transcripts_after() {
        let m = json!({"role": "assistant", "model": "chat-1", "content": "x", "meta": record("voice-1")});
        assert!(spoken_alone(&m, "x").is_none());
        let after = transcripts_after(&m);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0]["content"], format!("{LABEL}said aloud"));
    }

    #[test]
    fn no_record_no_change() {
        let m = json!({"role": "assistant", "model": "m", "content": "x", "meta": {"voice": {}}});
        assert!(spoken_alone(&m, "x").is_none());
        assert!(transcripts_after(&m).is_empty());
        let with_output = json!({"role": "assistant", "model": "v", "output": [{"type": "message"}], "meta": record("v")});
        assert!(spoken_alone(&with_output, "").is_none());
    }
}
