//! `ask_user`: the model asks the user up to three multiple-choice
//! questions and the turn waits for the answer. A call that cannot be shown
//! is refused with a result the model reads, so it can try again.

use serde_json::{json, Map, Value};

pub const ASK_USER: &str = "ask_user";

pub const NOT_ALONE: &str =
    "Error: ask_user did not run because it must be the only tool call of its round. Ask on its own.";
pub const ONE_PER_TURN: &str =
    "Error: ask_user did not run; only one question call fits in a round.";

/// How long the browser shows the question, in milliseconds, unless the
/// model asks for 60–240 seconds.
const DEFAULT_TIMEOUT_MS: i64 = 120_000;

fn text_of(v: Option<&Value>, max: usize) -> String {
    let s = match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    s.trim().chars().take(max).collect()
}

fn refuse(why: &str) -> String {
    format!("Error: ask_user did not run: {why}")
}

/// The call's arguments checked and filled in (headers, `allow_other`,
/// `timeout_ms`), or the refusal text.
pub fn normalize(raw: &str) -> Result<Value, String> {
    let parsed: Value = serde_json::from_str(if raw.trim().is_empty() { "{}" } else { raw })
        .map_err(|_| refuse("its arguments are not valid JSON."))?;
    let Value::Object(args) = parsed else {
        return Err(refuse("its arguments must be a JSON object."));
    };
    let Some(questions) = args.get("questions").and_then(Value::as_array) else {
        return Err(refuse("`questions` must be a list of question objects."));
    };
    if !(1..=3).contains(&questions.len()) {
        return Err(refuse("ask between one and three questions."));
    }
    let allow_other = args
        .get("allow_other")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let Value::Object(q) = q else {
            return Err(refuse("every question must be an object."));
        };
        let id = text_of(q.get("id"), 64);
        if id.is_empty() {
            return Err(refuse("every question needs a non-empty `id`."));
        }
        if !seen.insert(id.clone()) {
            return Err(refuse(&format!("the question id `{id}` is used twice.")));
        }
        let options = options_of(q)?;
        let question = text_of(q.get("question"), 500);
        if question.is_empty() {
            return Err(refuse("every question needs its text in `question`."));
        }
        let mut header = text_of(q.get("header"), 48);
        if header.is_empty() {
            header = format!("Question {}", i + 1);
        }
        out.push(json!({
            "id": id,
            "header": header,
            "question": question,
            "options": options,
            "allow_other": q.get("allow_other").and_then(Value::as_bool).unwrap_or(allow_other),
        }));
    }
    let timeout_ms = match args.get("timeout_ms") {
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|t| (60_000..=240_000).contains(t))
            .unwrap_or(DEFAULT_TIMEOUT_MS),
        _ => DEFAULT_TIMEOUT_MS,
    };
    Ok(json!({"questions": out, "allow_other": allow_other, "timeout_ms": timeout_ms}))
}

fn options_of(q: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let Some(options) = q.get("options").and_then(Value::as_array) else {
        return Err(refuse("every question needs two or three `options`."));
    };
    if !(2..=3).contains(&options.len()) {
        return Err(refuse("every question needs two or three `options`."));
    }
    options
        .iter()
        .map(|o| {
            let Value::Object(o) = o else {
                return Err(refuse("every option must be an object."));
            };
            let label = text_of(o.get("label"), 80);
            let description = text_of(o.get("description"), 240);
            if label.is_empty() || description.is_empty() {
                return Err(refuse("every option needs a `label` and a `description`."));
            }
            Ok(json!({"label": label, "description": description}))
        })
        .collect()
}

/// The tool's description for the model.
pub fn spec() -> Value {
    let option = json!({
        "type": "object",
        "properties": {
            "label": {"type": "string", "description": "Short answer text (up to 80 characters)."},
            "description": {"type": "string", "description": "What choosing this answer means."}
        },
        "required": ["label", "description"]
    });
    json!({
        "name": ASK_USER,
        "description": "Ask the user one to three multiple-choice questions when you cannot go on without their decision. Call it alone, and wait for the answers.",
        "parameters": {
            "type": "object",
            "properties": {
                "questions": {
                    "type": "array",
                    "description": "One to three questions.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "description": "A unique id for the question."},
                            "header": {"type": "string", "description": "A short title."},
                            "question": {"type": "string", "description": "The question itself."},
                            "options": {"type": "array", "items": option, "description": "Two or three answers."},
                            "allow_other": {"type": "boolean", "description": "Whether the user may answer in their own words."}
                        },
                        "required": ["id", "question", "options"]
                    }
                },
                "allow_other": {"type": "boolean"},
                "timeout_ms": {"type": "integer", "description": "How long to wait, 60000 to 240000 ms."}
            },
            "required": ["questions"]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str) -> Value {
        json!({"id": id, "question": "Which?", "options": [
            {"label": "A", "description": "a"}, {"label": "B", "description": "b"}]})
    }

    #[test]
    fn questions_are_checked_and_filled_in() {
        let ok = normalize(&json!({"questions": [q("q1")]}).to_string()).unwrap();
        assert_eq!(ok["timeout_ms"], 120_000);
        assert_eq!(ok["questions"][0]["header"], "Question 1");
        for bad in [
            "{not json".to_string(),
            "[]".into(),
            json!({"questions": []}).to_string(),
            json!({"questions": [q("a"), q("b"), q("c"), q("d")]}).to_string(),
            json!({"questions": [q("")]}).to_string(),
            json!({"questions": [q("a"), q("a")]}).to_string(),
            json!({"questions": ["text"]}).to_string(),
        ] {
            assert!(normalize(&bad).unwrap_err().starts_with("Error:"), "{bad}");
        }
    }
}
