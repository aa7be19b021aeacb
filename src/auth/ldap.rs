//! Signing in against an LDAP directory, as upstream does it: bind with the
//! service account, search for the person by their (escaped) username, bind
//! as the entry found with the password given, then create or find the local
//! account by the entry's mail address and, when group management is on,
//! follow the groups the entry names.
//!
//! `use_tls` means LDAPS (TLS from the first byte), like upstream; the CA
//! file, when set, is the only trust anchor, and `validate_cert = false`
//! accepts any certificate.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use serde_json::json;

use crate::config::ConfigStore;
use crate::db::{self, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long one directory operation (connect, bind, search) may take.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest username and password a sign-in form may send.
const MAX_USER: usize = 256;
const MAX_PASSWORD: usize = 1024;

/// The server settings, read from the persisted config (`ldap.server.*`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub attribute_for_mail: String,
    pub default_email_domain: String,
    pub attribute_for_username: String,
    pub app_dn: String,
    pub app_password: String,
    pub search_base: String,
    pub search_filters: String,
    pub use_tls: bool,
    pub ca_cert_file: String,
    pub validate_cert: bool,
    pub group_management: bool,
    pub group_creation: bool,
    pub attribute_for_groups: String,
}

impl Settings {
    pub fn load(cfg: &ConfigStore) -> Self {
        let port = cfg.get("ldap.server.port");
        let port = port
            .as_u64()
            .or_else(|| port.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        Settings {
            host: cfg.get_str("ldap.server.host"),
            port,
            attribute_for_mail: cfg.get_str("ldap.server.attribute_for_mail"),
            default_email_domain: cfg.get_str("ldap.server.default_email_domain"),
            attribute_for_username: cfg.get_str("ldap.server.attribute_for_username"),
            app_dn: cfg.get_str("ldap.server.app_dn"),
            app_password: cfg.get_str("ldap.server.app_password"),
            search_base: cfg.get_str("ldap.server.users_dn"),
            search_filters: cfg.get_str("ldap.server.search_filter"),
            use_tls: cfg.get_bool("ldap.server.use_tls"),
            ca_cert_file: cfg.get_str("ldap.server.ca_cert_file"),
            validate_cert: cfg.get_bool("ldap.server.validate_cert"),
            group_management: cfg.get_bool("ldap.group.enable_management"),
            group_creation: cfg.get_bool("ldap.group.enable_creation"),
            attribute_for_groups: cfg.get_str("ldap.server.attribute_for_groups"),
        }
    }

    fn url(&self) -> ApiResult<String> {
        let host = self.host.trim();
        let bad = host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '@'));
        if bad {
            return Err(ApiError::bad_request("The LDAP server host is not valid."));
        }
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let scheme = if self.use_tls { "ldaps" } else { "ldap" };
        let port = match self.port {
            0 if self.use_tls => 636,
            0 => 389,
            p => p,
        };
        Ok(format!("{scheme}://{host}:{port}"))
    }

    fn conn_settings(&self) -> ApiResult<LdapConnSettings> {
        let mut s = LdapConnSettings::new().set_conn_timeout(OP_TIMEOUT);
        if !self.use_tls {
            return Ok(s);
        }
        if !self.validate_cert {
            s = s.set_no_tls_verify(true);
        } else if !self.ca_cert_file.trim().is_empty() {
            s = s.set_config(Arc::new(tls_config_with_ca(self.ca_cert_file.trim())?));
        }
        Ok(s)
    }
}

/// A TLS client configuration trusting only the certificates in `path` (PEM).
fn tls_config_with_ca(path: &str) -> ApiResult<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let refuse = || ApiError::bad_request("The LDAP CA certificate file cannot be used.");
    let meta = std::fs::metadata(path).map_err(|_| refuse())?;
    if !meta.is_file() || meta.len() > 1024 * 1024 {
        return Err(refuse());
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|_| refuse())? {
        roots
            .add(cert.map_err(|_| refuse())?)
            .map_err(|_| refuse())?;
    }
    if roots.is_empty() {
        return Err(refuse());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| refuse())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// What the directory says about the person who signed in.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub dn: String,
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
}

fn failed(what: &str) -> ApiError {
    ApiError::bad_request(what.to_string())
}

/// Opens a connection and returns the handle; the connection is driven in
/// the background until the handle is dropped or unbinds.
async fn connect(settings: &Settings) -> ApiResult<Ldap> {
    let url = settings.url()?;
    let conn = settings.conn_settings()?;
    let (driver, ldap) =
        tokio::time::timeout(OP_TIMEOUT * 2, LdapConnAsync::with_settings(conn, &url))
            .await
            .map_err(|_| failed("The LDAP server did not answer in time."))?
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot connect to the LDAP server");
                failed("Cannot connect to the LDAP server.")
            })?;
    ldap3::drive!(driver);
    Ok(ldap)
}

/// Simple bind; `Ok(false)` when the directory refuses the credentials.
async fn bind(ldap: &mut Ldap, dn: &str, password: &str) -> ApiResult<bool> {
    let res = ldap
        .with_timeout(OP_TIMEOUT)
        .simple_bind(dn, password)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "LDAP bind did not complete");
            failed("The LDAP server did not complete the sign-in.")
        })?;
    Ok(res.rc == 0)
}

fn values<'a>(entry: &'a SearchEntry, name: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

/// The search filter for a username: the username is escaped (RFC 4515) so
/// that filter syntax in it is matched literally.
pub fn user_filter(settings: &Settings, user: &str) -> String {
    format!(
        "(&({}={}){})",
        settings.attribute_for_username,
        ldap_escape(user.to_lowercase()),
        settings.search_filters
    )
}

/// Checks `user` / `password` against the directory and returns the person.
pub async fn authenticate(settings: &Settings, user: &str, password: &str) -> ApiResult<Person> {
    if password.trim().is_empty() || user.trim().is_empty() {
        return Err(ApiError::bad_request("The username or password is wrong."));
    }
    if user.len() > MAX_USER || password.len() > MAX_PASSWORD {
        return Err(ApiError::bad_request(
            "The username or password is too long.",
        ));
    }
    let mut app = connect(settings).await?;
    if !bind(&mut app, &settings.app_dn, &settings.app_password).await? {
        return Err(failed("The LDAP service account could not sign in."));
    }
    let mut attrs = vec![
        settings.attribute_for_username.clone(),
        settings.attribute_for_mail.clone(),
        "cn".to_string(),
    ];
    if settings.group_management {
        attrs.push(settings.attribute_for_groups.clone());
    }
    let filter = user_filter(settings, user);
    let found = app
        .with_timeout(OP_TIMEOUT)
        .search(&settings.search_base, Scope::Subtree, &filter, attrs)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "LDAP search did not complete");
            failed("The LDAP search failed.")
        })?;
    let _ = app.unbind().await;
    let (entries, result) = (found.0, found.1);
    if result.rc != 0 {
        tracing::warn!(rc = result.rc, text = %result.text, "LDAP search refused");
    }
    let Some(entry) = entries.into_iter().next() else {
        return Err(failed("No such user in the LDAP directory."));
    };
    let entry = SearchEntry::construct(entry);
    let wanted = user.to_lowercase();
    let usernames = values(&entry, &settings.attribute_for_username);
    if !usernames.iter().any(|u| u.to_lowercase() == wanted) {
        return Err(failed("The LDAP entry does not match the username."));
    }
    let mut email = values(&entry, &settings.attribute_for_mail)
        .first()
        .cloned()
        .unwrap_or_default();
    if email.is_empty() && !settings.default_email_domain.is_empty() {
        let candidate = format!("{user}@{}", settings.default_email_domain);
        if crate::accounts::valid_email(&candidate) {
            email = candidate;
        }
    }
    if email.is_empty() {
        return Err(failed("The LDAP entry has no usable email address."));
    }
    let name = values(&entry, "cn")
        .first()
        .cloned()
        .unwrap_or_else(|| user.to_string());
    let groups = if settings.group_management {
        values(&entry, &settings.attribute_for_groups)
            .iter()
            .filter_map(|dn| first_cn(dn))
            .collect()
    } else {
        Vec::new()
    };

    let mut person_conn = connect(settings).await?;
    let ok = bind(&mut person_conn, &entry.dn, password).await?;
    let _ = person_conn.unbind().await;
    if !ok {
        return Err(failed("The LDAP directory refused the password."));
    }
    Ok(Person {
        dn: entry.dn,
        email: email.to_lowercase(),
        name,
        groups,
    })
}

/// The whole sign-in: the directory check, then the local account (created on
/// first sign-in with the default role) and, with group management, its groups.
pub async fn sign_in(state: &AppState, user: &str, password: &str) -> ApiResult<UserRow> {
    if !state.config.get_bool("ldap.enable") {
        return Err(ApiError::bad_request("LDAP sign-in is not enabled."));
    }
    let settings = Settings::load(&state.config);
    let person = authenticate(&settings, user, password).await?;
    let email = person.email.clone();
    let existing = state
        .db
        .read(move |c| db::users::get_by_email(c, &email))
        .await?;
    let user = match existing {
        Some(u) => u,
        None => {
            let random = db::new_id();
            let role = crate::accounts::default_role(state);
            let name: String = person.name.chars().take(255).collect();
            let created = crate::accounts::create_user(
                state,
                &name,
                &person.email,
                &random,
                "/user.png",
                &role,
            )
            .await?;
            let event = crate::notify::Event::new("user.created", Some(&created))
                .subject("user", &created.id)
                .data(json!({"role": created.role}))
                .source("ldap");
            crate::notify::publish(state, event);
            created
        }
    };
    if settings.group_management && !person.groups.is_empty() {
        if let Err(e) =
            crate::auth::group_sync::sync(state, &user.id, person.groups, settings.group_creation)
                .await
        {
            tracing::warn!(error = %e, "LDAP group sync failed");
        }
    }
    Ok(user)
}

/// The value of the first `CN` attribute of a distinguished name, with
/// RFC 4514 escapes resolved (`cn=Sales\, EMEA,ou=groups` → `Sales, EMEA`).
pub fn first_cn(dn: &str) -> Option<String> {
    for rdn in split_unescaped(dn, &[',', ';']) {
        for ava in split_unescaped(&rdn, &['+']) {
            let Some((kind, value)) = ava.split_once('=') else {
                continue;
            };
            if kind.trim().eq_ignore_ascii_case("cn") {
                let v = unescape_dn_value(value.trim_start());
                return (!v.is_empty()).then_some(v);
            }
        }
    }
    None
}

/// Splits at separators that are not escaped with a backslash; escapes stay.
fn split_unescaped(s: &str, seps: &[char]) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let cur = parts.last_mut().expect("never empty");
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if seps.contains(&c) {
            parts.push(String::new());
        } else {
            cur.push(c);
        }
    }
    parts
}

/// Resolves `\,`-style and `\XX` hex escapes (runs of hex escapes are UTF-8).
fn unescape_dn_value(v: &str) -> String {
    let b = v.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let hex = |x: u8| (x as char).to_digit(16);
            if i + 2 < b.len() {
                if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i + 1]);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_from_dns() {
        assert_eq!(
            first_cn("cn=Sales\\, EMEA 1,ou=groups,dc=example,dc=org").as_deref(),
            Some("Sales, EMEA 1")
        );
        assert_eq!(first_cn("CN=Admins,OU=x").as_deref(), Some("Admins"));
        assert_eq!(
            first_cn("ou=x,cn=caf\\C3\\A9,dc=o").as_deref(),
            Some("café")
        );
        assert_eq!(first_cn("ou=x,dc=o"), None);
        assert_eq!(first_cn("uid=a+cn=B\\+C,dc=o").as_deref(), Some("B+C"));
    }

    #[test]
    fn usernames_are_escaped_in_the_filter() {
        let s = Settings {
            host: "h".into(),
            port: 389,
            attribute_for_mail: "mail".into(),
            default_email_domain: String::new(),
            attribute_for_username: "uid".into(),
            app_dn: String::new(),
            app_password: String::new(),
            search_base: "dc=o".into(),
            search_filters: "(objectClass=person)".into(),
            use_tls: false,
            ca_cert_file: String::new(),
            validate_cert: true,
            group_management: false,
            group_creation: false,
            attribute_for_groups: "memberOf".into(),
        };
        assert_eq!(
            user_filter(&s, "*)(uid=*"),
            "(&(uid=\\2a\\29\\28uid=\\2a)(objectClass=person))"
        );
        assert_eq!(
            user_filter(&s, "Alice"),
            "(&(uid=alice)(objectClass=person))"
        );
    }
}
