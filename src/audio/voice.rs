//! A model's own call voice (`meta.voice.voice`), which replaces the admin's
//! voice in its calls: one word (no white space) of 1 to 200 characters.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

const MAX_VOICE_CHARS: usize = 200;

/// Whether `voice` may name a model's voice.
pub fn valid_voice(voice: &str) -> bool {
    let n = voice.chars().count();
    (1..=MAX_VOICE_CHARS).contains(&n) && !voice.chars().any(char::is_whitespace)
}

fn invalid(loc: &[&str], msg: &str, typ: &str, input: &Value) -> ApiError {
    let mut full = vec!["body", "meta", "voice"];
    full.extend_from_slice(loc);
    ApiError::Validation(json!([{"type": typ, "loc": full, "msg": msg, "input": input}]))
}

/// Checks `meta.voice` of a model being saved (422 as pydantic answers).
pub fn check_model_voice(meta: &Value) -> ApiResult<()> {
    let voice = match meta.get("voice") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(v)) => v,
        Some(other) => {
            return Err(invalid(
                &[],
                "Input should be a valid dictionary or instance of ModelVoice",
                "model_type",
                other,
            ))
        }
    };
    match voice.get("voice") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Err(invalid(
            &["voice"],
            "String should have at least 1 character",
            "string_too_short",
            &json!(s),
        )),
        Some(Value::String(s)) if s.chars().count() > MAX_VOICE_CHARS => Err(invalid(
            &["voice"],
            "String should have at most 200 characters",
            "string_too_long",
            &json!(s),
        )),
        Some(Value::String(s)) if !valid_voice(s) => Err(invalid(
            &["voice"],
            "String should match pattern '^\\S+$'",
            "string_pattern_mismatch",
            &json!(s),
        )),
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(invalid(
            &["voice"],
            "Input should be a valid string",
            "string_type",
            other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voice_is_one_word() {
        assert!(check_model_voice(&json!({})).is_ok());
        assert!(check_model_voice(&json!({"voice": null})).is_ok());
        assert!(check_model_voice(&json!({"voice": {}})).is_ok());
        assert!(check_model_voice(&json!({"voice": {"voice": "cedar"}})).is_ok());
        for bad in [
            json!({"voice": {"voice": ""}}),
            json!({"voice": {"voice": "two words"}}),
            json!({"voice": {"voice": "x".repeat(201)}}),
            json!({"voice": {"voice": 3}}),
            json!({"voice": "cedar"}),
        ] {
            assert!(
                matches!(check_model_voice(&bad), Err(ApiError::Validation(_))),
                "{bad}"
            );
        }
    }
}
