use super::merge::{apply_default_meta, public_params};
use super::visible::{dedupe, order_models, post_process};
use serde_json::json;

#[test]
fn public_params_hide_the_system_prompt() {
    let p = public_params(&json!({
        "system": "secret",
        "temperature": 1,
        "model_controls": {"speed": {"label": "Speed", "options": {"fast": {"label": "Fast", "params": {"x": 1}}}}}
    }));
    assert_eq!(
        p,
        json!({"model_controls": {"speed": {"label": "Speed", "options": {"fast": {"label": "Fast"}}}}})
    );
    assert_eq!(public_params(&json!({"system": "s"})), json!({}));
}

#[test]
fn tags_merge_and_profile_image_goes() {
    let m = post_process(json!({
        "id": "a",
        "tags": ["x", {"name": "y"}],
        "info": {"meta": {"tags": [{"name": "x"}, "z"], "profile_image_url": "data:…"}}
    }));
    assert_eq!(
        m["tags"],
        json!([{"name": "x"}, {"name": "z"}, {"name": "y"}])
    );
    assert!(m["info"]["meta"].get("profile_image_url").is_none());
}

#[test]
fn order_list_first_then_names() {
    let mut m = vec![
        json!({"id": "c", "name": "C"}),
        json!({"id": "a", "name": "A"}),
        json!({"id": "z", "name": "Z"}),
    ];
    order_models(&mut m, &json!(["z"]));
    let ids: Vec<&str> = m.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["z", "a", "c"]);
    order_models(&mut m, &json!([]));
    assert_eq!(m[0]["id"], "z", "an empty order list keeps the merge order");
}

#[test]
fn dedupe_keeps_first_position_last_value() {
    let out = dedupe(vec![
        json!({"id": "a", "v": 1}),
        json!({"id": "b"}),
        json!({"id": "a", "v": 2}),
    ]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["v"], 2);
}

#[test]
fn default_meta_fills_gaps() {
    let mut m = json!({"id": "a", "info": {"meta": {"capabilities": {"vision": false}, "description": "own"}}});
    let d = json!({"capabilities": {"vision": true, "usage": true}, "description": "d", "x": 1});
    apply_default_meta(&mut m, d.as_object().unwrap());
    assert_eq!(
        m["info"]["meta"]["capabilities"],
        json!({"vision": false, "usage": true})
    );
    assert_eq!(m["info"]["meta"]["description"], "own");
    assert_eq!(m["info"]["meta"]["x"], 1);
}
