//! Evaluations: message feedback, the Elo leaderboard built from it, and
//! arena models (listed in `/api/models`, answered by one of their candidates).

mod common;

use common::mock_llm::MockLlm;
use common::{add_user, admin, TestServer};
use serde_json::{json, Value};

fn rating(model: &str, rating: Value, siblings: &[&str], tags: &[&str]) -> Value {
    json!({
        "type": "rating",
        "data": {"rating": rating, "model_id": model, "sibling_model_ids": siblings,
                 "reason": "", "comment": "", "tags": tags},
        "meta": {"arena": true, "chat_id": "c1", "message_id": "m1", "tags": tags},
        "snapshot": {"chat": {"id": "c1", "title": "t"}},
    })
}

#[tokio::test]
async fn feedback_crud_list_and_export() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let bea = add_user(&srv, &admin, "Bea").await;
    let cy = add_user(&srv, &admin, "Cy").await;

    let r = bea
        .post(
            "/api/v1/evaluations/feedback",
            json!({"type": "rating", "data": {"rating": 1, "model_id": "m-a", "reason": "Accurate"},
                   "meta": {"chat_id": "c1", "message_id": "m1"}, "snapshot": {"chat": {"id": "c1"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = r.body.clone();
    let id = f["id"].as_str().unwrap().to_string();
    assert_eq!(f["version"], 0);
    assert_eq!(f["data"]["rating"], 1);
    assert_eq!(f["data"]["sibling_model_ids"], Value::Null);
    assert_eq!(f["snapshot"]["chat"]["id"], "c1");
    assert_eq!(
        bea.post("/api/v1/evaluations/feedback", json!({"data": {}}))
            .await
            .status,
        422
    );

    // Own feedback only, for non-admins.
    assert_eq!(
        bea.get(&format!("/api/v1/evaluations/feedback/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        cy.get(&format!("/api/v1/evaluations/feedback/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        admin
            .get(&format!("/api/v1/evaluations/feedback/{id}"))
            .await
            .status,
        200
    );
    let r = cy
        .post(
            &format!("/api/v1/evaluations/feedback/{id}"),
            json!({"type": "rating", "data": {"rating": -1}}),
        )
        .await;
    assert_eq!(r.status, 404);

    let r = bea
        .post(
            &format!("/api/v1/evaluations/feedback/{id}"),
            json!({"type": "rating", "data": {"rating": -1, "model_id": "m-a", "comment": "wrong"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["rating"], -1);
    assert_eq!(r.body["data"]["comment"], "wrong");
    // Parts the update leaves out stay.
    assert_eq!(r.body["meta"]["chat_id"], "c1");

    cy.post(
        "/api/v1/evaluations/feedback",
        rating("m-b", json!(1), &[], &[]),
    )
    .await;
    // Admin views: list with users, model ids, export, ids.
    assert_eq!(
        bea.get("/api/v1/evaluations/feedbacks/list").await.status,
        401
    );
    let list = admin.get("/api/v1/evaluations/feedbacks/list").await.body;
    assert_eq!(list["total"], 2);
    assert!(list["items"][0].get("snapshot").is_none());
    let by_model = admin
        .get("/api/v1/evaluations/feedbacks/list?model_id=m-a")
        .await
        .body;
    assert_eq!(by_model["total"], 1);
    assert_eq!(by_model["items"][0]["user"]["email"], "bea@example.com");
    assert_eq!(
        admin.get("/api/v1/evaluations/feedbacks/models").await.body,
        json!(["m-a", "m-b"])
    );
    let export = admin
        .get("/api/v1/evaluations/feedbacks/all/export?model_id=m-b")
        .await
        .body;
    assert_eq!(export.as_array().unwrap().len(), 1);
    assert_eq!(export[0]["snapshot"]["chat"]["title"], "t");
    assert_eq!(
        admin
            .get("/api/v1/evaluations/feedbacks/all/ids")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let mine = bea.get("/api/v1/evaluations/feedbacks/user").await.body;
    assert_eq!(mine["total"], 1);

    // Delete: own one, then a user's all, then everything.
    assert_eq!(
        cy.delete(&format!("/api/v1/evaluations/feedback/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        bea.delete(&format!("/api/v1/evaluations/feedback/{id}"))
            .await
            .body,
        true
    );
    assert_eq!(
        bea.get(&format!("/api/v1/evaluations/feedback/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(cy.delete("/api/v1/evaluations/feedbacks").await.body, true);
    assert_eq!(
        admin.get("/api/v1/evaluations/feedbacks/list").await.body["total"],
        0
    );
    bea.post(
        "/api/v1/evaluations/feedback",
        rating("m-c", json!(1), &[], &[]),
    )
    .await;
    assert_eq!(
        admin.delete("/api/v1/evaluations/feedbacks/all").await.body,
        true
    );
    assert_eq!(
        admin
            .get("/api/v1/evaluations/feedbacks/all/export")
            .await
            .body,
        json!([])
    );
    srv.stop().await;
}

#[tokio::test]
async fn leaderboard_ranks_by_elo() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let empty = admin.get("/api/v1/evaluations/leaderboard").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"entries": []}));

    // "strong" beats everyone, "weak" loses everything.
    for fb in [
        rating("strong", json!(1), &["mid", "weak"], &["code"]),
        rating("strong", json!("1"), &["mid"], &["code", "math"]),
        rating("mid", json!(1), &["weak"], &["poetry"]),
        rating("weak", json!(-1), &["strong"], &["poetry"]),
        rating("mid", json!(0), &["weak"], &[]),
    ] {
        let r = admin.post("/api/v1/evaluations/feedback", fb).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let board = admin.get("/api/v1/evaluations/leaderboard").await.body;
    let entries = board["entries"].as_array().unwrap();
    let order: Vec<&str> = entries
        .iter()
        .map(|e| e["model_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec!["strong", "mid", "weak"]);
    let strong = &entries[0];
    assert_eq!(
        (strong["won"].clone(), strong["lost"].clone()),
        (json!(4), json!(0))
    );
    assert_eq!(strong["count"], 4);
    assert!(strong["rating"].as_i64().unwrap() > 1040);
    assert_eq!(strong["top_tags"][0], json!({"tag": "code", "count": 2}));
    let weak = &entries[2];
    assert_eq!(
        (weak["won"].clone(), weak["lost"].clone()),
        (json!(0), json!(3))
    );
    let sum: i64 = entries.iter().map(|e| e["rating"].as_i64().unwrap()).sum();
    assert!((2999..=3001).contains(&sum), "Elo is zero-sum: {sum}");

    // A topic query only moves ratings with the matching ratings.
    let poetry = admin
        .get("/api/v1/evaluations/leaderboard?query=poetry")
        .await
        .body;
    let mid = poetry["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["model_id"] == "mid")
        .unwrap()
        .clone();
    assert!(mid["rating"].as_i64().unwrap() > 1000, "{poetry}");

    let hist = admin
        .get("/api/v1/evaluations/leaderboard/strong/history?days=7")
        .await;
    assert_eq!(hist.status, 200, "{}", hist.body);
    assert_eq!(hist.body["model_id"], "strong");
    let days = hist.body["history"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6]["won"], 2);
    assert_eq!(
        add_user(&srv, &admin, "Bea")
            .await
            .get("/api/v1/evaluations/leaderboard")
            .await
            .status,
        401
    );
    srv.stop().await;
}

#[tokio::test]
async fn arena_model_is_listed_and_answered_by_a_candidate() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let mock = MockLlm::openai(&["mock-a", "mock-b", "mock-c"]).await;
    let r = admin
        .post(
            "/openai/config/update",
            json!({"ENABLE_OPENAI_API": true, "OPENAI_API_BASE_URLS": [mock.url],
                   "OPENAI_API_KEYS": ["sk-test"], "OPENAI_API_CONFIGS": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let cfg = admin.get("/api/v1/evaluations/config").await.body;
    assert_eq!(
        cfg,
        json!({"ENABLE_EVALUATION_ARENA_MODELS": false, "EVALUATION_ARENA_MODELS": []})
    );
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!ids(&admin.get("/api/models").await.body).contains(&"duel".to_string()));

    let arena = json!({"id": "duel", "name": "Duel",
                       "meta": {"profile_image_url": "/favicon.png", "description": "Blind test",
                                "model_ids": ["mock-a", "mock-b"], "access_grants": []}});
    let r = admin
        .post(
            "/api/v1/evaluations/config",
            json!({"ENABLE_EVALUATION_ARENA_MODELS": true, "EVALUATION_ARENA_MODELS": [arena]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ENABLE_EVALUATION_ARENA_MODELS"], true);
    assert_eq!(r.body["EVALUATION_ARENA_MODELS"][0]["id"], "duel");
    let r = admin
        .post(
            "/api/v1/evaluations/config",
            json!({"EVALUATION_ARENA_MODELS": "nope"}),
        )
        .await;
    assert_eq!(r.status, 422);

    let models = admin.get("/api/models").await.body;
    let duel = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "duel")
        .unwrap_or_else(|| panic!("arena model missing: {models}"));
    assert_eq!(duel["owned_by"], "arena");
    assert_eq!(duel["arena"], true);
    assert_eq!(duel["name"], "Duel");

    let mut picked = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let r = admin
            .post(
                "/api/chat/completions",
                json!({"model": "duel", "stream": false,
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("mock"));
    }
    for seen in mock.chat_requests() {
        picked.insert(seen.body["model"].as_str().unwrap().to_string());
    }
    assert!(!picked.is_empty());
    assert!(
        picked.iter().all(|m| m == "mock-a" || m == "mock-b"),
        "answered by {picked:?}"
    );
    srv.stop().await;
}
