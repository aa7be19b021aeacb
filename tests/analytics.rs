//! The analytics drill-downs through the real wire: messages by chat, model
//! and user, the chats a model answered in, and a model's overview.

mod common;

use common::{Client, TestServer};
use serde_json::{json, Value};

async fn new_chat(c: &Client, title: &str) -> String {
    let r = c
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": title, "models": ["m"], "history": {"currentId": null, "messages": {}},
                            "messages": [], "tags": []}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// Stores a message row as the chat pipeline would.
async fn message(srv: &TestServer, chat: &str, user: &str, model: &str, at: i64) {
    let state = srv.state.clone().unwrap();
    let (chat, user, model) = (chat.to_string(), user.to_string(), model.to_string());
    state
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO chat_message (id, chat_id, user_id, role, model_id, content, usage, done, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, 'assistant', ?4, '\"hi\"', NULL, 1, ?5, ?5)",
                rusqlite::params![format!("{chat}-{at}"), chat, user, model, at],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn messages_chats_and_overview_of_a_model() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (bea, bea_id) = common::add_user_with_role(&srv, &admin, "Bea", "user").await;
    let admin_id = admin.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let alpha = new_chat(&admin, "Alpha").await;
    let beta = new_chat(&bea, "Beta").await;
    let gamma = new_chat(&bea, "Gamma").await;
    for (chat, tag) in [(&alpha, "work"), (&beta, "work"), (&beta, "fun")] {
        let owner = if chat == &alpha { &admin } else { &bea };
        let r = owner
            .post(&format!("/api/v1/chats/{chat}/tags"), json!({"name": tag}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    message(&srv, &alpha, &admin_id, "m/one", 1_000).await;
    message(&srv, &beta, &bea_id, "m/one", 2_000).await;
    message(&srv, &beta, &bea_id, "m/one", 2_500).await;
    message(&srv, &gamma, &bea_id, "other", 3_000).await;

    // Messages: by chat (oldest first), by model (newest first, paged), by user.
    let by_chat = admin
        .get(&format!("/api/v1/analytics/messages?chat_id={beta}"))
        .await;
    assert_eq!(by_chat.status, 200, "{}", by_chat.body);
    let at: Vec<i64> = by_chat
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["created_at"].as_i64().unwrap())
        .collect();
    assert_eq!(at, [2_000, 2_500]);
    assert_eq!(by_chat.body[0]["content"], "hi");
    assert_eq!(by_chat.body[0]["model_id"], "m/one");
    let by_model = admin
        .get("/api/v1/analytics/messages?model_id=m/one&limit=2&skip=1")
        .await
        .body;
    let at: Vec<i64> = by_model
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["created_at"].as_i64().unwrap())
        .collect();
    assert_eq!(at, [2_000, 1_000]);
    let windowed = admin
        .get("/api/v1/analytics/messages?model_id=m/one&start_date=1500&end_date=2200")
        .await
        .body;
    assert_eq!(windowed.as_array().unwrap().len(), 1);
    let by_user = admin
        .get(&format!("/api/v1/analytics/messages?user_id={bea_id}"))
        .await
        .body;
    assert_eq!(by_user.as_array().unwrap().len(), 3);
    assert_eq!(
        admin.get("/api/v1/analytics/messages").await.body,
        json!([])
    );
    assert_eq!(
        admin
            .get("/api/v1/analytics/messages?model_id=x&limit=101")
            .await
            .status,
        422
    );

    // The chats of a model (ids with a slash reach the right route).
    let chats = admin
        .get("/api/v1/analytics/models/m/one/chats?order_by=title&direction=asc")
        .await;
    assert_eq!(chats.status, 200, "{}", chats.body);
    assert_eq!(chats.body["total"], 2);
    let titles: Vec<&str> = chats.body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["first_message"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Alpha", "Beta"]);
    assert_eq!(chats.body["chats"][1]["user_name"], "Bea");
    let paged = admin
        .get("/api/v1/analytics/models/m/one/chats?order_by=title&direction=desc&limit=1")
        .await
        .body;
    assert_eq!(paged["total"], 2);
    assert_eq!(paged["chats"].as_array().unwrap().len(), 1);
    assert_eq!(paged["chats"][0]["first_message"], "Beta");
    let window = admin
        .get("/api/v1/analytics/models/m/one/chats?start_date=1500")
        .await
        .body;
    assert_eq!(window["total"], 1);

    // The overview: tags of its chats, ratings per day with empty days filled.
    for rating in [1, 1, -1] {
        let r = bea
            .post(
                "/api/v1/evaluations/feedback",
                json!({"type": "rating", "data": {"rating": rating, "model_id": "m/one"},
                       "meta": {"chat_id": beta}, "snapshot": {}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let o = admin
        .get("/api/v1/analytics/models/m/one/overview?days=7")
        .await;
    assert_eq!(o.status, 200, "{}", o.body);
    assert_eq!(
        o.body["tags"],
        json!([{"tag": "work", "count": 2}, {"tag": "fun", "count": 1}])
    );
    let history = o.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 8, "seven days back and today");
    let today = history.last().unwrap();
    assert_eq!(
        (today["won"].clone(), today["lost"].clone()),
        (json!(2), json!(1))
    );
    assert!(history[..7].iter().all(|d| d["won"] == 0 && d["lost"] == 0));
    let all = admin
        .get("/api/v1/analytics/models/m/one/overview?days=0")
        .await
        .body;
    assert_eq!(all["history"].as_array().unwrap().len(), 1);
    let none: Value = admin
        .get("/api/v1/analytics/models/unused/overview?days=0")
        .await
        .body;
    assert_eq!(none, json!({"history": [], "tags": []}));

    // Admins only.
    assert_eq!(
        bea.get(&format!("/api/v1/analytics/messages?chat_id={beta}"))
            .await
            .status,
        401
    );
    srv.stop().await;
}
