//! The provider's profile picture, fetched with the sign-in's access token and
//! kept as a data URL; anything that is not a PNG, JPEG, GIF or WebP image
//! becomes the default avatar.

use std::time::Duration;

use base64::Engine;

use crate::webfetch;

const DEFAULT: &str = "/user.png";
const MAX_PICTURE: usize = 5 * 1024 * 1024;
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

pub async fn fetch(url: &str, access_token: Option<&str>) -> String {
    if url.is_empty() {
        return DEFAULT.into();
    }
    match try_fetch(url, access_token).await {
        Ok(data_url) => data_url,
        Err(why) => {
            tracing::warn!("profile picture from the provider not used: {why}");
            DEFAULT.into()
        }
    }
}

async fn try_fetch(url: &str, access_token: Option<&str>) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "not a URL".to_string())?;
    // The same guard as any server-side fetch, connecting to the vetted address.
    let (host, addr) = webfetch::vet_url(&parsed)
        .await
        .map_err(|r| format!("refused address ({r:?})"))?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .resolve(&host, addr)
        .http1_title_case_headers()
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.get(parsed);
    if let Some(t) = access_token.filter(|t| !t.is_empty()) {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mime = webfetch::media_type(&resp);
    if !IMAGE_TYPES.contains(&mime.as_str()) {
        return Err(format!("type {mime:?} is not an accepted image"));
    }
    let body = webfetch::read_limited(resp, MAX_PICTURE).await?;
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(body)
    ))
}
