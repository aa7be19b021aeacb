// Temporary until src/web lands.
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
pub async fn fallback(_req: Request) -> Response {
    axum::http::StatusCode::NOT_FOUND.into_response()
}
pub fn changelog_json() -> &'static serde_json::Value {
    static V: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    V.get_or_init(|| serde_json::json!({}))
}
pub fn asset_bytes(_p: &str) -> Option<Vec<u8>> {
    None
}
pub fn license_text() -> Option<String> {
    None
}
pub fn frontend_is_placeholder() -> bool {
    true
}
