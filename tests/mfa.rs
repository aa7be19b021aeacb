//! Authenticator-app second factor: policy switch, enrollment during sign-in,
//! verification, recovery codes, account management, over real HTTP.

mod common;

use common::{Client, TestServer};
use open_webui::auth::mfa::totp_at;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn now_step() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 30
}

#[test]
fn totp_matches_rfc6238_vector() {
    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890": T=59 s gives 94287082.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    assert_eq!(totp_at(secret, 1).as_deref(), Some("287082"));
    // T=1111111109 gives 07081804.
    assert_eq!(totp_at(secret, 1111111109 / 30).as_deref(), Some("081804"));
}

/// Signs up the admin, adds `users` (name, email, role; password "Passw0rd!x"), then
/// switches the MFA policy on. Sessions opened before that stop working.
async fn admin_with_mfa(srv: &TestServer, users: &[(&str, &str, &str)]) -> Client {
    let anon = srv.client();
    let r = anon
        .signup("Admin", "admin@example.com", "Passw0rd!x")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin = anon.with_token(r.body["token"].as_str().unwrap());
    for (name, email, role) in users {
        let r = admin
            .post(
                "/api/v1/auths/add",
                json!({"name": name, "email": email, "password": "Passw0rd!x", "role": role}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut cfg = admin.get("/api/v1/auths/admin/config").await.body;
    cfg["ENABLE_MFA"] = json!(true);
    let r = admin.post("/api/v1/auths/admin/config", cfg).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ENABLE_MFA"], true);
    // The admin's own session never passed a second step: it no longer counts.
    assert_eq!(admin.get("/api/v1/auths/").await.status, 401);
    admin
}

/// Signs in with a password and returns the challenge answer.
async fn password_step(c: &Client, email: &str) -> Value {
    let r = c.signin(email, "Passw0rd!x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.get("token").is_none(),
        "no session before MFA: {}",
        r.body
    );
    r.body
}

/// A code for `secret` at a step after the one the server last accepted.
fn code_at(secret: &str, step: i64) -> String {
    totp_at(secret, step).unwrap()
}

#[tokio::test]
async fn enroll_verify_and_recovery_codes() {
    let srv = TestServer::fresh().await;
    let _admin = admin_with_mfa(&srv, &[("Ann", "ann@example.com", "user")]).await;
    let anon = srv.client();

    // First sign-in under the policy: enrollment.
    let ch = password_step(&anon, "ann@example.com").await;
    assert_eq!(ch["next_step"], "enroll");
    assert!(ch["expires_in"].as_i64().unwrap() > 250);
    let token = ch["challenge_token"].as_str().unwrap().to_string();

    let setup = anon
        .post(
            "/api/v1/auths/mfa/enroll/start",
            json!({"challenge_token": token}),
        )
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    let secret = setup.body["manual_key"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32);
    assert!(setup.body["qr_code"]
        .as_str()
        .unwrap()
        .starts_with("data:image/svg+xml;base64,"));
    // Asking again returns the same pending secret.
    let again = anon
        .post(
            "/api/v1/auths/mfa/enroll/start",
            json!({"challenge_token": token}),
        )
        .await;
    assert_eq!(again.body["manual_key"], secret.as_str());

    // The secret is stored encrypted, not in clear.
    let stored: String = {
        let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
        db.query_row(
            "SELECT mfa FROM auth WHERE email = 'ann@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(!stored.contains(&secret), "{stored}");

    let wrong = anon
        .post(
            "/api/v1/auths/mfa/enroll/confirm",
            json!({"challenge_token": token, "code": "000000x"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body["detail"],
        "Invalid code. Check your authenticator and try again."
    );

    let step = now_step();
    let done = anon
        .post(
            "/api/v1/auths/mfa/enroll/confirm",
            json!({"challenge_token": token, "code": code_at(&secret, step)}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["email"], "ann@example.com");
    assert_eq!(done.body["token_type"], "Bearer");
    let codes: Vec<String> = done.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let ann = anon.with_token(done.body["token"].as_str().unwrap());
    let st = ann.get("/api/v1/auths/mfa/status").await;
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(
        st.body,
        json!({"enabled": true, "required": true, "recovery_codes_remaining": 10})
    );
    // The used challenge is gone.
    let reuse = anon
        .post(
            "/api/v1/auths/mfa/enroll/start",
            json!({"challenge_token": token}),
        )
        .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);

    // Next sign-in: verification. A wrong code is refused, a fresh one accepted.
    let ch = password_step(&anon, "ann@example.com").await;
    assert_eq!(ch["next_step"], "verify");
    let token = ch["challenge_token"].as_str().unwrap().to_string();
    let bad = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": "123456"}),
        )
        .await;
    // 123456 could be the real code once in a million; the next check would then differ.
    if bad.status == 200 {
        panic!("an arbitrary code was accepted");
    }
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.body["detail"], "Invalid or already used code.");
    // The code used at enrollment cannot be replayed.
    let replay = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": code_at(&secret, step)}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let ok = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": code_at(&secret, step + 1)}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let session = anon.with_token(ok.body["token"].as_str().unwrap());
    assert_eq!(session.get("/api/v1/auths/").await.status, 200);

    // A recovery code works once.
    let ch = password_step(&anon, "ann@example.com").await;
    let token = ch["challenge_token"].as_str().unwrap().to_string();
    let rec = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": codes[0].to_uppercase(), "recovery": true}),
        )
        .await;
    assert_eq!(rec.status, 200, "{}", rec.body);
    let ch = password_step(&anon, "ann@example.com").await;
    let token = ch["challenge_token"].as_str().unwrap().to_string();
    let rec2 = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": codes[0], "recovery": true}),
        )
        .await;
    assert_eq!(rec2.status, StatusCode::UNAUTHORIZED);
    let me = anon.with_token(rec.body["token"].as_str().unwrap());
    let st = me.get("/api/v1/auths/mfa/status").await;
    assert_eq!(st.body["recovery_codes_remaining"], 9);

    // Regenerating codes (with a recovery code as the factor) replaces the set and
    // signs out existing sessions.
    let regen = me
        .post(
            "/api/v1/auths/mfa/recovery/codes",
            json!({"code": codes[1], "recovery": true}),
        )
        .await;
    assert_eq!(regen.status, 200, "{}", regen.body);
    let fresh = regen.body["recovery_codes"].as_array().unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(!fresh.contains(&json!(codes[2])));
    assert_eq!(
        me.get("/api/v1/auths/").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Ten factor attempts per 15 minutes: this was the eighth; the
    // verify below is the ninth, a wrong code the tenth, then 429.
    let ch = password_step(&anon, "ann@example.com").await;
    let token = ch["challenge_token"].as_str().unwrap().to_string();
    let v = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": fresh[0], "recovery": true}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    let v = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": fresh[1], "recovery": true}),
        )
        .await;
    assert_eq!(v.status, StatusCode::UNAUTHORIZED, "challenge used up");
    let ch = password_step(&anon, "ann@example.com").await;
    let token = ch["challenge_token"].as_str().unwrap().to_string();
    let v = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": "not-a-code", "recovery": true}),
        )
        .await;
    assert_eq!(
        v.status,
        StatusCode::UNAUTHORIZED,
        "tenth attempt still counted"
    );
    let v = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": fresh[1], "recovery": true}),
        )
        .await;
    assert_eq!(v.status, StatusCode::TOO_MANY_REQUESTS, "{}", v.body);
    assert_eq!(
        v.body["detail"],
        "Too many attempts. Please try again later."
    );

    srv.stop().await;
}

#[tokio::test]
async fn replace_authenticator() {
    let srv = TestServer::fresh().await;
    let _admin = admin_with_mfa(&srv, &[("Bob", "bob@example.com", "user")]).await;
    let anon = srv.client();
    let ch = password_step(&anon, "bob@example.com").await;
    let token = ch["challenge_token"].as_str().unwrap().to_string();
    let setup = anon
        .post(
            "/api/v1/auths/mfa/enroll/start",
            json!({"challenge_token": token}),
        )
        .await;
    let secret = setup.body["manual_key"].as_str().unwrap().to_string();
    let v = anon
        .post(
            "/api/v1/auths/mfa/enroll/confirm",
            json!({"challenge_token": token, "code": code_at(&secret, now_step())}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    let fresh = v.body["recovery_codes"].as_array().unwrap().clone();
    let me = anon.with_token(v.body["token"].as_str().unwrap());

    // Replacing the authenticator: a fresh session and a factor give an enroll step.
    let rep = me
        .post(
            "/api/v1/auths/mfa/replace",
            json!({"code": fresh[1], "recovery": true}),
        )
        .await;
    assert_eq!(rep.status, 200, "{}", rep.body);
    assert_eq!(rep.body["next_step"], "enroll");
    let rtoken = rep.body["challenge_token"].as_str().unwrap().to_string();
    let setup = anon
        .post(
            "/api/v1/auths/mfa/enroll/start",
            json!({"challenge_token": rtoken}),
        )
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    let secret2 = setup.body["manual_key"].as_str().unwrap().to_string();
    assert_ne!(secret2, secret);
    // Until confirmed, the old authenticator stays.
    let st = me.get("/api/v1/auths/mfa/status").await;
    assert_eq!(st.body["enabled"], true);
    let conf = anon
        .post(
            "/api/v1/auths/mfa/enroll/confirm",
            json!({"challenge_token": rtoken, "code": code_at(&secret2, now_step())}),
        )
        .await;
    assert_eq!(conf.status, 200, "{}", conf.body);
    assert!(conf.body.get("token").is_none(), "replace gives codes only");
    assert_eq!(conf.body["recovery_codes"].as_array().unwrap().len(), 10);
    // The old sessions are signed out; the new secret now verifies sign-in.
    assert_eq!(
        me.get("/api/v1/auths/").await.status,
        StatusCode::UNAUTHORIZED
    );
    let ch = password_step(&anon, "bob@example.com").await;
    let token = ch["challenge_token"].as_str().unwrap().to_string();
    let v = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": token, "code": code_at(&secret2, now_step() + 1)}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);

    srv.stop().await;
}

#[tokio::test]
async fn policy_off_and_bad_input() {
    let srv = TestServer::fresh().await;
    let anon = srv.client();
    let r = anon
        .signup("Admin", "admin@example.com", "Passw0rd!x")
        .await;
    let admin = anon.with_token(r.body["token"].as_str().unwrap());

    // Policy off: plain sessions, status says not required.
    let st = admin.get("/api/v1/auths/mfa/status").await;
    assert_eq!(
        st.body,
        json!({"enabled": false, "required": false, "recovery_codes_remaining": 0})
    );
    assert_eq!(st.headers["cache-control"], "no-store");
    assert!(anon
        .signin("admin@example.com", "Passw0rd!x")
        .await
        .body
        .get("token")
        .is_some());
    let m = admin
        .post(
            "/api/v1/auths/mfa/recovery/codes",
            json!({"code": "123456"}),
        )
        .await;
    assert_eq!(m.status, StatusCode::FORBIDDEN);
    assert_eq!(m.body["detail"], "MFA is disabled.");

    // Unknown or malformed challenge tokens.
    let r = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": "nobody.aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "code": "123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = anon
        .post(
            "/api/v1/auths/mfa/verify",
            json!({"challenge_token": "short", "code": "123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["detail"], "Invalid authentication request.");
    // Unknown fields and missing ones get the same generic answer.
    for body in [
        json!({"challenge_token": "x.aaaaaaaaaaaaaaaaaaaaaaaaa", "code": "1", "extra": 1}),
        json!({"code": "123456"}),
    ] {
        let r = anon.post("/api/v1/auths/mfa/verify", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["detail"], "Invalid authentication request.");
        assert_eq!(r.headers["cache-control"], "no-store");
    }
    let st = anon.get("/api/v1/auths/mfa/status").await;
    assert_eq!(st.status, 401);
    assert_eq!(st.headers["cache-control"], "no-store");

    // The cookie bootstrap refuses foreign origins and answers 401 without a cookie.
    let http = reqwest::Client::new();
    let r = http
        .post(srv.url("/api/v1/auths/mfa/challenge"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(srv.url("/api/v1/auths/mfa/challenge"))
        .header("origin", srv.url("").trim_end_matches('/'))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    srv.stop().await;
}

#[tokio::test]
async fn password_attempts_are_budgeted_under_the_policy() {
    let srv = TestServer::fresh().await;
    let _admin = admin_with_mfa(
        &srv,
        &[
            ("Cy", "cy@example.com", "user"),
            ("Pat", "pat@example.com", "pending"),
        ],
    )
    .await;
    let anon = srv.client();
    for _ in 0..10 {
        let r = anon.signin("cy@example.com", "wrong-password").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    // The eleventh attempt is refused even with the right password.
    let r = anon.signin("cy@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(
        r.body["detail"],
        "Too many attempts. Please try again later."
    );
    // An account awaiting approval gets no session and no challenge.
    let r = anon.signin("pat@example.com", "Passw0rd!x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"next_step": "pending"}));
    // Other accounts are not affected.
    let r = anon.signin("admin@example.com", "Passw0rd!x").await;
    assert_eq!(r.body["next_step"], "enroll");

    srv.stop().await;
}
