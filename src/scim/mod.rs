//! SCIM 2.0 provisioning (`/api/v1/scim/v2`): an identity provider creates,
//! updates, deactivates and deletes accounts and groups with a bearer token.
//!
//! Resources and errors follow upstream's shapes (RFC 7643/7644). Supported
//! filters are `userName eq "…"` and `externalId eq "…"` on users and
//! `displayName eq "…"` on groups; anything else is refused as `invalidFilter`.
//! Deactivating (`active: false`) makes the account pending and ends its
//! sessions; deleting removes it; either closes its open sockets at once.

pub mod groups;
pub mod users;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::settings::ScimSettings;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM error: HTTP status, message and optional `scimType`.
#[derive(Debug)]
pub struct ScimError {
    pub status: u16,
    pub detail: String,
    pub scim_type: Option<&'static str>,
}

pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        let scim_type = match status {
            400 => Some("invalidSyntax"),
            404 => Some("invalidValue"),
            409 => Some("uniqueness"),
            _ => None,
        };
        ScimError {
            status,
            detail: detail.into(),
            scim_type,
        }
    }
    pub fn typed(status: u16, detail: impl Into<String>, scim_type: &'static str) -> Self {
        ScimError {
            status,
            detail: detail.into(),
            scim_type: Some(scim_type),
        }
    }
    /// The error body: SCIM's shape, whose `detail` is also the house `{"detail"}`.
    pub fn body(&self) -> Value {
        let mut b = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            b["scimType"] = json!(t);
        }
        b
    }
}

impl From<anyhow::Error> for ScimError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "SCIM request failed");
        ScimError::new(500, "The server could not complete the SCIM request.")
    }
}

impl From<rusqlite::Error> for ScimError {
    fn from(e: rusqlite::Error) -> Self {
        anyhow::Error::from(e).into()
    }
}

/// Checks `Authorization: Bearer <SCIM_TOKEN>`; the token comparison takes
/// the same time wherever the first difference is.
pub fn authorize(cfg: &ScimSettings, authorization: Option<&str>) -> ScimResult<()> {
    let Some(header) = authorization else {
        return Err(ScimError::new(401, "An Authorization header is required."));
    };
    let mut parts = header.split_whitespace();
    let (Some(scheme), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ScimError::new(
            401,
            "Expected: Authorization: Bearer <token>.",
        ));
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ScimError::new(401, "Only bearer tokens are accepted."));
    }
    if !cfg.enabled {
        return Err(ScimError::new(403, "SCIM is not enabled on this server."));
    }
    if cfg.token.is_empty() || !same_secret(token, &cfg.token) {
        return Err(ScimError::new(401, "The SCIM token is not valid."));
    }
    Ok(())
}

/// Constant-time equality of two secrets (compared through their digests,
/// so their lengths do not show either).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// `startIndex` (1-based, at least 1) and `count` (0..=100, default 20).
pub fn paging(start_index: Option<i64>, count: Option<i64>) -> (i64, i64) {
    (
        start_index.unwrap_or(1).max(1),
        count.unwrap_or(20).clamp(0, 100),
    )
}

/// Parses `attribute eq "value"`: the attribute (as written) and the value.
pub fn parse_eq_filter(filter: &str) -> ScimResult<(String, String)> {
    let refuse = || {
        ScimError::typed(
            400,
            "Only filters of the form attribute eq \"value\" are supported.",
            "invalidFilter",
        )
    };
    let f = filter.trim();
    let (attr, rest) = f.split_once(char::is_whitespace).ok_or_else(refuse)?;
    let rest = rest.trim_start();
    let (op, value) = rest.split_once(char::is_whitespace).ok_or_else(refuse)?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(refuse());
    }
    let value = value.trim();
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(refuse)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or_else(refuse)?),
            '"' => return Err(refuse()),
            c => out.push(c),
        }
    }
    Ok((attr.to_string(), out))
}

/// A list response.
pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// Seconds since the epoch as ISO 8601 in UTC (`2024-05-01T10:00:00+00:00`).
pub fn iso(ts: Option<i64>) -> String {
    chrono::DateTime::from_timestamp(ts.unwrap_or(0), 0)
        .unwrap_or_default()
        .to_rfc3339()
}

pub fn service_provider_config() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 1000, "maxPayloadSize": 1048576},
        "filter": {"supported": true, "maxResults": 200},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token set on the server as SCIM_TOKEN",
        }],
    })
}

/// `base` is the server's URL ending in `/`.
pub fn resource_types(base: &str) -> Value {
    let one = |id: &str, endpoint: &str, schema: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": id,
            "name": id,
            "endpoint": endpoint,
            "schema": schema,
            "meta": {
                "location": format!("{base}api/v1/scim/v2/ResourceTypes/{id}"),
                "resourceType": "ResourceType",
            },
        })
    };
    json!([
        one("User", "/Users", USER_SCHEMA),
        one("Group", "/Groups", GROUP_SCHEMA)
    ])
}

pub fn schemas() -> Value {
    let schema = "urn:ietf:params:scim:schemas:core:2.0:Schema";
    json!([
        {
            "schemas": [schema],
            "id": USER_SCHEMA,
            "name": "User",
            "description": "User Account",
            "attributes": [
                {"name": "userName", "type": "string", "required": true, "uniqueness": "server"},
                {"name": "displayName", "type": "string", "required": true},
                {"name": "emails", "type": "complex", "multiValued": true, "required": true},
                {"name": "active", "type": "boolean", "required": false},
            ],
        },
        {
            "schemas": [schema],
            "id": GROUP_SCHEMA,
            "name": "Group",
            "description": "Group",
            "attributes": [
                {"name": "displayName", "type": "string", "required": true},
                {"name": "members", "type": "complex", "multiValued": true, "required": false},
            ],
        },
    ])
}

/// Parses a request body into `T`; malformed JSON is a SCIM 400.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> ScimResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::new(400, format!("The request body is not valid: {e}")))
}

/// A SCIM PATCH body (RFC 7644 §3.5.2), for users and groups alike.
#[derive(serde::Deserialize)]
pub struct PatchOp {
    op: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(serde::Deserialize)]
pub struct PatchRequest {
    #[serde(rename = "Operations")]
    operations: Vec<PatchOp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq_filters() {
        assert_eq!(
            parse_eq_filter(r#"userName eq "a@b.c""#).unwrap(),
            ("userName".into(), "a@b.c".into())
        );
        assert_eq!(
            parse_eq_filter(r#"displayName  EQ  "Sales \"EMEA\"""#)
                .unwrap()
                .1,
            "Sales \"EMEA\""
        );
        for bad in [
            "userName",
            r#"userName co "a""#,
            r#"userName eq a"#,
            r#"userName eq "a" or x eq "b""#,
        ] {
            assert!(parse_eq_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens() {
        let cfg = ScimSettings {
            enabled: true,
            token: "secret-token".into(),
            provider: "oidc".into(),
        };
        assert!(authorize(&cfg, Some("Bearer secret-token")).is_ok());
        assert!(authorize(&cfg, Some("bearer secret-token")).is_ok());
        for bad in ["Bearer secret-tokem", "Basic secret-token", "Bearer", ""] {
            assert_eq!(authorize(&cfg, Some(bad)).unwrap_err().status, 401, "{bad}");
        }
        assert_eq!(authorize(&cfg, None).unwrap_err().status, 401);
        let off = ScimSettings {
            enabled: false,
            ..cfg
        };
        assert_eq!(
            authorize(&off, Some("Bearer secret-token"))
                .unwrap_err()
                .status,
            403
        );
    }
}
