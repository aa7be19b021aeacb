//! Start-up settings that are not persisted: where to listen, where the data
//! lives, the signing secret, and the process-level switches upstream reads
//! from env only.

use std::path::{Path, PathBuf};

use anyhow::Context;

pub const VERSION: &str = "0.12.4";

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub secret_key: String,
    pub webui_name: String,
    pub webui_auth: bool,
    /// `ENABLE_PASSWORD_AUTH`: password and LDAP sign-in (default on).
    pub enable_password_auth: bool,
    /// `ENABLE_INITIAL_ADMIN_SIGNUP`: the first account may sign up while the
    /// login form is off.
    pub enable_initial_admin_signup: bool,
    /// Headers an authenticating proxy names the person in (`WEBUI_AUTH_TRUSTED_*_HEADER`).
    pub trusted: TrustedHeaders,
    /// `WEBUI_AUTH_SIGNOUT_REDIRECT_URL`: where the client goes after signing out.
    pub signout_redirect_url: Option<String>,
    /// SCIM 2.0 provisioning (`ENABLE_SCIM`/`SCIM_ENABLED`, `SCIM_TOKEN`, `SCIM_AUTH_PROVIDER`).
    pub scim: ScimSettings,
    pub persistent_config: bool,
    pub cors_allow_origin: Vec<String>,
    pub cookie_secure: bool,
    pub cookie_same_site: String,
    pub signup_password_confirmation: bool,
    pub enable_websocket: bool,
    pub password_hash_argon2: bool,
    pub version_update_check: bool,
    pub max_body_bytes: usize,
    /// Proxies whose `X-Forwarded-For` names the client (`FORWARDED_ALLOW_IPS`,
    /// comma-separated addresses or `*`); empty: the peer address is the client.
    pub forwarded_allow_ips: Vec<String>,
    /// How uploads are parsed in worker processes, and their limits.
    pub extract: crate::rag::extract::WorkerSettings,
    /// Values `/api/config` reports from env (upstream reads these once too).
    pub env_flags: EnvFlags,
    /// OAuth / OpenID Connect providers and their env-only switches.
    pub oauth: crate::auth::oauth::OAuthSettings,
}

/// Header names (as configured; looked up case-insensitively), unset when empty.
#[derive(Debug, Clone, Default)]
pub struct TrustedHeaders {
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Option<String>,
    pub role: Option<String>,
}

/// SCIM provisioning: on or off, its bearer token, and the provider name its
/// external ids are recorded under.
#[derive(Debug, Clone, Default)]
pub struct ScimSettings {
    pub enabled: bool,
    pub token: String,
    pub provider: String,
}

/// A variable that is set and not blank.
fn env_opt(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Clone)]
pub struct EnvFlags {
    pub enable_plugins: bool,
    pub enable_tools: bool,
    pub enable_functions: bool,
    pub enable_tool_servers: bool,
    pub enable_admin_export: bool,
    pub enable_admin_chat_access: bool,
    pub enable_admin_analytics: bool,
    pub enable_easter_eggs: bool,
    pub enable_public_active_users_count: bool,
    pub enable_pyodide_file_persistence: bool,
    pub iframe_csp: String,
}

pub fn env_bool(name: &str, default: bool) -> bool {
    match std::env::var(name) {
        Ok(v) => matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        ),
        Err(_) => default,
    }
}

pub fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl EnvFlags {
    fn from_env() -> Self {
        EnvFlags {
            enable_plugins: env_bool("ENABLE_PLUGINS", true),
            enable_tools: env_bool("ENABLE_TOOLS", true),
            enable_functions: env_bool("ENABLE_FUNCTIONS", true),
            enable_tool_servers: env_bool("ENABLE_TOOL_SERVERS", true),
            enable_admin_export: env_bool("ENABLE_ADMIN_EXPORT", true),
            enable_admin_chat_access: env_bool("ENABLE_ADMIN_CHAT_ACCESS", true),
            enable_admin_analytics: env_bool("ENABLE_ADMIN_ANALYTICS", true),
            enable_easter_eggs: env_bool("ENABLE_EASTER_EGGS", true),
            enable_public_active_users_count: env_bool("ENABLE_PUBLIC_ACTIVE_USERS_COUNT", true),
            enable_pyodide_file_persistence: env_bool("ENABLE_PYODIDE_FILE_PERSISTENCE", false),
            iframe_csp: env_str("IFRAME_CSP", ""),
        }
    }
}

impl Settings {
    /// Builds the settings from the CLI values (already merged with HOST/PORT/DATA_DIR
    /// by clap) and the environment. Reads or creates the secret key file.
    pub fn from_env(host: String, port: u16, data_dir: PathBuf) -> anyhow::Result<Settings> {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let webui_auth = env_bool("WEBUI_AUTH", true);
        let secret_key = resolve_secret_key(&data_dir)?;
        let mut webui_name = env_str("WEBUI_NAME", "Open WebUI");
        if webui_name != "Open WebUI" {
            // Upstream keeps the product name visible next to a custom one.
            webui_name.push_str(" (Open WebUI)");
        }
        let cors_allow_origin = env_str("CORS_ALLOW_ORIGIN", "*")
            .split(';')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Settings {
            host,
            port,
            data_dir,
            secret_key,
            webui_name,
            webui_auth,
            enable_password_auth: env_bool("ENABLE_PASSWORD_AUTH", true),
            enable_initial_admin_signup: env_bool("ENABLE_INITIAL_ADMIN_SIGNUP", false),
            trusted: TrustedHeaders {
                email: env_opt("WEBUI_AUTH_TRUSTED_EMAIL_HEADER"),
                name: env_opt("WEBUI_AUTH_TRUSTED_NAME_HEADER"),
                groups: env_opt("WEBUI_AUTH_TRUSTED_GROUPS_HEADER"),
                role: env_opt("WEBUI_AUTH_TRUSTED_ROLE_HEADER"),
            },
            signout_redirect_url: env_opt("WEBUI_AUTH_SIGNOUT_REDIRECT_URL"),
            scim: ScimSettings {
                enabled: std::env::var("ENABLE_SCIM")
                    .or_else(|_| std::env::var("SCIM_ENABLED"))
                    .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true")),
                token: env_opt("SCIM_TOKEN").unwrap_or_default(),
                provider: env_opt("SCIM_AUTH_PROVIDER").unwrap_or_default(),
            },
            persistent_config: env_bool("ENABLE_PERSISTENT_CONFIG", true),
            cors_allow_origin,
            cookie_secure: env_bool(
                "WEBUI_AUTH_COOKIE_SECURE",
                env_bool("WEBUI_SESSION_COOKIE_SECURE", false),
            ),
            cookie_same_site: env_str(
                "WEBUI_AUTH_COOKIE_SAME_SITE",
                &env_str("WEBUI_SESSION_COOKIE_SAME_SITE", "lax"),
            )
            .to_ascii_lowercase(),
            signup_password_confirmation: env_bool("ENABLE_SIGNUP_PASSWORD_CONFIRMATION", false),
            enable_websocket: env_bool("ENABLE_WEBSOCKET_SUPPORT", true),
            password_hash_argon2: env_str("PASSWORD_HASH_ALGORITHM", "bcrypt")
                .eq_ignore_ascii_case("argon2"),
            version_update_check: false,
            max_body_bytes: env_str("MAX_REQUEST_BODY_BYTES", "")
                .parse()
                .unwrap_or(64 * 1024 * 1024),
            forwarded_allow_ips: env_str("FORWARDED_ALLOW_IPS", "")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            extract: crate::rag::extract::WorkerSettings::from_env(),
            env_flags: EnvFlags::from_env(),
            oauth: crate::auth::oauth::OAuthSettings::from_env(),
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("webui.db")
    }
}

/// `WEBUI_SECRET_KEY` (or its old name), else `.webui_secret_key` in the working
/// directory as upstream does, else the same file in DATA_DIR, else a new random
/// key written to DATA_DIR with mode 0600 and reused on later starts.
fn resolve_secret_key(data_dir: &Path) -> anyhow::Result<String> {
    for name in ["WEBUI_SECRET_KEY", "WEBUI_JWT_SECRET_KEY"] {
        if let Ok(v) = std::env::var(name) {
            if !v.is_empty() {
                return Ok(v);
            }
        }
    }
    secret_key_from_file(data_dir)
}

/// The file half of the secret lookup: the working directory's
/// `.webui_secret_key`, else DATA_DIR's, else a new one written to DATA_DIR.
pub fn secret_key_from_file(data_dir: &Path) -> anyhow::Result<String> {
    let candidates = [
        PathBuf::from(".webui_secret_key"),
        data_dir.join(".webui_secret_key"),
    ];
    for path in &candidates {
        if let Ok(text) = std::fs::read_to_string(path) {
            // Upstream's file has no newline; tolerate one added by hand.
            let key = text.trim_end_matches(['\n', '\r']).to_string();
            if !key.is_empty() {
                return Ok(key);
            }
        }
    }
    let path = data_dir.join(".webui_secret_key");
    let key = generate_secret_key();
    let key =
        publish_private(&path, &key).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("using the secret key in {}", path.display());
    Ok(key)
}

/// Writes `text` to `path` so that no crash can leave a partial or empty file
/// behind: a private temp file is written and synced, then linked into place
/// (a link never replaces a key another process published first). Returns the
/// key now in the file.
fn publish_private(path: &Path, text: &str) -> std::io::Result<String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".webui_secret_key.tmp-{}",
        uuid::Uuid::new_v4().simple()
    ));
    write_private(&tmp, text)?;
    let out = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(text.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = std::fs::read_to_string(path)?;
            let existing = existing.trim_end_matches(['\n', '\r']).to_string();
            if existing.is_empty() {
                // An empty file (e.g. left by an older version that crashed
                // mid-write): replace it atomically.
                std::fs::rename(&tmp, path)?;
                Ok(text.to_string())
            } else {
                Ok(existing)
            }
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&tmp);
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    out
}

fn generate_secret_key() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn secret_key_file_is_published_whole_and_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(".webui_secret_key");
        assert_eq!(publish_private(&path, "first").unwrap(), "first");
        // A second writer finds the first key and adopts it.
        assert_eq!(publish_private(&path, "second").unwrap(), "first");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(leftovers(tmp.path()).is_empty());
    }

    #[test]
    fn an_empty_key_file_from_a_crash_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(".webui_secret_key");
        std::fs::write(&path, "").unwrap();
        let key = secret_key_from_file(tmp.path()).unwrap();
        assert!(key.len() >= 32, "{key}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
        assert!(leftovers(tmp.path()).is_empty());
    }
}
