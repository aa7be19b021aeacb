//! A model's call avatar is checked on every way in: saving a model and
//! importing one refuse a file that is not a VRM avatar or that the caller
//! cannot read, and nothing is stored when they do.

mod common;
#[path = "data/support.rs"]
mod support;

use common::TestServer;
use serde_json::{json, Value};

fn model(id: &str, avatar_file: &str) -> Value {
    json!({
        "id": id, "base_model_id": null, "name": "Harbour pilot",
        "meta": {"voice_avatar": {"file_id": avatar_file}}, "params": {},
    })
}

#[tokio::test]
async fn broken_or_unreadable_avatars_are_refused_on_create_and_import() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    // PNG bytes under a .vrm name: stored, but not an avatar.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x08\0\0\0\x08\x08\x02\0\0\0";
    let r = support::upload(
        &admin,
        "broken.vrm",
        "application/octet-stream",
        png,
        None,
        "?process=false",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let broken = r.body["id"].as_str().unwrap().to_string();

    let created = admin
        .post("/api/v1/models/create", model("made-broken", &broken))
        .await;
    assert_eq!(created.status, 400, "{}", created.body);
    assert_eq!(created.body["detail"], "Upload a binary VRM file.");

    for (id, file, status) in [
        ("imported-broken", broken.as_str(), 400),
        (
            "imported-missing",
            "00000000-0000-4000-8000-000000000000",
            403,
        ),
    ] {
        let r = admin
            .post(
                "/api/v1/models/import",
                json!({"models": [model(id, file)]}),
            )
            .await;
        assert_eq!(r.status, status, "{id}: {}", r.body);
        let found = admin.get(&format!("/api/v1/models/model?id={id}")).await;
        assert_eq!(found.status, 404, "{id} was stored: {}", found.body);
    }
}
