//! Second factors: authenticator-app (TOTP, RFC 6238) codes and recovery codes.
//!
//! With `auth.mfa.enable` on, a correct password no longer yields a session: the
//! sign-in answers `{next_step, challenge_token, expires_in}` and the browser
//! finishes with `enroll/start` + `enroll/confirm` (first time) or `verify`
//! (routes in src/api/mfa.rs). Secrets are stored Fernet-encrypted under a key
//! derived from the server secret (upstream's format, so a data folder written
//! by either server reads in the other); recovery codes are stored as SHA-256
//! hashes and work once each.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::caller::Caller;
use super::jwt;
use crate::db::mfa::{MfaAuth, MfaChallenge, MfaData, MfaLimit};
use crate::db::users::UserRow;
use crate::db::{self, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const CHALLENGE_SECONDS: i64 = 300;
const LIMIT_SECONDS: i64 = 900;
pub const EXPIRED: &str = "This authentication step expired. Please start again.";

// ---------------------------------------------------------------- crypto

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// The 32-byte Fernet key: `MFA_ENCRYPTION_KEY` (urlsafe base64) when set, else
/// HKDF-SHA256 of the server secret.
fn fernet_key(state: &AppState) -> ApiResult<[u8; 32]> {
    if let Ok(v) = std::env::var("MFA_ENCRYPTION_KEY") {
        if !v.is_empty() {
            let raw = URL_SAFE
                .decode(v.trim())
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(unavailable_config)?;
            let mut key = [0u8; 32];
            key.copy_from_slice(&raw);
            return Ok(key);
        }
    }
    derive_key(&state.settings.secret_key).ok_or_else(unavailable_config)
}

fn derive_key(secret: &str) -> Option<[u8; 32]> {
    if secret.is_empty() {
        return None;
    }
    let hk = hkdf::Hkdf::<Sha256>::new(None, secret.as_bytes());
    let mut key = [0u8; 32];
    hk.expand(b"open-webui/mfa-encryption/v1", &mut key).ok()?;
    Some(key)
}

fn unavailable_config() -> ApiError {
    ApiError::Unavailable(
        "Authenticator configuration is unavailable. Contact the operator.".into(),
    )
}

fn encrypt_secret(state: &AppState, plain: &str) -> ApiResult<String> {
    Ok(fernet_encrypt(&fernet_key(state)?, plain, now_secs()))
}

fn decrypt_secret(state: &AppState, token: &str) -> ApiResult<String> {
    fernet_decrypt(&fernet_key(state)?, token).ok_or_else(unavailable_config)
}

/// A Fernet token (version 0x80, timestamp, IV, AES-128-CBC, HMAC-SHA256).
pub(crate) fn fernet_encrypt(key: &[u8; 32], plain: &str, now: i64) -> String {
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    let ct = Aes128CbcEnc::new((&key[16..]).into(), (&iv).into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
    let mut data = Vec::with_capacity(25 + ct.len() + 32);
    data.push(0x80);
    data.extend_from_slice(&(now as u64).to_be_bytes());
    data.extend_from_slice(&iv);
    data.extend_from_slice(&ct);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key[..16]).expect("any key length");
    mac.update(&data);
    data.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE.encode(data)
}

pub(crate) fn fernet_decrypt(key: &[u8; 32], token: &str) -> Option<String> {
    let raw = URL_SAFE.decode(token.trim()).ok()?;
    if raw.len() < 1 + 8 + 16 + 16 + 32 || raw[0] != 0x80 {
        return None;
    }
    let (data, tag) = raw.split_at(raw.len() - 32);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key[..16]).expect("any key length");
    mac.update(data);
    mac.verify_slice(tag).ok()?;
    let plain = Aes128CbcDec::new((&key[16..]).into(), data[9..25].into())
        .decrypt_padded_vec_mut::<Pkcs7>(&data[25..])
        .ok()?;
    String::from_utf8(plain).ok()
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// RFC 6238 code (SHA-1, 6 digits, 30 s steps) for a base32 secret at `step`.
pub fn totp_at(secret_b32: &str, step: i64) -> Option<String> {
    let cleaned: String = secret_b32
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let key = data_encoding::BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .ok()?;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).ok()?;
    mac.update(&(step as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    Some(format!("{:06}", bin % 1_000_000))
}

/// The time step a code belongs to (current, previous or next), if newer than `last_step`.
fn matching_step(secret: &str, code: &str, last_step: i64) -> Option<i64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now_secs() / 30;
    [current, current - 1, current + 1]
        .into_iter()
        .find(|&s| s > last_step && totp_at(secret, s).is_some_and(|c| ct_eq(&c, code)))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..10).map(|_| random_hex(16)).collect();
    let hashes = codes.iter().map(|c| token_hash(c)).collect();
    (codes, hashes)
}

fn random_base32_secret() -> String {
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    data_encoding::BASE32_NOPAD.encode(&b)
}

// ---------------------------------------------------------------- policy & state

pub fn mfa_enabled(state: &AppState) -> bool {
    state.config.get_bool("auth.mfa.enable")
}

/// Whether the MFA policy covers sessions opened with `auth_method`
/// (OAuth and trusted-header sign-ins may be exempted by the admin).
pub fn mfa_required(state: &AppState, auth_method: &str) -> bool {
    if !mfa_enabled(state) {
        return false;
    }
    if auth_method == "oauth" && state.config.get_bool("auth.mfa.allow_oauth_bypass") {
        return false;
    }
    !(auth_method == "trusted_header"
        && state
            .config
            .get_bool("auth.mfa.allow_trusted_header_bypass"))
}

async fn load_auth(state: &AppState, user_id: &str) -> ApiResult<MfaAuth> {
    let id = user_id.to_string();
    match state.db.read(move |c| db::mfa::get(c, &id)).await? {
        Some(a) if a.active => Ok(a),
        _ => Err(ApiError::unauthorized("Invalid authentication request.")),
    }
}

fn new_challenge(
    auth: &MfaAuth,
    kind: &str,
    auth_method: &str,
    auth_time: i64,
) -> (String, MfaChallenge) {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!(
        "{}.{}",
        auth.id,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let challenge = MfaChallenge {
        token_hash: token_hash(&token),
        kind: kind.to_string(),
        expires_at: now_secs() + CHALLENGE_SECONDS,
        attempts: 0,
        auth_method: auth_method.to_string(),
        auth_time,
        session_stamp: auth.session_stamp.clone(),
        secret: None,
        oauth_session_id: None,
        provider: None,
    };
    (token, challenge)
}

fn challenge_json(token: &str, c: &MfaChallenge) -> Value {
    let step = if c.kind == "replace" {
        "enroll"
    } else {
        c.kind.as_str()
    };
    json!({
        "next_step": step,
        "challenge_token": token,
        "expires_in": (c.expires_at - now_secs()).max(0),
    })
}

async fn save(state: &AppState, user_id: &str, mut mfa: MfaData, revoke: bool) -> ApiResult<()> {
    let id = user_id.to_string();
    state
        .db
        .write(move |c| db::mfa::save(c, &id, &mut mfa, revoke))
        .await?;
    Ok(())
}

/// Called by the password sign-in when the MFA policy is on: stores a login
/// challenge, whose JSON is the answer instead of a session. Accounts awaiting approval get
/// `{"next_step": "pending"}` and no session at all.
pub async fn start_login(
    state: &AppState,
    user_id: &str,
    role: &str,
    auth_method: &str,
) -> ApiResult<Value> {
    if role != "admin" && role != "user" {
        return Ok(json!({"next_step": "pending"}));
    }
    let auth = load_auth(state, user_id).await?;
    let mut mfa = auth.mfa.clone();
    let kind = if mfa.reset_required {
        "recover"
    } else if mfa.secret.is_some() {
        "verify"
    } else {
        "enroll"
    };
    let (token, challenge) = new_challenge(&auth, kind, auth_method, now_secs());
    let body = challenge_json(&token, &challenge);
    mfa.login_challenge = Some(challenge);
    save(state, user_id, mfa, false).await?;
    Ok(body)
}

/// With the MFA policy on, each password sign-in attempt is counted (ten per
/// 15 minutes per account), before the password is checked.
pub async fn count_password_attempt(state: &AppState, user_id: &str) -> ApiResult<()> {
    let Ok(auth) = load_auth(state, user_id).await else {
        return Ok(());
    };
    let mut mfa = auth.mfa;
    bump_limit(&mut mfa, "password")?;
    save(state, user_id, mfa, false).await
}

/// Which slot a challenge lives in.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Login,
    Manage,
}

struct Loaded {
    user: db::users::UserRow,
    auth: MfaAuth,
    mfa: MfaData,
    challenge: MfaChallenge,
    slot: Slot,
}

async fn load_challenge(
    state: &AppState,
    token: &str,
    kinds: &[&str],
    attempt: bool,
) -> ApiResult<Loaded> {
    let expired = || ApiError::unauthorized(EXPIRED);
    let Some((user_id, _)) = token.split_once('.') else {
        return Err(expired());
    };
    if user_id.len() > 64 {
        return Err(expired());
    }
    let auth = load_auth(state, user_id).await?;
    let mut mfa = auth.mfa.clone();
    let hash = token_hash(token);
    let mut slot = if kinds == ["replace"] {
        Slot::Manage
    } else {
        Slot::Login
    };
    if kinds.contains(&"replace")
        && mfa
            .manage_challenge
            .as_ref()
            .is_some_and(|c| ct_eq(&c.token_hash, &hash))
    {
        slot = Slot::Manage;
    }
    let challenge = match slot {
        Slot::Login => mfa.login_challenge.clone(),
        Slot::Manage => mfa.manage_challenge.clone(),
    };
    let Some(mut challenge) = challenge else {
        return Err(expired());
    };
    if !kinds.contains(&challenge.kind.as_str())
        || challenge.expires_at <= now_secs()
        || challenge.session_stamp != auth.session_stamp
        || !ct_eq(&challenge.token_hash, &hash)
    {
        return Err(expired());
    }
    let uid = user_id.to_string();
    let user = state.db.read(move |c| db::users::get(c, &uid)).await?;
    let Some(user) = user.filter(|u| u.role == "admin" || u.role == "user") else {
        return Err(ApiError::forbidden("Account is awaiting approval."));
    };
    if !mfa_enabled(state) {
        return Err(ApiError::forbidden(
            "MFA is disabled. Please sign in again.",
        ));
    }
    if attempt {
        if challenge.attempts >= 5 {
            return Err(ApiError::TooManyRequests(
                "Too many codes. Please sign in again.".into(),
            ));
        }
        bump_limit(&mut mfa, "factor")?;
        challenge.attempts += 1;
        match slot {
            Slot::Login => mfa.login_challenge = Some(challenge.clone()),
            Slot::Manage => mfa.manage_challenge = Some(challenge.clone()),
        }
        save(state, &user.id, mfa.clone(), false).await?;
    }
    Ok(Loaded {
        user,
        auth,
        mfa,
        challenge,
        slot,
    })
}

/// Counts one attempt of `kind` in the 15-minute window; refuses the 11th.
fn bump_limit(mfa: &mut MfaData, kind: &str) -> ApiResult<()> {
    let now = now_secs();
    let limit = mfa
        .limits
        .get(kind)
        .filter(|l| l.expires_at > now)
        .cloned()
        .unwrap_or(MfaLimit {
            count: 0,
            expires_at: now + LIMIT_SECONDS,
        });
    if limit.count >= 10 {
        return Err(ApiError::TooManyRequests(
            "Too many attempts. Please try again later.".into(),
        ));
    }
    mfa.limits.insert(
        kind.to_string(),
        MfaLimit {
            count: limit.count + 1,
            expires_at: limit.expires_at,
        },
    );
    Ok(())
}

/// Spends a TOTP code (newer than the last one used) or a recovery code.
fn consume_factor(
    state: &AppState,
    mfa: &mut MfaData,
    code: &str,
    recovery: bool,
) -> ApiResult<()> {
    if recovery {
        let digest = token_hash(&code.trim().to_lowercase());
        if let Some(i) = mfa.recovery_hashes.iter().position(|h| ct_eq(h, &digest)) {
            mfa.recovery_hashes.remove(i);
            return Ok(());
        }
    } else if let Some(enc) = mfa.secret.clone() {
        let secret = decrypt_secret(state, &enc)?;
        if let Some(step) = matching_step(&secret, code.trim(), mfa.last_step) {
            mfa.last_step = step;
            return Ok(());
        }
    }
    Err(ApiError::unauthorized("Invalid or already used code."))
}

/// Live sockets of the user are closed after their credentials changed.
async fn disconnect_sessions(state: &AppState, user_id: &str) {
    if let Some(io) = state.io() {
        if let Err(e) = io.to(crate::events::user_room(user_id)).disconnect().await {
            tracing::debug!("disconnecting sockets after an MFA change: {e:?}");
        }
    }
}

/// A passed second step at sign-in: the session token to open for `user`.
pub struct Passed {
    pub user: UserRow,
    pub token: String,
    pub exp: Option<i64>,
}

/// Issues the session token after a passed second step (`mfa_verified` set,
/// the first step's `auth_time` kept).
async fn pass(state: &AppState, user: UserRow, challenge: &MfaChallenge) -> ApiResult<Passed> {
    let id = user.id.clone();
    let stamp = state
        .db
        .read(move |c| db::auths::get(c, &id))
        .await?
        .and_then(|a| a.session_stamp)
        .unwrap_or_default();
    let expires_in = jwt::parse_expiry(&state.config.get_str("auth.jwt_expiry"));
    let mut claims = jwt::new_session_claims(&user.id, &stamp, expires_in, now_secs());
    claims.mfa_verified = true;
    claims.auth_time = Some(challenge.auth_time);
    claims.auth_method = Some(challenge.auth_method.clone());
    let token = jwt::create(&state.settings.secret_key, &claims)?;
    Ok(Passed {
        user,
        token,
        exp: claims.exp,
    })
}

// ---------------------------------------------------------------- request checks

/// Upstream's one generic 422 for a malformed MFA request.
pub fn invalid_request() -> ApiError {
    ApiError::Validation(json!("Invalid authentication request."))
}

pub fn check_token_len(t: &str) -> ApiResult<()> {
    if (20..=160).contains(&t.chars().count()) {
        Ok(())
    } else {
        Err(invalid_request())
    }
}

pub fn check_code_len(t: &str) -> ApiResult<()> {
    if (1..=128).contains(&t.chars().count()) {
        Ok(())
    } else {
        Err(invalid_request())
    }
}

// ---------------------------------------------------------------- steps

/// The caller's own state: `{enabled, required, recovery_codes_remaining}`.
pub async fn status(state: &AppState, caller: &Caller) -> ApiResult<Value> {
    human_session(caller)?;
    let auth = load_auth(state, caller.id()).await?;
    let method = caller
        .claims
        .as_ref()
        .and_then(|c| c.auth_method.clone())
        .unwrap_or_default();
    Ok(json!({
        "enabled": auth.mfa.secret.is_some(),
        "required": mfa_required(state, &method),
        "recovery_codes_remaining": auth.mfa.recovery_hashes.len(),
    }))
}

/// Account management needs a person's session token, not an API key.
fn human_session(caller: &Caller) -> ApiResult<()> {
    match &caller.claims {
        Some(c) if !caller.via_api_key && c.typ == "session" => Ok(()),
        _ => Err(ApiError::forbidden("A human session is required.")),
    }
}

/// The sign-in challenge a token stands for, as the browser resumes it; any
/// failure is the one "expired" refusal.
pub async fn pending_challenge(state: &AppState, token: &str) -> ApiResult<Value> {
    match load_challenge(state, token, &["enroll", "verify", "recover"], false).await {
        Ok(l) => Ok(challenge_json(token, &l.challenge)),
        Err(_) => Err(ApiError::unauthorized(EXPIRED)),
    }
}

/// First half of enrolling: the new secret (kept in the challenge until
/// confirmed) as `{manual_key, qr_code}`.
pub async fn enroll_start(state: &AppState, challenge_token: &str) -> ApiResult<Value> {
    check_token_len(challenge_token)?;
    let mut l = load_challenge(state, challenge_token, &["enroll", "replace"], false).await?;
    let secret = match &l.challenge.secret {
        Some(enc) => decrypt_secret(state, enc)?,
        None => {
            let s = random_base32_secret();
            l.challenge.secret = Some(encrypt_secret(state, &s)?);
            match l.slot {
                Slot::Login => l.mfa.login_challenge = Some(l.challenge.clone()),
                Slot::Manage => l.mfa.manage_challenge = Some(l.challenge.clone()),
            }
            save(state, &l.auth.id, l.mfa, false).await?;
            s
        }
    };
    let uri = format!(
        "otpauth://totp/Open%20WebUI:{}?secret={}&issuer=Open%20WebUI",
        percent(&l.user.email),
        secret
    );
    Ok(json!({
        "manual_key": secret,
        "qr_code": setup_image(&uri),
    }))
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// This server draws no QR code: the image tells the user to use the manual key
/// (shown under it) and carries the provisioning URI as its title.
fn setup_image(uri: &str) -> String {
    let esc = uri
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"160\" height=\"160\" viewBox=\"0 0 160 160\"><title>{esc}</title><rect width=\"160\" height=\"160\" fill=\"#fff\"/><text x=\"80\" y=\"70\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">No QR code here:</text><text x=\"80\" y=\"88\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">enter the key manually</text></svg>"
    );
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

/// How a confirmed enrollment ends.
pub enum Enrolled {
    /// A signed-in user replaced their authenticator.
    Replaced { recovery_codes: Vec<String> },
    /// Enrolled during sign-in: the session opens.
    SignedIn {
        passed: Box<Passed>,
        recovery_codes: Vec<String>,
    },
}

/// Second half of enrolling: a code from the new secret makes it the account's.
pub async fn enroll_confirm(
    state: &AppState,
    challenge_token: &str,
    code: &str,
) -> ApiResult<Enrolled> {
    check_token_len(challenge_token)?;
    check_code_len(code)?;
    let l = load_challenge(state, challenge_token, &["enroll", "replace"], true).await?;
    let step = match &l.challenge.secret {
        Some(enc) => matching_step(&decrypt_secret(state, enc)?, code.trim(), -1),
        None => None,
    };
    let Some(step) = step else {
        tracing::info!(user_id = %l.user.id, "MFA enrollment code refused");
        return Err(ApiError::unauthorized(
            "Invalid code. Check your authenticator and try again.",
        ));
    };
    let (codes, hashes) = new_recovery_codes();
    let mut mfa = l.mfa;
    mfa.secret = l.challenge.secret.clone();
    mfa.last_step = step;
    mfa.recovery_hashes = hashes;
    mfa.login_challenge = None;
    mfa.manage_challenge = None;
    mfa.reset_ticket = None;
    mfa.reset_required = false;
    save(state, &l.user.id, mfa, true).await?;
    tracing::info!(user_id = %l.user.id, kind = %l.challenge.kind, "MFA authenticator enrolled");
    disconnect_sessions(state, &l.user.id).await;
    if l.challenge.kind == "replace" {
        return Ok(Enrolled::Replaced {
            recovery_codes: codes,
        });
    }
    let passed = pass(state, l.user, &l.challenge).await?;
    Ok(Enrolled::SignedIn {
        passed: Box::new(passed),
        recovery_codes: codes,
    })
}

/// The second step of a sign-in: a TOTP or recovery code.
pub async fn verify(
    state: &AppState,
    challenge_token: &str,
    code: &str,
    recovery: bool,
) -> ApiResult<Passed> {
    check_token_len(challenge_token)?;
    check_code_len(code)?;
    let l = load_challenge(state, challenge_token, &["verify"], true).await?;
    let mut mfa = l.mfa;
    if let Err(e) = consume_factor(state, &mut mfa, code, recovery) {
        tracing::info!(user_id = %l.user.id, "MFA code refused");
        return Err(e);
    }
    mfa.login_challenge = None;
    save(state, &l.user.id, mfa, false).await?;
    pass(state, l.user, &l.challenge).await
}

/// Shared checks of `replace` and `recovery/codes`: a fresh sign-in, the policy
/// on, the attempt budget, then one factor spent.
async fn manage(
    state: &AppState,
    caller: &Caller,
    code: &str,
    recovery: bool,
) -> ApiResult<(MfaAuth, MfaData)> {
    human_session(caller)?;
    check_code_len(code)?;
    let claims = caller.claims.clone().expect("checked above");
    if now_secs() - claims.auth_time.unwrap_or(0) > CHALLENGE_SECONDS {
        return Err(ApiError::forbidden(
            crate::frontend_texts::REAUTHENTICATION_REQUIRED,
        ));
    }
    if !mfa_enabled(state) {
        return Err(ApiError::forbidden("MFA is disabled."));
    }
    let auth = load_auth(state, caller.id()).await?;
    if auth.session_stamp != claims.session_stamp {
        return Err(ApiError::unauthorized(
            "Session expired. Please sign in again.",
        ));
    }
    let mut mfa = auth.mfa.clone();
    bump_limit(&mut mfa, "factor")?;
    save(state, &auth.id, mfa.clone(), false).await?;
    if let Err(e) = consume_factor(state, &mut mfa, code, recovery) {
        tracing::info!(user_id = %auth.id, "MFA code refused");
        return Err(e);
    }
    Ok((auth, mfa))
}

/// Starts replacing the authenticator: a `replace` challenge to enroll with.
pub async fn replace(
    state: &AppState,
    caller: &Caller,
    code: &str,
    recovery: bool,
) -> ApiResult<Value> {
    let (auth, mut mfa) = manage(state, caller, code, recovery).await?;
    let claims = caller.claims.clone().expect("session");
    let (token, challenge) = new_challenge(
        &auth,
        "replace",
        claims.auth_method.as_deref().unwrap_or("password"),
        claims.auth_time.unwrap_or_else(now_secs),
    );
    let body = challenge_json(&token, &challenge);
    mfa.manage_challenge = Some(challenge);
    save(state, &auth.id, mfa, false).await?;
    Ok(body)
}

/// A new set of recovery codes (the old ones stop working).
pub async fn regenerate_recovery_codes(
    state: &AppState,
    caller: &Caller,
    code: &str,
    recovery: bool,
) -> ApiResult<Vec<String>> {
    let (auth, mut mfa) = manage(state, caller, code, recovery).await?;
    let (codes, hashes) = new_recovery_codes();
    mfa.recovery_hashes = hashes;
    mfa.login_challenge = None;
    mfa.manage_challenge = None;
    mfa.reset_ticket = None;
    save(state, &auth.id, mfa, true).await?;
    tracing::info!(user_id = %auth.id, "MFA recovery codes regenerated");
    disconnect_sessions(state, &auth.id).await;
    Ok(codes)
}

/// An operator's reset token turns a `recover` challenge into a new enrollment.
pub async fn recover(
    state: &AppState,
    challenge_token: &str,
    reset_token: &str,
) -> ApiResult<Value> {
    check_token_len(challenge_token)?;
    check_token_len(reset_token)?;
    let l = load_challenge(state, challenge_token, &["recover"], true).await?;
    let mut mfa = l.mfa;
    let ok = mfa.reset_required
        && mfa.reset_ticket.as_ref().is_some_and(|t| {
            t.expires_at > now_secs() && ct_eq(&t.token_hash, &token_hash(reset_token))
        });
    if !ok {
        return Err(ApiError::unauthorized(
            "Invalid or expired operator recovery token.",
        ));
    }
    let (token, enroll) = new_challenge(
        &l.auth,
        "enroll",
        &l.challenge.auth_method,
        l.challenge.auth_time,
    );
    let body = challenge_json(&token, &enroll);
    mfa.reset_ticket = None;
    mfa.login_challenge = Some(enroll);
    save(state, &l.user.id, mfa, false).await?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fernet_reads_python_tokens_and_round_trips() {
        let key = derive_key("test-secret").unwrap();
        // Made by Python's `cryptography` Fernet with the same HKDF derivation.
        let py = "gAAAAABrBKCh0pUhYWH8CSaoAi8TiYQrjjBjZqn5kb3fvRqrG_AAzq5QZ9ZNDYauLi_3M9uDMF4m5lc3FMkNrLwzAQhhJn_j3XRr4BluIFRxYr9sHMYh1y4oAu05RG1AAeRXOud23IIp";
        assert_eq!(
            fernet_decrypt(&key, py).as_deref(),
            Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        );
        let other = derive_key("other-secret").unwrap();
        assert_eq!(fernet_decrypt(&other, py), None);
        let ours = fernet_encrypt(&key, "ABC", 1);
        assert_eq!(fernet_decrypt(&key, &ours).as_deref(), Some("ABC"));
        let mut tampered = URL_SAFE.decode(&ours).unwrap();
        tampered[30] ^= 1;
        assert_eq!(fernet_decrypt(&key, &URL_SAFE.encode(tampered)), None);
    }
}
