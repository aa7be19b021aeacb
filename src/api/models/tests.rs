use super::common::{parse_form, valid_id};
use super::image::safe_static;
use serde_json::json;

#[test]
fn static_redirects_stay_in_static() {
    assert_eq!(
        safe_static("/static/favicon.png").as_deref(),
        Some("/static/favicon.png")
    );
    assert_eq!(safe_static("/static/../api/v1/x"), None);
    assert_eq!(safe_static("/static/%2e%2e/x"), None);
    assert_eq!(safe_static("/favicon.png"), None);
}

#[test]
fn form_parsing() {
    let p = parse_form(
        &json!({"id": "a", "name": "A", "meta": {}, "params": {}, "base_model_id": "a"}),
    )
    .unwrap();
    assert_eq!(p.form.base_model_id, None);
    assert!(parse_form(&json!({"id": "a b", "name": "A", "meta": {}, "params": {}})).is_err());
    assert!(parse_form(&json!({"id": "a", "meta": {}, "params": {}})).is_err());
    assert!(parse_form(
        &json!({"id": "a", "name": "A", "meta": {"background_image_url": "/etc"}, "params": {}})
    )
    .is_err());
    assert!(valid_id("x"));
    assert!(!valid_id(&"x".repeat(257)));
}
