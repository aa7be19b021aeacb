//! Pictures a tool call returned, kept with its result item: as
//! `input_image` parts the model is shown on replay, and as `files` of type
//! `image` the browser shows under the call.

use serde_json::{json, Value};

use super::OutputBuilder;

impl OutputBuilder {
    /// Attaches pictures (file URLs) to the result of `call_id`.
    pub fn add_result_images(&mut self, call_id: &str, urls: Vec<String>) {
        if !urls.is_empty() {
            self.result_images
                .entry(call_id.to_string())
                .or_default()
                .extend(urls);
        }
    }

    /// Keeps the pictures of a stored result item (a reply that resumes).
    pub(super) fn seed_result_images(&mut self, item: &Value) {
        let Some(call_id) = item.get("call_id").and_then(Value::as_str) else {
            return;
        };
        let urls: Vec<String> = item
            .get("output")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("input_image"))
            .filter_map(|p| p.get("image_url").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        self.add_result_images(call_id, urls);
    }

    /// Adds the pictures of `call_id` to its result item's JSON.
    pub(super) fn with_result_images(&self, call_id: &str, item: &mut Value) {
        let Some(urls) = self.result_images.get(call_id) else {
            return;
        };
        if let Some(parts) = item.get_mut("output").and_then(Value::as_array_mut) {
            parts.extend(
                urls.iter()
                    .map(|u| json!({"type": "input_image", "image_url": u})),
            );
        }
        let files: Vec<Value> = urls
            .iter()
            .map(|u| json!({"type": "image", "url": u}))
            .collect();
        item["files"] = Value::Array(files);
    }
}
