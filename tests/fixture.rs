//! A data folder written by Python Open WebUI 0.12.4 opens unchanged: its users
//! sign in with their old passwords, old tokens and API keys work, counts match.

mod common;

use common::{copy_dir, fixture_dir, settings_for, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

const ALICE_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImQ1MjU1Y2UzLTE3MTYtNDA1ZC1iNjhlLTEzYmRhZTA3MjQ2ZSIsInR5cCI6InNlc3Npb24iLCJhdXRoX21ldGhvZCI6InBhc3N3b3JkIiwiYXV0aF90aW1lIjoxNzk1MzQzOTA3LCJzZXNzaW9uX3N0YW1wIjoiODY3ODg5ODUtNGQ2OS00MTIxLWJkYmUtMTZiZTlhZGYxYTM5IiwibWZhX3ZlcmlmaWVkIjpmYWxzZSwiZXhwIjoxNzk3NzYzMTA3LCJqdGkiOiJkYjNkN2IxOC1lN2JiLTRjMDQtYTY4Yi01MzQ1YjZlZGFkNTciLCJpYXQiOjE3OTUzNDM5MDd9.ilHthNL1it2sZyu-U0khelsHiHa18wT-OKzc9sFv0lg";
const ALICE_KEY: &str = "sk-6c1a376468654346bbdf79d9c70460ed";

async fn start_on_copy() -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("webui_secret_key.txt")).unwrap();
    let srv = TestServer::start(settings_for(tmp.path(), Some(&secret))).await;
    (srv, tmp)
}

fn len(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(usize::MAX)
}

#[tokio::test]
async fn python_data_folder_opens_and_users_sign_in() {
    let (srv, tmp) = start_on_copy().await;
    let c = srv.client();

    for (email, pw, role) in [
        ("admin@example.com", "Admin-pass-1", "admin"),
        ("alice@example.com", "Alice-pass-1", "user"),
        ("bob@example.com", "Bob-pass-1", "pending"),
    ] {
        let r = c.signin(email, pw).await;
        assert_eq!(r.status, 200, "{email}: {}", r.body);
        assert_eq!(r.body["role"], role);
        assert_eq!(
            c.signin(email, "wrong").await.status,
            StatusCode::BAD_REQUEST
        );
    }

    let admin = c.login("admin@example.com", "Admin-pass-1").await;
    let alice = c.login("alice@example.com", "Alice-pass-1").await;
    let bob = c.login("bob@example.com", "Bob-pass-1").await;

    // Pending bob: session yes, chats no.
    assert_eq!(bob.get("/api/v1/auths/").await.status, 200);
    assert_eq!(
        bob.get("/api/v1/chats/").await.status,
        StatusCode::UNAUTHORIZED
    );

    // The token the Python server issued, and alice's API key.
    let old = c.with_token(ALICE_JWT);
    let s = old.get("/api/v1/auths/").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["email"], "alice@example.com");
    let key = c.with_token(ALICE_KEY);
    assert_eq!(key.get("/api/v1/chats/list").await.status, 200);
    let human = key.get("/api/v1/auths/").await;
    assert_eq!(human.status, StatusCode::FORBIDDEN);
    assert_eq!(human.body["detail"], "A human session is required.");
    // Alice may use keys only through her group's permission: the effective
    // permissions must include it.
    assert_eq!(s.body["permissions"]["features"]["api_keys"], true);
    assert_eq!(s.body["permissions"]["workspace"]["prompts"], true);

    for user in [&admin, &alice] {
        assert_eq!(len(&user.get("/api/v1/chats/").await.body), 1);
        assert_eq!(
            len(&user
                .get("/api/v1/chats/list?include_pinned=true&include_folders=true")
                .await
                .body),
            4
        );
        assert_eq!(len(&user.get("/api/v1/chats/pinned").await.body), 1);
        assert_eq!(user.get("/api/v1/chats/archived/count").await.body, 1);
        assert_eq!(len(&user.get("/api/v1/folders/").await.body), 2);
    }
    assert_eq!(len(&admin.get("/api/v1/chats/all/tags").await.body), 5);
    assert_eq!(len(&alice.get("/api/v1/chats/all/tags").await.body), 6);

    // Settings the frontend saved come back as they were.
    let settings = admin.get("/api/v1/users/user/settings").await.body;
    assert_eq!(settings["ui"]["theme"], "dark");
    assert_eq!(settings["ui"]["version"], "0.12.4");

    // Admin configuration from the table.
    let cfg = c.get("/api/config").await.body;
    assert!(cfg.get("onboarding").is_none());
    assert_eq!(cfg["features"]["enable_signup"], false);
    let cfg = admin.get("/api/config").await.body;
    assert_eq!(cfg["features"]["enable_api_keys"], true);
    assert_eq!(cfg["default_models"], "mock-gpt");
    let banners = admin.get("/api/v1/configs/banners").await.body;
    assert_eq!(banners[0]["id"], "banner-maintenance-1");
    assert_eq!(
        c.signup("Eve", "eve@example.com", "pw").await.status,
        StatusCode::FORBIDDEN
    );

    srv.stop().await;

    // Nothing that the Python server could not read back: same alembic head,
    // same row counts, no tables added.
    let db = rusqlite::Connection::open(tmp.path().join("webui.db")).unwrap();
    let rev: String = db
        .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rev, "0bd252b206fb");
    for (table, n) in [
        ("user", 3),
        ("auth", 3),
        ("chat", 10),
        ("config", 408),
        ("api_key", 1),
        ("tag", 11),
    ] {
        let got: i64 = db
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(got, n, "{table}");
    }
    let tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 48);
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
