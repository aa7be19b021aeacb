//! Which sign-in providers this server offers, read once from the environment
//! at start (as upstream registers them): Google, Microsoft, GitHub, a generic
//! OpenID Connect provider found by discovery, and Feishu. A provider is
//! offered only when its client id and secret (and what else it needs) are set.

use serde_json::{Map, Value};

/// How the client proves itself at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAuth {
    /// HTTP Basic with the url-encoded id and secret (the default).
    Basic,
    /// `client_id` and `client_secret` in the form.
    Post,
    /// A public client: only `client_id` in the form (PKCE carries the proof).
    None,
}

#[derive(Clone)]
pub struct ProviderConfig {
    /// The path segment and `user.oauth` key: `google`, `microsoft`, `github`, `oidc`, `feishu`.
    pub name: String,
    /// What the login button says (only the generic provider has one).
    pub label: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub scope: String,
    /// Where the provider sends the browser back; empty: this server's callback URL.
    pub redirect_uri: String,
    /// Discovery document; when absent the fixed endpoints below are used.
    pub metadata_url: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// The claim naming the account at the provider.
    pub sub_claim: String,
    /// Picture URL used when the claims carry none.
    pub picture_url: String,
    pub token_auth: TokenAuth,
    /// Extra query parameters for the authorize request.
    pub authorize_params: Map<String, Value>,
}

impl ProviderConfig {
    /// Whether the provider signs ID tokens we must check (OpenID Connect).
    pub fn is_openid(&self) -> bool {
        self.metadata_url.is_some()
    }
}

/// Environment-only OAuth settings (the rest live in the config table).
#[derive(Clone, Default)]
pub struct OAuthSettings {
    pub providers: Vec<ProviderConfig>,
    /// `OAUTH_SESSION_TOKEN_ENCRYPTION_KEY`, empty: the server secret.
    pub session_key: String,
    /// `OAUTH_MAX_SESSIONS_PER_USER`.
    pub max_sessions: usize,
    /// `ENABLE_OAUTH_ID_TOKEN_COOKIE`.
    pub id_token_cookie: bool,
    /// `ENABLE_OAUTH_EMAIL_FALLBACK`.
    pub email_fallback: bool,
    /// `ENABLE_OAUTH_BACKCHANNEL_LOGOUT`.
    pub backchannel_logout: bool,
    /// `OAUTH_ACCESS_TOKEN_REQUEST_INCLUDE_CLIENT_ID`.
    pub include_client_id: bool,
    /// `OAUTH_GROUPS_SEPARATOR` and `OAUTH_ROLES_SEPARATOR`.
    pub groups_separator: String,
    pub roles_separator: String,
    /// `WEBUI_AUTH_SIGNOUT_REDIRECT_URL`, sent to the provider's end-session page.
    pub signout_redirect_url: String,
    /// Seconds for each request to a provider (`OAUTH_TIMEOUT`, default 20).
    pub timeout_secs: u64,
}

/// Secrets stay out of debug output.
impl std::fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.providers.iter().map(|p| p.name.as_str()).collect();
        f.debug_struct("OAuthSettings")
            .field("providers", &names)
            .finish_non_exhaustive()
    }
}

fn flag(get: &dyn Fn(&str) -> Option<String>, name: &str, default: bool) -> bool {
    match get(name) {
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
        None => default,
    }
}

fn text(get: &dyn Fn(&str) -> Option<String>, name: &str, default: &str) -> String {
    get(name).unwrap_or_else(|| default.to_string())
}

fn json_object(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Map<String, Value> {
    match get(name).filter(|v| !v.trim().is_empty()) {
        Some(raw) => match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(m)) => m,
            _ => {
                tracing::warn!("{name} is not a JSON object; ignored");
                Map::new()
            }
        },
        None => Map::new(),
    }
}

impl OAuthSettings {
    pub fn from_env() -> OAuthSettings {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// The settings as the variables `get` answers would configure them.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> OAuthSettings {
        let timeout = get("OAUTH_TIMEOUT")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(20);
        let method = get("OAUTH_CODE_CHALLENGE_METHOD").unwrap_or_default();
        if !method.is_empty() && method != "S256" {
            tracing::warn!("OAUTH_CODE_CHALLENGE_METHOD={method:?} is not supported; S256 is used");
        }
        let mut providers = Vec::new();
        let base = |name: &str, id: String, secret: String, scope: String, redirect: String| {
            ProviderConfig {
                name: name.into(),
                label: None,
                client_id: id,
                client_secret: secret,
                scope,
                redirect_uri: redirect,
                metadata_url: None,
                authorize_url: None,
                token_url: None,
                userinfo_url: None,
                sub_claim: "sub".into(),
                picture_url: String::new(),
                token_auth: TokenAuth::Basic,
                authorize_params: Map::new(),
            }
        };
        let (gid, gsecret) = (
            text(get, "GOOGLE_CLIENT_ID", ""),
            text(get, "GOOGLE_CLIENT_SECRET", ""),
        );
        if !gid.is_empty() && !gsecret.is_empty() {
            let mut p = base(
                "google",
                gid,
                gsecret,
                text(get, "GOOGLE_OAUTH_SCOPE", "openid email profile"),
                text(get, "GOOGLE_REDIRECT_URI", ""),
            );
            p.metadata_url =
                Some("https://accounts.google.com/.well-known/openid-configuration".into());
            p.authorize_params = json_object(get, "GOOGLE_OAUTH_AUTHORIZE_PARAMS");
            providers.push(p);
        }
        let (mid, msecret, tenant) = (
            text(get, "MICROSOFT_CLIENT_ID", ""),
            text(get, "MICROSOFT_CLIENT_SECRET", ""),
            text(get, "MICROSOFT_CLIENT_TENANT_ID", ""),
        );
        if !mid.is_empty() && !msecret.is_empty() && !tenant.is_empty() {
            let login = text(
                get,
                "MICROSOFT_CLIENT_LOGIN_BASE_URL",
                "https://login.microsoftonline.com",
            );
            let mut p = base(
                "microsoft",
                mid.clone(),
                msecret,
                text(get, "MICROSOFT_OAUTH_SCOPE", "openid email profile"),
                text(get, "MICROSOFT_REDIRECT_URI", ""),
            );
            p.metadata_url = Some(format!(
                "{}/{tenant}/v2.0/.well-known/openid-configuration?appid={mid}",
                login.trim_end_matches('/')
            ));
            p.picture_url = text(
                get,
                "MICROSOFT_CLIENT_PICTURE_URL",
                "https://graph.microsoft.com/v1.0/me/photo/$value",
            );
            providers.push(p);
        }
        let (hid, hsecret) = (
            text(get, "GITHUB_CLIENT_ID", ""),
            text(get, "GITHUB_CLIENT_SECRET", ""),
        );
        if !hid.is_empty() && !hsecret.is_empty() {
            let mut p = base(
                "github",
                hid,
                hsecret,
                text(get, "GITHUB_CLIENT_SCOPE", "user:email"),
                text(get, "GITHUB_CLIENT_REDIRECT_URI", ""),
            );
            p.authorize_url = Some("https://github.com/login/oauth/authorize".into());
            p.token_url = Some("https://github.com/login/oauth/access_token".into());
            p.userinfo_url = Some("https://api.github.com/user".into());
            p.sub_claim = "id".into();
            providers.push(p);
        }
        let (oid, osecret, url) = (
            text(get, "OAUTH_CLIENT_ID", ""),
            text(get, "OAUTH_CLIENT_SECRET", ""),
            text(get, "OPENID_PROVIDER_URL", ""),
        );
        if !oid.is_empty() && (!osecret.is_empty() || !method.is_empty()) && !url.is_empty() {
            let mut p = base(
                "oidc",
                oid,
                osecret.clone(),
                text(get, "OAUTH_SCOPES", "openid email profile"),
                text(get, "OPENID_REDIRECT_URI", ""),
            );
            p.metadata_url = Some(url);
            p.label = Some(text(get, "OAUTH_PROVIDER_NAME", "SSO"));
            p.token_auth = match get("OAUTH_TOKEN_ENDPOINT_AUTH_METHOD").as_deref() {
                Some("client_secret_post") => TokenAuth::Post,
                Some("none") => TokenAuth::None,
                _ if osecret.is_empty() => TokenAuth::None,
                _ => TokenAuth::Basic,
            };
            p.authorize_params = json_object(get, "OAUTH_AUTHORIZE_PARAMS");
            providers.push(p);
        }
        let (fid, fsecret) = (
            text(get, "FEISHU_CLIENT_ID", ""),
            text(get, "FEISHU_CLIENT_SECRET", ""),
        );
        if !fid.is_empty() && !fsecret.is_empty() {
            let mut p = base(
                "feishu",
                fid,
                fsecret,
                text(get, "FEISHU_OAUTH_SCOPE", "contact:user.base:readonly"),
                text(get, "FEISHU_REDIRECT_URI", ""),
            );
            p.authorize_url =
                Some("https://accounts.feishu.cn/open-apis/authen/v1/authorize".into());
            p.token_url = Some("https://open.feishu.cn/open-apis/authen/v2/oauth/token".into());
            p.userinfo_url = Some("https://open.feishu.cn/open-apis/authen/v1/user_info".into());
            p.sub_claim = "user_id".into();
            p.token_auth = TokenAuth::Post;
            providers.push(p);
        }
        let secret_key = get("WEBUI_SECRET_KEY").unwrap_or_default();
        OAuthSettings {
            providers,
            session_key: get("OAUTH_SESSION_TOKEN_ENCRYPTION_KEY").unwrap_or(secret_key),
            max_sessions: get("OAUTH_MAX_SESSIONS_PER_USER")
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(10),
            id_token_cookie: flag(get, "ENABLE_OAUTH_ID_TOKEN_COOKIE", true),
            email_fallback: flag(get, "ENABLE_OAUTH_EMAIL_FALLBACK", false),
            backchannel_logout: flag(get, "ENABLE_OAUTH_BACKCHANNEL_LOGOUT", false),
            include_client_id: flag(get, "OAUTH_ACCESS_TOKEN_REQUEST_INCLUDE_CLIENT_ID", false),
            groups_separator: text(get, "OAUTH_GROUPS_SEPARATOR", ";"),
            roles_separator: text(get, "OAUTH_ROLES_SEPARATOR", ","),
            signout_redirect_url: text(get, "WEBUI_AUTH_SIGNOUT_REDIRECT_URL", ""),
            timeout_secs: timeout,
        }
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> OAuthSettings {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OAuthSettings::from_lookup(&move |k| m.get(k).cloned())
    }

    #[test]
    fn providers_need_their_credentials() {
        assert!(from(&[]).providers.is_empty());
        assert!(from(&[("GOOGLE_CLIENT_ID", "x")]).providers.is_empty());
        let s = from(&[
            ("GOOGLE_CLIENT_ID", "x"),
            ("GOOGLE_CLIENT_SECRET", "y"),
            ("OAUTH_CLIENT_ID", "c"),
            ("OAUTH_CLIENT_SECRET", "s"),
            (
                "OPENID_PROVIDER_URL",
                "http://idp/.well-known/openid-configuration",
            ),
            ("OAUTH_PROVIDER_NAME", "Corp"),
        ]);
        let names: Vec<&str> = s.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["google", "oidc"]);
        assert_eq!(s.provider("oidc").unwrap().label.as_deref(), Some("Corp"));
        assert_eq!(s.max_sessions, 10);
        // a public client with PKCE needs no secret
        let public = from(&[
            ("OAUTH_CLIENT_ID", "c"),
            ("OAUTH_CODE_CHALLENGE_METHOD", "S256"),
            ("OPENID_PROVIDER_URL", "http://idp"),
        ]);
        assert_eq!(public.provider("oidc").unwrap().token_auth, TokenAuth::None);
    }
}
