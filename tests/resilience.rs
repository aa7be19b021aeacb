//! Panic isolation and pool hygiene: a fault inside one request fails that
//! request and leaves every shared resource usable.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn panics_in_database_closures_fail_one_call_and_nothing_else() {
    let t = TestServer::fresh().await;
    let c = common::admin(&t).await;
    let db = t.state.clone().unwrap().db.clone();

    // More panicking reads than there are reader connections: before, each one
    // lost a connection for good and the fifth request hung or failed.
    for i in 0..12 {
        let r: anyhow::Result<i64> = db
            .read(move |_| -> rusqlite::Result<i64> { panic!("injected read panic {i}") })
            .await;
        let e = r.expect_err("a panicking read is an error");
        assert!(e.to_string().contains("panicked"), "{e}");
    }
    // A write that inserts and then panics: the error comes back, the
    // transaction is rolled back, the writer keeps working.
    for _ in 0..3 {
        let r: anyhow::Result<()> = db
            .write(|tx| {
                tx.execute(
                    "INSERT INTO tag (id, name, user_id, meta) VALUES ('ghost', 'ghost', 'u', '{}')",
                    [],
                )?;
                panic!("injected write panic")
            })
            .await;
        assert!(r.is_err());
    }
    let ghosts: i64 = db
        .read(|c| {
            c.query_row("SELECT count(*) FROM tag WHERE id = 'ghost'", [], |r| {
                r.get(0)
            })
        })
        .await
        .unwrap();
    assert_eq!(ghosts, 0, "the panicked transaction was rolled back");

    // The server still serves: 1,000 requests, reads and writes, all fine.
    let token = c.token.clone();
    let mut failures = 0;
    for i in 0..1000 {
        let r = match i % 4 {
            0 => c.get("/api/v1/auths/").await,
            1 => c.get("/health/db").await,
            2 => c.get("/api/v1/chats/?page=1").await,
            _ => {
                c.post(
                    "/api/v1/chats/new",
                    json!({"chat": {"title": format!("after panic {i}")}}),
                )
                .await
            }
        };
        if r.status != 200 {
            failures += 1;
        }
    }
    assert_eq!(failures, 0);
    // Sign-in (a read and a write) works too.
    let again = t
        .client()
        .signin(common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body["token"].as_str().is_some_and(|t| !t.is_empty()));
    drop(token);
    t.stop().await;
}

#[tokio::test]
async fn abandoned_reads_do_not_drain_the_reader_pool() {
    let t = TestServer::fresh().await;
    let db = t.state.clone().unwrap().db.clone();
    // Callers that give up while their closure still runs: the slot must stay
    // taken until the connection is back, or the next caller finds none.
    for _ in 0..3 {
        let mut handles = Vec::new();
        for _ in 0..8 {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_millis(20),
                    db.read(|c| {
                        std::thread::sleep(Duration::from_millis(150));
                        c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                    }),
                )
                .await;
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        // Immediately after the callers gave up, while their closures still run.
        for _ in 0..8 {
            let v = db
                .read(|c| c.query_row("SELECT 2", [], |r| r.get::<_, i64>(0)))
                .await
                .expect("a reader is available");
            assert_eq!(v, 2);
        }
    }
    t.stop().await;
}

#[tokio::test]
async fn search_over_text_whose_lowercase_changes_length() {
    let t = TestServer::fresh().await;
    let c = common::admin(&t).await;
    // U+212A KELVIN SIGN lowers to 1 byte, U+0130 to 3: mixed 1:2 the lowered
    // text keeps its length, yet
    // every byte offset inside it is shifted against the original.
    let nasty = "\u{212A}\u{0130}\u{0130}".repeat(40);
    let content = format!("{nasty} find me here {nasty}");
    let r = c
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": nasty, "messages": [{"id": "m1", "role": "user", "content": content}],
                "history": {"currentId": "m1", "messages": {"m1": {"id": "m1", "parentId": null,
                "childrenIds": [], "role": "user", "content": content}}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for q in ["i", "k", "here", "\u{0130}", "\u{212A}"] {
        for _ in 0..6 {
            let r = c
                .get(&format!("/api/v1/search?q={}", common::urlencode(q)))
                .await;
            assert_eq!(r.status, 200, "q={q}: {}", r.body);
        }
    }
    let r = c.get("/api/v1/search?q=here").await;
    let items = r.body["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "{}", r.body);
    assert!(
        items[0]["snippet"].as_str().unwrap_or("").contains("here"),
        "{}",
        r.body
    );
    assert_eq!(c.get("/health/db").await.status, 200);
    let again = t
        .client()
        .signin(common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    assert_eq!(again.status, 200);
    t.stop().await;
}

#[tokio::test]
async fn like_wildcards_in_searches_match_literally() {
    let t = TestServer::fresh().await;
    let c = common::admin(&t).await;
    for title in [
        "done 100% today",
        "done 1000 today",
        "snake_case",
        "snakeXcase",
    ] {
        let r = c
            .post("/api/v1/chats/new", json!({"chat": {"title": title}}))
            .await;
        assert_eq!(r.status, 200);
    }
    let titles = |r: common::Resp| -> Vec<String> {
        let list = if r.body.is_array() {
            r.body.clone()
        } else {
            r.body["items"].clone()
        };
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["title"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // Punctuation-only queries have no word terms: only the phrase matches.
    let r = c.get("/api/v1/chats/search?text=%25").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(titles(r), vec!["done 100% today"]);
    let r = c.get("/api/v1/chats/search?text=_").await;
    assert_eq!(titles(r), vec!["snake_case"]);
    let r = c.get("/api/v1/chats/?page=1").await;
    assert_eq!(r.status, 200);
    // Users: an underscore is not "any character".
    let r = c.get("/api/v1/users/search?query=_").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let users = r.body["users"].as_array().cloned().unwrap_or_default();
    assert!(users.is_empty(), "{}", r.body);
    t.stop().await;
}
