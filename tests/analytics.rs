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

/// Stores a message row with a role and a usage JSON (or none).
async fn usage_row(
    srv: &TestServer,
    chat: &str,
    user: &str,
    role: &str,
    model: Option<&str>,
    usage: Option<Value>,
    at: i64,
) {
    let state = srv.state.clone().unwrap();
    let (chat, user, role) = (chat.to_string(), user.to_string(), role.to_string());
    let model = model.map(str::to_string);
    let usage = usage.map(|u| u.to_string());
    state
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO chat_message (id, chat_id, user_id, role, model_id, content, usage, done, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, '\"x\"', ?6, 1, ?7, ?7)",
                rusqlite::params![format!("{chat}-{role}-{at}"), chat, user, role, model, usage, at],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_users_usage_page_counts_only_their_own_messages_and_tokens() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (bea, bea_id) = common::add_user_with_role(&srv, &admin, "Bea", "user").await;
    let (_cy, cy_id) = common::add_user_with_role(&srv, &admin, "Cy", "user").await;
    let chat = new_chat(&bea, "Bea's chat").await;
    let other = new_chat(&bea, "Old chat").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day = 86_400;
    // Noon of yesterday (UTC): the period ends a minute later, so no message
    // falls on the other side of a midnight whenever the test runs.
    let now = now / day * day - day / 2;
    // Today: a question and two answers ten minutes apart, one without usage.
    usage_row(&srv, &chat, &bea_id, "user", None, None, now - 1_200).await;
    let tokens = json!({"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42});
    usage_row(
        &srv,
        &chat,
        &bea_id,
        "assistant",
        Some("m/one"),
        Some(tokens),
        now - 1_100,
    )
    .await;
    usage_row(
        &srv,
        &chat,
        &bea_id,
        "assistant",
        Some("m/one"),
        None,
        now - 500,
    )
    .await;
    // Yesterday, another model with the normalised key names and a tool call.
    let other_tokens = json!({"input_tokens": 5, "output_tokens": 7});
    usage_row(
        &srv,
        &other,
        &bea_id,
        "assistant",
        Some("m/two"),
        Some(other_tokens),
        now - day,
    )
    .await;
    {
        let state = srv.state.clone().unwrap();
        let id = format!("{other}-assistant-{}", now - day);
        state
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE chat_message SET output = ?1 WHERE id = ?2",
                    rusqlite::params![
                        json!([{"type": "function_call", "name": "search_web"}]).to_string(),
                        id
                    ],
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }
    // Thirty days ago: outside a 7-day period, still in the lifetime figures.
    usage_row(
        &srv,
        &other,
        &bea_id,
        "assistant",
        Some("m/two"),
        Some(json!({"prompt_tokens": 100, "completion_tokens": 1})),
        now - 30 * day,
    )
    .await;
    // Someone else's message never counts.
    usage_row(
        &srv,
        &chat,
        &cy_id,
        "assistant",
        Some("m/cy"),
        Some(json!({"prompt_tokens": 999})),
        now - 60,
    )
    .await;

    let r = bea
        .get(&format!("/api/v1/users/usage?days=7&end_date={}", now + 60))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = &r.body["totals"];
    assert_eq!(t["messages"], 4, "{t}");
    assert_eq!(t["user_messages"], 1);
    assert_eq!(t["assistant_messages"], 3);
    assert_eq!(
        (t["input_tokens"].as_i64(), t["output_tokens"].as_i64()),
        (Some(117), Some(38))
    );
    assert_eq!(t["lifetime_tokens"], 155);
    assert_eq!(t["total_chats"], 2);
    assert_eq!(t["models_used"], 2);
    assert_eq!(t["active_days"], 2);
    // Time in a chat counts every message of the caller's own chats (Cy's
    // message landed in Bea's chat 440 s after her last one).
    assert_eq!(t["longest_chat_seconds"], 1_140);
    assert_eq!(t["current_streak"], 2);
    assert_eq!(t["peak_daily_tokens"], 42);
    let heat = r.body["heatmap"].as_array().unwrap();
    assert_eq!(heat.len(), 7, "{heat:?}");
    assert_eq!(heat[6]["messages"], 3);
    assert_eq!(heat[6]["models"], json!({"m/one": 2}));
    assert_eq!(r.body["cumulative_heatmap"][6]["messages"], 4);
    assert_eq!(r.body["insights"]["most_used_model"], "m/one");
    assert_eq!(r.body["insights"]["user_message_share"], 25.0);
    assert_eq!(r.body["top_models"][0]["model_id"], "m/one");
    assert_eq!(r.body["top_models"][0]["total_tokens"], 42);
    assert_eq!(
        r.body["top_tools"],
        json!([{"name": "search_web", "count": 1}])
    );
    assert_eq!(r.body["period"]["days"], 7);

    // A fresh account reads zeros, not someone else's figures.
    let (dee, _) = common::add_user_with_role(&srv, &admin, "Dee", "user").await;
    let empty = dee.get("/api/v1/users/usage").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["totals"]["lifetime_tokens"], 0);
    assert_eq!(empty.body["totals"]["messages"], 0);
    assert_eq!(empty.body["insights"]["most_used_model"], Value::Null);

    // Periods that cannot be covered.
    for (q, status) in [
        ("days=3", 422),
        ("days=800", 422),
        ("days=soon", 422),
        ("start_date=2000000000&end_date=1000000000", 400),
    ] {
        let r = bea.get(&format!("/api/v1/users/usage?{q}")).await;
        assert_eq!(r.status, status, "{q}: {}", r.body);
        assert!(r.body["detail"].is_array() || r.body["detail"].is_string());
    }
}
