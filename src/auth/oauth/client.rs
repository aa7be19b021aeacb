//! Talking to a provider: its discovery document and key set (cached), the
//! token endpoint (code exchange and refresh) and userinfo. Every answer is
//! bounded in time and size; provider URLs come from the operator's
//! configuration, so they may be on the local network.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::providers::{ProviderConfig, TokenAuth};
use super::OAuth;

/// Largest provider answer we read (discovery, keys, tokens, userinfo).
const MAX_ANSWER: usize = 1024 * 1024;
/// How long a discovery document or key set is reused.
const CACHE_FOR: Duration = Duration::from_secs(3600);

/// A provider's endpoints, from discovery or its fixed configuration.
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    pub issuer: Option<String>,
    pub authorize: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub jwks: Option<String>,
    pub end_session: Option<String>,
}

pub fn new_http(timeout_secs: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(timeout_secs.clamp(1, 10)))
        .user_agent("open-webui")
        .http1_title_case_headers()
        .build()
        .expect("http client")
}

/// `application/x-www-form-urlencoded` escaping, as RFC 6749 asks for the
/// Basic credentials.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn json_answer(resp: reqwest::Response) -> Result<(u16, Value), String> {
    let status = resp.status().as_u16();
    let body = crate::webfetch::read_limited(resp, MAX_ANSWER).await?;
    let v = serde_json::from_slice::<Value>(&body).map_err(|e| format!("not JSON: {e}"))?;
    Ok((status, v))
}

impl OAuth {
    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<(u16, Value), String> {
        let mut req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        json_answer(resp).await
    }

    /// The discovery document of an OpenID provider (cached for an hour).
    pub async fn metadata(&self, p: &ProviderConfig, fresh: bool) -> Result<Value, String> {
        let Some(url) = p.metadata_url.as_deref() else {
            return Ok(Value::Object(Map::new()));
        };
        if !fresh {
            if let Some((at, v)) = self.lock_metadata().get(url) {
                if at.elapsed() < CACHE_FOR {
                    return Ok(v.clone());
                }
            }
        }
        let (status, v) = self.get_json(url, None).await?;
        if status != 200 || !v.is_object() {
            return Err(format!("discovery answered HTTP {status}"));
        }
        self.lock_metadata()
            .insert(url.to_string(), (Instant::now(), v.clone()));
        Ok(v)
    }

    pub async fn endpoints(&self, p: &ProviderConfig) -> Result<Endpoints, String> {
        let meta = self.metadata(p, false).await?;
        let s = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let authorize = s("authorization_endpoint")
            .or_else(|| p.authorize_url.clone())
            .ok_or("no authorization endpoint")?;
        let token = s("token_endpoint")
            .or_else(|| p.token_url.clone())
            .ok_or("no token endpoint")?;
        Ok(Endpoints {
            issuer: s("issuer"),
            authorize,
            token,
            userinfo: s("userinfo_endpoint").or_else(|| p.userinfo_url.clone()),
            jwks: s("jwks_uri"),
            end_session: s("end_session_endpoint"),
        })
    }

    /// The provider's signing keys; `fresh` skips the cache (after a key miss).
    pub async fn jwks(&self, jwks_uri: &str, fresh: bool) -> Result<Value, String> {
        if !fresh {
            if let Some((at, v)) = self.lock_jwks().get(jwks_uri) {
                if at.elapsed() < CACHE_FOR {
                    return Ok(v.clone());
                }
            }
        }
        let (status, v) = self.get_json(jwks_uri, None).await?;
        if status != 200 || !v.get("keys").is_some_and(Value::is_array) {
            return Err(format!("the key set answered HTTP {status}"));
        }
        self.lock_jwks()
            .insert(jwks_uri.to_string(), (Instant::now(), v.clone()));
        Ok(v)
    }

    /// Posts a grant to the token endpoint with the client's credentials.
    pub async fn token_request(
        &self,
        p: &ProviderConfig,
        token_url: &str,
        mut form: Vec<(&str, String)>,
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .post(token_url)
            .header(reqwest::header::ACCEPT, "application/json");
        match p.token_auth {
            TokenAuth::Basic => {
                req = req.basic_auth(
                    form_encode(&p.client_id),
                    Some(form_encode(&p.client_secret)),
                );
                if self.settings.include_client_id {
                    form.push(("client_id", p.client_id.clone()));
                }
            }
            TokenAuth::Post => {
                form.push(("client_id", p.client_id.clone()));
                form.push(("client_secret", p.client_secret.clone()));
            }
            TokenAuth::None => form.push(("client_id", p.client_id.clone())),
        }
        let resp = req.form(&form).send().await.map_err(|e| e.to_string())?;
        let (status, v) = json_answer(resp).await?;
        if status != 200 {
            let code = v.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(format!("the token endpoint answered HTTP {status} {code}"));
        }
        if !v.get("access_token").is_some_and(Value::is_string) {
            return Err("the token answer has no access_token".into());
        }
        Ok(v)
    }

    /// The provider's userinfo for an access token.
    pub async fn userinfo(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, String> {
        let (status, v) = self.get_json(url, Some(access_token)).await?;
        match v {
            Value::Object(m) if status == 200 => Ok(m),
            _ => Err(format!("userinfo answered HTTP {status}")),
        }
    }

    /// GitHub hides private addresses from `/user`: the primary one from `/user/emails`.
    pub async fn github_primary_email(&self, access_token: &str) -> Option<String> {
        let (status, v) = self
            .get_json("https://api.github.com/user/emails", Some(access_token))
            .await
            .ok()?;
        if status != 200 {
            return None;
        }
        v.as_array()?
            .iter()
            .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
            .and_then(|e| e.get("email").and_then(Value::as_str))
            .map(str::to_string)
    }
}
