//! Pictures that tools return: kept as the user's own files, shown with the
//! call's result in the reply, and handed to the model as `data:` URLs (a
//! link to our own file means nothing to a provider).

use base64::Engine as _;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::state::AppState;
use crate::toolserver::mcp::Picture;

/// Where the pictures of one call are kept.
pub struct Place<'a> {
    pub chat_id: &'a str,
    pub message_id: &'a str,
}

/// Stores each picture as a file of the caller's; their content URLs. A
/// picture that cannot be decoded or stored is left out (the result's text
/// still says that one was returned).
pub async fn store_pictures(
    state: &AppState,
    caller: &Caller,
    at: &Place<'_>,
    pictures: &[Picture],
) -> Vec<String> {
    let mut urls = Vec::with_capacity(pictures.len());
    for p in pictures {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(p.base64.trim()) else {
            tracing::warn!(mime = %p.mime, "a tool's picture was not valid base64");
            continue;
        };
        let kind = p
            .mime
            .split('/')
            .nth(1)
            .and_then(|k| k.split(['+', ';']).next())
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or("bin");
        let name = format!("tool-image.{kind}");
        let meta = json!({"chat_id": at.chat_id, "message_id": at.message_id});
        match crate::files::store_bytes(state, caller.id(), &name, &p.mime, &bytes, meta).await {
            Ok(row) => urls.push(format!("/api/v1/files/{}/content", row.id)),
            Err(e) => tracing::warn!(error = %e, "a tool's picture could not be stored"),
        }
    }
    urls
}

/// The file id of one of our own content links.
fn own_file_id(url: &str) -> Option<&str> {
    let id = url
        .strip_prefix("/api/v1/files/")?
        .strip_suffix("/content")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Replaces links to the caller's own pictures in `image_url` parts with
/// the pictures themselves. Links the caller may not read stay as they are.
pub async fn inline_own_images(state: &AppState, caller: &Caller, messages: &mut [Value]) {
    for message in messages.iter_mut() {
        let Some(parts) = message.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        for part in parts.iter_mut() {
            let Some(url) = part.pointer_mut("/image_url/url") else {
                continue;
            };
            let Some(id) = url.as_str().and_then(own_file_id).map(str::to_string) else {
                continue;
            };
            if let Some(data) = crate::images::file_as_data_url(state, caller, &id).await {
                *url = Value::String(data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::own_file_id;

    #[test]
    fn only_plain_content_links_are_ours() {
        assert_eq!(own_file_id("/api/v1/files/abc/content"), Some("abc"));
        assert_eq!(own_file_id("/api/v1/files//content"), None);
        assert_eq!(own_file_id("/api/v1/files/a/b/content"), None);
        assert_eq!(own_file_id("https://x/api/v1/files/a/content"), None);
    }
}
