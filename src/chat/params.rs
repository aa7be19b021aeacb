//! The parameters a turn sends to the provider: the model's params (global
//! defaults overlaid with the workspace model's), the chat's own params over
//! them, and the model controls people picked (or each control's default)
//! merged into `custom_params`, which reach the provider as top-level
//! fields with string values read as JSON.

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::llm::ResolvedModel;

/// The picks of a request (`params.model_controls`): by model id, then by
/// control key. Anything but an object is refused.
pub fn picks_of(body: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    match body.get("params").and_then(|p| p.get("model_controls")) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ApiError::bad_request(
            "Model control options must be keyed by model.",
        )),
    }
}

/// Refuses picks of options a control no longer offers. Picks of controls
/// that are gone are ignored: the chat input has no menu left to clear them.
pub fn check_picks(controls: &Value, picks: &Value) -> ApiResult<()> {
    let Some(picks) = picks.as_object() else {
        if picks.is_null() {
            return Ok(());
        }
        return Err(ApiError::bad_request(
            "Model control options must be an object.",
        ));
    };
    for (key, choice) in picks {
        let Some(control) = controls.get(key) else {
            continue;
        };
        let offered = choice
            .as_str()
            .is_some_and(|c| control["options"].get(c).is_some());
        if !offered {
            return Err(ApiError::bad_request(format!(
                "Model control {key}: the selected option is no longer available."
            )));
        }
    }
    Ok(())
}

fn valid_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(k, "constructor" | "prototype")
}

fn has_text(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.trim().is_empty())
}

/// What is wrong with a model's `params.model_controls`, as
/// `(location, message)` pairs (empty when it is well formed): keys start
/// with a letter and hold letters, digits, `_` and `-` (not `constructor` or
/// `prototype`); every control has a label, at least one option (two for a
/// slider) and a default among its options if any; every option a label and
/// a `params` object.
pub fn control_problems(controls: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(map) = controls.as_object() else {
        return vec![("model_controls".into(), "must be an object".into())];
    };
    for (key, c) in map {
        let at = |what: &str| format!("model_controls.{key}{what}");
        if !valid_key(key) {
            out.push((at(""), "is not a valid control key".into()));
        }
        let Some(c) = c.as_object() else {
            out.push((at(""), "must be an object".into()));
            continue;
        };
        if !c.get("label").is_some_and(has_text) {
            out.push((at(".label"), "must not be blank".into()));
        }
        if c.get("description")
            .is_some_and(|d| !d.is_null() && !d.is_string())
        {
            out.push((at(".description"), "must be text".into()));
        }
        let display = c.get("display").and_then(Value::as_str).unwrap_or("menu");
        if !matches!(display, "menu" | "slider") {
            out.push((at(".display"), "must be menu or slider".into()));
        }
        let options = c.get("options").and_then(Value::as_object);
        let count = options.map_or(0, Map::len);
        if count == 0 {
            out.push((at(".options"), "needs at least one option".into()));
        } else if display == "slider" && count < 2 {
            out.push((at(".options"), "a slider needs at least two options".into()));
        }
        for (ok, o) in options.into_iter().flatten() {
            if !valid_key(ok) {
                out.push((
                    at(&format!(".options.{ok}")),
                    "is not a valid option key".into(),
                ));
            }
            if !o.get("label").is_some_and(has_text) {
                out.push((
                    at(&format!(".options.{ok}.label")),
                    "must not be blank".into(),
                ));
            }
            if !o.get("params").is_some_and(Value::is_object) {
                out.push((
                    at(&format!(".options.{ok}.params")),
                    "must be an object".into(),
                ));
            }
        }
        match c.get("default") {
            None | Some(Value::Null) => {}
            Some(Value::String(d)) if options.is_some_and(|o| o.contains_key(d)) => {}
            Some(_) => out.push((at(".default"), "must name one of the options".into())),
        }
    }
    out
}

fn deep_merge(target: &mut Value, src: &Value) {
    match (target, src) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                match t.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => deep_merge(slot, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, s) => *t = s.clone(),
    }
}

/// The params for one turn on `resolved`: the model's params, the request's
/// non-null `params` over them (`model_controls` left out), then the picked
/// options for this model (or each control's default) merged into
/// `custom_params`.
pub fn turn_params(
    resolved: &ResolvedModel,
    request_params: Option<&Value>,
    picks: &Map<String, Value>,
) -> ApiResult<Value> {
    let mut params = match &resolved.params {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(req)) = request_params {
        for (k, v) in req {
            if v.is_null() || k == "model_controls" {
                continue;
            }
            if k == "custom_params" {
                let slot = params.entry(k.clone()).or_insert_with(|| json!({}));
                deep_merge(slot, v);
            } else {
                params.insert(k.clone(), v.clone());
            }
        }
    }
    let chosen = picks.get(&resolved.id).cloned().unwrap_or(Value::Null);
    check_picks(&resolved.controls, &chosen)?;
    if let Value::Object(controls) = &resolved.controls {
        for (key, control) in controls {
            let choice = chosen
                .get(key)
                .and_then(Value::as_str)
                .or_else(|| control.get("default").and_then(Value::as_str));
            let Some(option) = choice.and_then(|c| control["options"].get(c)) else {
                continue;
            };
            let slot = params.entry("custom_params").or_insert_with(|| json!({}));
            if !slot.is_object() {
                *slot = json!({});
            }
            deep_merge(slot, &option["params"]);
        }
    }
    Ok(Value::Object(params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(params: Value, controls: Value) -> ResolvedModel {
        ResolvedModel {
            id: "m".into(),
            target: crate::llm::ModelTarget {
                provider: crate::llm::Provider::OpenAi,
                base_url: String::new(),
                api_key: None,
                upstream_id: "m".into(),
                url_idx: 0,
                api_config: json!({}),
            },
            model_item: json!({}),
            params,
            selected_model_id: None,
            controls,
            direct: false,
        }
    }

    fn thinking() -> Value {
        json!({"thinking": {"label": "Thinking", "default": "medium", "options": {
            "low": {"label": "Low", "params": {"reasoning_effort": "low"}},
            "medium": {"label": "Medium", "params": {"reasoning_effort": "medium"}},
            "high": {"label": "High", "params": {"reasoning_effort": "high", "max_tokens": "4096"}},
        }}})
    }

    #[test]
    fn defaults_picks_and_chat_params_merge() {
        let r = resolved(
            json!({"top_p": 0.5, "custom_params": {"x": "1"}}),
            thinking(),
        );
        let none = Map::new();
        let p = turn_params(&r, Some(&json!({"temperature": 0.2, "seed": null})), &none).unwrap();
        assert_eq!(
            p["custom_params"],
            json!({"x": "1", "reasoning_effort": "medium"})
        );
        assert_eq!(p["temperature"], json!(0.2));
        assert!(p.get("seed").is_none());
        let picks = json!({"m": {"thinking": "high"}})
            .as_object()
            .unwrap()
            .clone();
        let p = turn_params(&r, None, &picks).unwrap();
        assert_eq!(p["custom_params"]["max_tokens"], "4096");
        // Picks for another model do not apply here.
        let other = json!({"n": {"thinking": "high"}})
            .as_object()
            .unwrap()
            .clone();
        let p = turn_params(&r, None, &other).unwrap();
        assert_eq!(p["custom_params"]["reasoning_effort"], "medium");
    }

    #[test]
    fn malformed_controls_are_named() {
        assert!(control_problems(&thinking()).is_empty());
        let mut bad = thinking();
        bad["thinking"]["default"] = json!("extreme");
        assert_eq!(control_problems(&bad).len(), 1);
        for key in ["constructor", "1st", "Bad key!"] {
            let mut c = Map::new();
            c.insert(key.into(), thinking()["thinking"].clone());
            assert_eq!(control_problems(&Value::Object(c)).len(), 1, "{key}");
        }
        let mut blank = thinking();
        blank["thinking"]["options"] = json!({"low": {"label": " ", "params": {}}});
        blank["thinking"]["default"] = Value::Null;
        assert_eq!(control_problems(&blank).len(), 1);
        blank["thinking"]["options"] = json!({});
        assert_eq!(control_problems(&blank).len(), 1);
    }

    #[test]
    fn a_gone_option_is_refused_and_a_gone_control_ignored() {
        let r = resolved(json!({}), thinking());
        let gone = json!({"m": {"thinking": "extreme"}})
            .as_object()
            .unwrap()
            .clone();
        let e = turn_params(&r, None, &gone).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Model control thinking: the selected option is no longer available."
        );
        let removed = json!({"m": {"length": "brief"}})
            .as_object()
            .unwrap()
            .clone();
        assert!(turn_params(&r, None, &removed).is_ok());
        let mut body = Map::new();
        body.insert("params".into(), json!({"model_controls": ["thinking"]}));
        assert!(picks_of(&body).is_err());
    }
}
