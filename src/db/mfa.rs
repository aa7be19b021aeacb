//! Authenticator (TOTP) state kept in the JSON `auth.mfa` column, in upstream's
//! layout: the encrypted secret, the last used time step, hashed recovery codes,
//! the pending login/manage challenges, the operator reset ticket and attempt limits.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaLimit {
    #[serde(default)]
    pub count: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaResetTicket {
    pub token_hash: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaChallenge {
    pub token_hash: String,
    /// `enroll`, `verify`, `replace` or `recover`.
    #[serde(rename = "type")]
    pub kind: String,
    pub expires_at: i64,
    #[serde(default)]
    pub attempts: i64,
    pub auth_method: String,
    pub auth_time: i64,
    #[serde(default)]
    pub session_stamp: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub oauth_session_id: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaData {
    #[serde(default = "crate::db::new_id")]
    pub revision: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "minus_one")]
    pub last_step: i64,
    #[serde(default)]
    pub recovery_hashes: Vec<String>,
    #[serde(default)]
    pub login_challenge: Option<MfaChallenge>,
    #[serde(default)]
    pub manage_challenge: Option<MfaChallenge>,
    #[serde(default)]
    pub reset_required: bool,
    #[serde(default)]
    pub reset_ticket: Option<MfaResetTicket>,
    #[serde(default)]
    pub limits: BTreeMap<String, MfaLimit>,
}

fn minus_one() -> i64 {
    -1
}

impl Default for MfaData {
    fn default() -> Self {
        Self {
            revision: crate::db::new_id(),
            secret: None,
            last_step: -1,
            recovery_hashes: Vec::new(),
            login_challenge: None,
            manage_challenge: None,
            reset_required: false,
            reset_ticket: None,
            limits: BTreeMap::new(),
        }
    }
}

/// The credential row as the MFA flows need it.
#[derive(Debug, Clone)]
pub struct MfaAuth {
    pub id: String,
    pub active: bool,
    pub session_stamp: Option<String>,
    pub mfa: MfaData,
}

/// `None` when there is no credential row. A column that is NULL, `'null'` or not
/// readable as MFA state counts as "no authenticator".
pub fn get(c: &Connection, user_id: &str) -> rusqlite::Result<Option<MfaAuth>> {
    c.query_row(
        "SELECT id, active, session_stamp, mfa FROM auth WHERE id = ?1",
        [user_id],
        |r| {
            let raw: Option<String> = r.get("mfa")?;
            let mfa = raw
                .as_deref()
                .and_then(|s| serde_json::from_str::<Option<MfaData>>(s).ok())
                .flatten()
                .unwrap_or_default();
            Ok(MfaAuth {
                id: r.get("id")?,
                active: r.get::<_, Option<bool>>("active")?.unwrap_or(true),
                session_stamp: r.get("session_stamp")?,
                mfa,
            })
        },
    )
    .optional()
}

/// Stores the state under a fresh revision. With `revoke`, the session stamp is
/// rotated too, which signs out every existing session of the user. Returns the
/// stamp now on the row.
pub fn save(
    c: &Connection,
    user_id: &str,
    mfa: &mut MfaData,
    revoke: bool,
) -> rusqlite::Result<Option<String>> {
    mfa.revision = crate::db::new_id();
    let text = serde_json::to_string(mfa).expect("MFA state serialises");
    if revoke {
        c.execute(
            "UPDATE auth SET mfa = ?2, session_stamp = ?3 WHERE id = ?1",
            params![user_id, text, crate::db::new_id()],
        )?;
    } else {
        c.execute(
            "UPDATE auth SET mfa = ?2 WHERE id = ?1",
            params![user_id, text],
        )?;
    }
    c.query_row(
        "SELECT session_stamp FROM auth WHERE id = ?1",
        [user_id],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}
