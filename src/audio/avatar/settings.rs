//! The shape of `meta.voice_avatar` as a model is saved (upstream's
//! `ModelVoiceAvatar`, refused with pydantic's 422): an upload id for the
//! VRM, clips for the `idle`, `listening` and `speaking` states, and at most
//! 16 gestures with a unique lower-case name and a description. Nothing else
//! is allowed, except the movement settings of older versions, which are
//! dropped. The stored form is always `{file_id, states, gestures}`.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};

pub const MAX_GESTURES: usize = 16;
const STATES: [&str; 3] = ["idle", "listening", "speaking"];
const LEGACY: [&str; 4] = ["preset", "movement", "mouth", "gaze"];
const MAX_DESCRIPTION: usize = 500;

fn invalid(loc: &[Value], msg: &str, typ: &str) -> ApiError {
    let mut full = vec![json!("body"), json!("meta"), json!("voice_avatar")];
    full.extend_from_slice(loc);
    ApiError::Validation(json!([{"type": typ, "loc": full, "msg": msg}]))
}

/// An upload id: a UUID in its 8-4-4-4-12 hex form.
pub fn is_upload_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn gesture_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 48
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn file_id(o: &Map<String, Value>, loc: &[Value]) -> ApiResult<String> {
    let mut at = loc.to_vec();
    at.push(json!("file_id"));
    match o.get("file_id") {
        None => Err(invalid(&at, "Field required", "missing")),
        Some(Value::String(s)) if is_upload_id(s) => Ok(s.clone()),
        Some(Value::String(_)) => Err(invalid(
            &at,
            "String should match pattern '^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$'",
            "string_pattern_mismatch",
        )),
        Some(_) => Err(invalid(&at, "Input should be a valid string", "string_type")),
    }
}

fn no_extra(o: &Map<String, Value>, allowed: &[&str], loc: &[Value]) -> ApiResult<()> {
    if let Some(extra) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        let mut at = loc.to_vec();
        at.push(json!(extra));
        return Err(invalid(
            &at,
            "Extra inputs are not permitted",
            "extra_forbidden",
        ));
    }
    Ok(())
}

fn object<'a>(v: &'a Value, loc: &[Value]) -> ApiResult<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| invalid(loc, "Input should be a valid dictionary", "dict_type"))
}

/// Checks `meta.voice_avatar` and rewrites it in its stored form; `null` or
/// no avatar is left as it is.
pub fn normalize(meta: &mut Value) -> ApiResult<()> {
    let Some(raw) = meta.get("voice_avatar").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let mut o = object(raw, &[])?.clone();
    for key in LEGACY {
        o.remove(key);
    }
    no_extra(&o, &["file_id", "states", "gestures"], &[])?;
    let avatar_file = file_id(&o, &[])?;
    let mut states = Map::new();
    match o.get("states") {
        None => {}
        Some(v) => {
            for (state, clip) in object(v, &[json!("states")])? {
                let loc = [json!("states"), json!(state)];
                if !STATES.contains(&state.as_str()) {
                    return Err(invalid(
                        &loc,
                        "Input should be 'idle', 'listening' or 'speaking'",
                        "literal_error",
                    ));
                }
                let clip = object(clip, &loc)?;
                no_extra(clip, &["file_id"], &loc)?;
                states.insert(state.clone(), json!({"file_id": file_id(clip, &loc)?}));
            }
        }
    }
    let mut gestures = Vec::new();
    match o.get("gestures") {
        None => {}
        Some(Value::Array(list)) => {
            if list.len() > MAX_GESTURES {
                return Err(invalid(
                    &[json!("gestures")],
                    "List should have at most 16 items after validation",
                    "too_long",
                ));
            }
            for (i, g) in list.iter().enumerate() {
                let loc = [json!("gestures"), json!(i)];
                let g = object(g, &loc)?;
                no_extra(g, &["file_id", "name", "description"], &loc)?;
                let file = file_id(g, &loc)?;
                let name = match g.get("name") {
                    Some(Value::String(n)) if gesture_name_ok(n) => n.clone(),
                    _ => {
                        return Err(invalid(
                            &[json!("gestures"), json!(i), json!("name")],
                            "String should match pattern '^[a-z][a-z0-9_]{0,47}$'",
                            "string_pattern_mismatch",
                        ))
                    }
                };
                let description = match g.get("description") {
                    Some(Value::String(d))
                        if (1..=MAX_DESCRIPTION).contains(&d.chars().count()) =>
                    {
                        d.clone()
                    }
                    _ => {
                        return Err(invalid(
                            &[json!("gestures"), json!(i), json!("description")],
                            "String should have between 1 and 500 characters",
                            "string_too_short",
                        ))
                    }
                };
                gestures.push(json!({"file_id": file, "name": name, "description": description}));
            }
        }
        Some(_) => {
            return Err(invalid(
                &[json!("gestures")],
                "Input should be a valid list",
                "list_type",
            ))
        }
    }
    let mut names = HashSet::new();
    let unique = gestures
        .iter()
        .all(|g| names.insert(g["name"].as_str().unwrap_or("").to_string()));
    let described = gestures
        .iter()
        .all(|g| !g["description"].as_str().unwrap_or("").trim().is_empty());
    if !unique || !described {
        return Err(invalid(
            &[],
            "Value error, Gestures need unique names and a description.",
            "value_error",
        ));
    }
    meta["voice_avatar"] = json!({
        "file_id": avatar_file,
        "states": states,
        "gestures": gestures,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b3e6a52-1c8f-4a55-9d8e-0123456789ab";

    fn with(avatar: Value) -> Value {
        json!({"voice_avatar": avatar})
    }

    #[test]
    fn the_stored_form_drops_legacy_settings() {
        let mut meta = with(json!({"file_id": ID, "preset": "calm", "movement": 0.4}));
        normalize(&mut meta).unwrap();
        assert_eq!(
            meta["voice_avatar"],
            json!({"file_id": ID, "states": {}, "gestures": []})
        );
        let mut none = json!({"voice_avatar": null});
        normalize(&mut none).unwrap();
        assert_eq!(none, json!({"voice_avatar": null}));
    }

    #[test]
    fn malformed_settings_are_refused() {
        let g = |name: &str, description: &str| json!({"name": name, "description": description, "file_id": ID});
        let many: Vec<Value> = (0..17).map(|i| g(&format!("g_{i}"), "x")).collect();
        for bad in [
            json!({"file_id": ID, "gestures": [g("wave", "a"), g("wave", "b")]}),
            json!({"file_id": ID, "gestures": [g("Wave", "a")]}),
            json!({"file_id": ID, "gestures": [g("1wave", "a")]}),
            json!({"file_id": ID, "gestures": [g("wave", "   ")]}),
            json!({"file_id": ID, "gestures": many}),
            json!({"file_id": ID, "states": {"dancing": {"file_id": ID}}}),
            json!({"file_id": ID, "scale": 2}),
            json!({"file_id": "../../etc/passwd"}),
            json!({"states": {}}),
            json!("pilot.vrm"),
        ] {
            let mut meta = with(bad.clone());
            assert!(
                matches!(normalize(&mut meta), Err(ApiError::Validation(_))),
                "{bad}"
            );
        }
    }
}
