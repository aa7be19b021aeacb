//! LDAP and OAuth settings. Stored and returned in upstream's shapes; signing
//! in through LDAP or OAuth is not part of this server (those endpoints
//! answer 501 / are absent).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::error_response::JsonBody;
use crate::api::extract::AdminUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Wire field → config key of the LDAP server form.
const LDAP_SERVER_KEYS: &[(&str, &str)] = &[
    ("label", "ldap.server.label"),
    ("host", "ldap.server.host"),
    ("port", "ldap.server.port"),
    ("attribute_for_mail", "ldap.server.attribute_for_mail"),
    ("default_email_domain", "ldap.server.default_email_domain"),
    (
        "attribute_for_username",
        "ldap.server.attribute_for_username",
    ),
    ("app_dn", "ldap.server.app_dn"),
    ("app_dn_password", "ldap.server.app_password"),
    ("search_base", "ldap.server.users_dn"),
    ("search_filters", "ldap.server.search_filter"),
    ("use_tls", "ldap.server.use_tls"),
    ("certificate_path", "ldap.server.ca_cert_file"),
    ("validate_cert", "ldap.server.validate_cert"),
    ("ciphers", "ldap.server.ciphers"),
    ("enable_group_management", "ldap.group.enable_management"),
    ("enable_group_creation", "ldap.group.enable_creation"),
    ("attribute_for_groups", "ldap.server.attribute_for_groups"),
];

fn values_of(state: &AppState, keys: &[(&str, &str)]) -> Value {
    Value::Object(
        keys.iter()
            .map(|(wire, key)| (wire.to_string(), state.config.get(key)))
            .collect(),
    )
}

pub(super) async fn get_ldap_server(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    Json(values_of(&state, LDAP_SERVER_KEYS))
}

#[derive(Deserialize)]
pub(super) struct LdapServerForm {
    label: String,
    host: String,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default = "ldap_mail_attr")]
    attribute_for_mail: String,
    #[serde(default)]
    default_email_domain: String,
    #[serde(default = "ldap_uid_attr")]
    attribute_for_username: String,
    app_dn: String,
    app_dn_password: String,
    search_base: String,
    #[serde(default)]
    search_filters: String,
    #[serde(default = "yes")]
    use_tls: bool,
    #[serde(default)]
    certificate_path: Option<String>,
    #[serde(default = "yes")]
    validate_cert: bool,
    #[serde(default = "ldap_ciphers")]
    ciphers: Option<String>,
    #[serde(default)]
    enable_group_management: bool,
    #[serde(default)]
    enable_group_creation: bool,
    #[serde(default = "ldap_groups_attr")]
    attribute_for_groups: String,
}

fn ldap_mail_attr() -> String {
    "mail".into()
}
fn ldap_uid_attr() -> String {
    "uid".into()
}
fn ldap_groups_attr() -> String {
    "memberOf".into()
}
fn ldap_ciphers() -> Option<String> {
    Some("ALL".into())
}
fn yes() -> bool {
    true
}

pub(super) async fn set_ldap_server(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<LdapServerForm>,
) -> ApiResult<Json<Value>> {
    for (name, v) in [
        ("label", &f.label),
        ("host", &f.host),
        ("attribute_for_mail", &f.attribute_for_mail),
        ("attribute_for_username", &f.attribute_for_username),
        ("search_base", &f.search_base),
    ] {
        if v.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Required field {name} is empty"
            )));
        }
    }
    if f.enable_group_management && f.attribute_for_groups.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Required field attribute_for_groups is empty",
        ));
    }
    state
        .config
        .set_many(vec![
            ("ldap.server.label", json!(f.label)),
            ("ldap.server.host", json!(f.host)),
            ("ldap.server.port", json!(f.port)),
            (
                "ldap.server.attribute_for_mail",
                json!(f.attribute_for_mail),
            ),
            (
                "ldap.server.default_email_domain",
                json!(f.default_email_domain),
            ),
            (
                "ldap.server.attribute_for_username",
                json!(f.attribute_for_username),
            ),
            ("ldap.server.app_dn", json!(f.app_dn)),
            ("ldap.server.app_password", json!(f.app_dn_password)),
            ("ldap.server.users_dn", json!(f.search_base)),
            ("ldap.server.search_filter", json!(f.search_filters)),
            ("ldap.server.use_tls", json!(f.use_tls)),
            ("ldap.server.ca_cert_file", json!(f.certificate_path)),
            ("ldap.server.validate_cert", json!(f.validate_cert)),
            ("ldap.server.ciphers", json!(f.ciphers)),
            (
                "ldap.group.enable_management",
                json!(f.enable_group_management),
            ),
            ("ldap.group.enable_creation", json!(f.enable_group_creation)),
            (
                "ldap.server.attribute_for_groups",
                json!(f.attribute_for_groups),
            ),
        ])
        .await?;
    Ok(Json(values_of(&state, LDAP_SERVER_KEYS)))
}

pub(super) async fn get_ldap_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    Json(json!({"ENABLE_LDAP": state.config.get("ldap.enable")}))
}

#[derive(Deserialize)]
pub(super) struct LdapToggleForm {
    #[serde(default)]
    enable_ldap: Option<bool>,
}

pub(super) async fn set_ldap_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(f): JsonBody<LdapToggleForm>,
) -> ApiResult<Json<Value>> {
    state
        .config
        .set("ldap.enable", json!(f.enable_ldap))
        .await?;
    Ok(Json(
        json!({"ENABLE_LDAP": state.config.get("ldap.enable")}),
    ))
}

/// Wire field → config key of the OAuth/OIDC form, with the value a fresh
/// install reports when nothing was saved.
const OAUTH_KEYS: &[(&str, &str, &str)] = &[
    ("ENABLE_OAUTH", "oauth.enable", "false"),
    ("ENABLE_OAUTH_SIGNUP", "oauth.enable_signup", "false"),
    (
        "OAUTH_MERGE_ACCOUNTS_BY_EMAIL",
        "oauth.merge_accounts_by_email",
        "false",
    ),
    ("OAUTH_AUTO_REDIRECT", "oauth.auto_redirect", "false"),
    ("OAUTH_ALLOWED_DOMAINS", "oauth.allowed_domains", r#"["*"]"#),
    ("OAUTH_BLOCKED_GROUPS", "oauth.blocked_groups", r#""[]""#),
    (
        "ENABLE_OAUTH_ROLE_MANAGEMENT",
        "oauth.enable_role_mapping",
        "false",
    ),
    ("OAUTH_ROLES_CLAIM", "oauth.roles_claim", r#""roles""#),
    ("OAUTH_ADMIN_ROLES", "oauth.admin_roles", r#"["admin"]"#),
    (
        "OAUTH_ALLOWED_ROLES",
        "oauth.allowed_roles",
        r#"["user","admin"]"#,
    ),
    (
        "ENABLE_OAUTH_GROUP_MANAGEMENT",
        "oauth.enable_group_mapping",
        "false",
    ),
    (
        "ENABLE_OAUTH_GROUP_CREATION",
        "oauth.enable_group_creation",
        "false",
    ),
    ("OAUTH_GROUP_CLAIM", "oauth.group_claim", r#""groups""#),
    (
        "OAUTH_GROUP_DEFAULT_SHARE",
        "oauth.group_default_share",
        r#""members""#,
    ),
    ("OAUTH_PROVIDER_NAME", "oauth.provider_name", r#""SSO""#),
    ("OPENID_PROVIDER_URL", "oauth.provider_url", r#""""#),
    ("OAUTH_CLIENT_ID", "oauth.client_id", r#""""#),
    ("OAUTH_CLIENT_SECRET", "oauth.client_secret", r#""""#),
    ("OPENID_REDIRECT_URI", "oauth.redirect_uri", r#""""#),
    ("OAUTH_SCOPES", "oauth.scopes", r#""openid email profile""#),
    (
        "OAUTH_CODE_CHALLENGE_METHOD",
        "oauth.code_challenge_method",
        r#""""#,
    ),
    (
        "OAUTH_TOKEN_ENDPOINT_AUTH_METHOD",
        "oauth.token_endpoint_auth_method",
        r#""""#,
    ),
    (
        "OPENID_END_SESSION_ENDPOINT",
        "oauth.end_session_endpoint",
        r#""""#,
    ),
    ("OAUTH_TIMEOUT", "oauth.timeout", r#""""#),
    ("OAUTH_CLIENT_TIMEOUT", "oauth.client.timeout", r#""""#),
    ("OAUTH_EMAIL_CLAIM", "oauth.email_claim", r#""email""#),
    ("OAUTH_USERNAME_CLAIM", "oauth.username_claim", r#""name""#),
    ("OAUTH_PICTURE_CLAIM", "oauth.picture_claim", r#""picture""#),
    ("OAUTH_SUB_CLAIM", "oauth.sub_claim", r#""""#),
    ("OAUTH_AUDIENCE", "oauth.audience", r#""""#),
    (
        "OAUTH_UPDATE_EMAIL_ON_LOGIN",
        "oauth.update_email_on_login",
        "false",
    ),
    (
        "OAUTH_UPDATE_NAME_ON_LOGIN",
        "oauth.update_name_on_login",
        "false",
    ),
    (
        "OAUTH_UPDATE_PICTURE_ON_LOGIN",
        "oauth.update_picture_on_login",
        "false",
    ),
    (
        "OAUTH_REFRESH_TOKEN_INCLUDE_SCOPE",
        "oauth.refresh_token.include_scope",
        "false",
    ),
];

/// Lists kept as lists in the table but edited as comma text.
const OAUTH_COMMA_LISTS: &[&str] = &[
    "OAUTH_ALLOWED_DOMAINS",
    "OAUTH_ADMIN_ROLES",
    "OAUTH_ALLOWED_ROLES",
];

fn oauth_values(state: &AppState) -> Value {
    let mut m = Map::new();
    for (wire, key, default) in OAUTH_KEYS {
        let mut v = state.config.get(key);
        if v.is_null() {
            v = serde_json::from_str(default).unwrap_or(Value::Null);
        }
        if *wire == "OAUTH_BLOCKED_GROUPS" && v.is_array() {
            v = Value::String(v.to_string());
        } else if OAUTH_COMMA_LISTS.contains(wire) {
            if let Value::Array(items) = &v {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                v = Value::String(parts.join(","));
            }
        }
        m.insert(wire.to_string(), v);
    }
    m.insert("ENABLE_OAUTH_PERSISTENT_CONFIG".into(), Value::Bool(true));
    Value::Object(m)
}

pub(super) async fn get_oauth_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> Json<Value> {
    Json(oauth_values(&state))
}

pub(super) async fn set_oauth_config(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let mut updates: Vec<(&'static str, Value)> = Vec::new();
    for (wire, key, _) in OAUTH_KEYS {
        let Some(v) = form.get(*wire) else { continue };
        if v.is_null() {
            continue;
        }
        let v = match v {
            Value::String(s) if OAUTH_COMMA_LISTS.contains(wire) => Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        updates.push((key, v));
    }
    state.config.set_many(updates).await?;
    Ok(Json(oauth_values(&state)))
}
