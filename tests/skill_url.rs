//! Loading skills from a web address (`POST /api/v1/skills/load/url`): a
//! raw SKILL.md, a ZIP of skill folders reached through a redirect (other
//! files of the archive passed over), refusals for web pages, dead links,
//! addresses that are not http(s), plain users, and the private-address
//! guard when local fetching is off.

mod common;

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use common::{add_user, admin, TestServer};
use serde_json::json;

async fn site() -> String {
    let bundle = common::zip_of(&[
        ("repo-main/README.md", b"Not a skill."),
        (
            "repo-main/skills/knots/SKILL.md",
            b"---\nname: knots\ndescription: Tying.\n---\nBowline.",
        ),
        ("repo-main/skills/knots/refs/hitch.md", b"Clove.\n"),
        (
            "repo-main/skills/sails/SKILL.md",
            b"---\nname: sails\n---\nReef.",
        ),
    ]);
    let app = Router::new()
        .route(
            "/raw/SKILL.md",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                    "---\nname: tides\ndescription: When the sea comes.\n---\nTwice a day.",
                )
            }),
        )
        .route(
            "/bundle.zip",
            get(move || {
                let b = bundle.clone();
                async move { ([(header::CONTENT_TYPE, "application/zip")], b).into_response() }
            }),
        )
        .route(
            "/latest",
            get(|| async { Redirect::temporary("/bundle.zip") }),
        )
        .route(
            "/page",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>a page</html>") }),
        );
    common::serve(app).await
}

async fn load(c: &common::Client, url: String) -> common::Resp {
    c.post("/api/v1/skills/load/url", json!({"url": url})).await
}

#[tokio::test]
async fn skills_load_from_a_link() {
    let base = site().await;
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;

    // Local addresses are refused while local fetching is off.
    let r = load(&admin, format!("{base}/raw/SKILL.md")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("ENABLE_LOCAL_WEB_FETCH"));

    std::env::set_var("ENABLE_LOCAL_WEB_FETCH", "true");
    let r = load(&admin, format!("{base}/raw/SKILL.md")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[0]["id"], "tides");
    assert_eq!(r.body[0]["description"], "When the sea comes.");
    assert_eq!(r.body[0]["files"][0]["path"], "SKILL.md");
    assert!(r.body[0]["files"][0]["content"]
        .as_str()
        .unwrap()
        .ends_with("Twice a day."));

    // A redirect to an archive: every folder with a SKILL.md, the rest passed over.
    let r = load(&admin, format!("{base}/latest")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["knots", "sails"]);
    let paths: Vec<&str> = r.body[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["SKILL.md", "refs/hitch.md"]);

    for bad in [
        format!("{base}/page"),
        format!("{base}/missing.zip"),
        "ftp://example.com/skills.zip".to_string(),
        "https://github.com/only-owner".to_string(),
    ] {
        let r = load(&admin, bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body["detail"].is_string(), "{bad}: {}", r.body);
    }

    let plain = add_user(&srv, &admin, "deckhand").await;
    let r = plain
        .post(
            "/api/v1/skills/load/url",
            json!({"url": format!("{base}/raw/SKILL.md")}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    std::env::remove_var("ENABLE_LOCAL_WEB_FETCH");
}
