use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::*;
use crate::db::chat_messages;

fn db() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    crate::db::migrations::migrate(&mut c).unwrap();
    c
}

fn typeof_row(c: &Connection, id: &str) -> Map<String, Value> {
    let cols = [
        "content",
        "output",
        "files",
        "sources",
        "embeds",
        "done",
        "status_history",
        "error",
        "usage",
        "meta",
        "parent_id",
        "model_id",
        "context_summary",
    ];
    let mut out = Map::new();
    for col in cols {
        let (t, v): (String, Option<String>) = c
            .query_row(
                &format!(
                    "SELECT typeof({col}), CAST({col} AS TEXT) FROM chat_message WHERE id = ?1"
                ),
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        out.insert(col.into(), json!([t, v]));
    }
    out
}

#[test]
fn upsert_message_keeps_both_stores_in_step() {
    let c = db();
    let chat = json!({
        "id": "", "title": "New Chat", "models": ["m"],
        "history": {"messages": {"u1": {
            "id": "u1", "parentId": null, "childrenIds": [], "role": "user",
            "content": "Hello", "timestamp": 1795337975, "models": ["m"]
        }}, "currentId": "u1"},
        "messages": [], "files": [], "tags": [], "timestamp": 1795337975000i64
    });
    let row = insert_new(&c, "user-1", "c1", &chat, None, 1795337975).unwrap();
    assert_eq!(row.title, "New Chat");
    assert_eq!(row.current_message_id.as_deref(), Some("u1"));

    // The user row as upstream stores it.
    let user = typeof_row(&c, "c1-u1");
    assert_eq!(user["content"], json!(["text", "\"Hello\""]));
    assert_eq!(user["done"], json!(["integer", "1"]));
    for col in [
        "output",
        "files",
        "sources",
        "embeds",
        "status_history",
        "error",
        "usage",
        "meta",
    ] {
        assert_eq!(user[col], json!(["text", "null"]), "{col}");
    }
    for col in ["parent_id", "model_id", "context_summary"] {
        assert_eq!(user[col], json!(["null", null]), "{col}");
    }

    // An assistant placeholder, then its final state.
    upsert_message(
        &c,
        "c1",
        "a1",
        &json!({"id": "a1", "parentId": "u1", "childrenIds": [], "role": "assistant", "content": "",
                "done": false, "model": "m", "modelIdx": 0, "timestamp": 1795337976}),
        true,
        1795337976,
    )
    .unwrap();
    let a = typeof_row(&c, "c1-a1");
    assert_eq!(a["done"], json!(["integer", "0"]));
    assert_eq!(a["model_id"], json!(["text", "m"]));
    assert_eq!(a["parent_id"], json!(["text", "u1"]));
    assert!(chat_messages::has_unfinished_assistant(&c, "c1").unwrap());

    let output = json!([{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                         "content": [{"type": "output_text", "text": "Hi there"}]}]);
    upsert_message(
        &c,
        "c1",
        "a1",
        &json!({"done": true, "output": output, "meta": {"task_id": "t1"},
                "usage": {"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19}}),
        false,
        1795337980,
    )
    .unwrap();

    let row = get(&c, "c1").unwrap().unwrap();
    let msgs = row.history_messages().unwrap();
    assert_eq!(msgs["u1"]["childrenIds"], json!(["a1"]));
    assert_eq!(
        msgs["a1"]["content"], "Hi there",
        "content filled from output"
    );
    assert_eq!(msgs["a1"]["done"], true);
    assert_eq!(msgs["a1"]["modelIdx"], 0, "earlier fields kept");
    assert_eq!(row.chat["history"]["currentId"], "a1");
    assert_eq!(row.current_message_id.as_deref(), Some("a1"));
    assert_eq!(row.updated_at, 1795337980);

    let a = typeof_row(&c, "c1-a1");
    assert_eq!(a["content"], json!(["text", "\"Hi there\""]));
    assert_eq!(a["done"], json!(["integer", "1"]));
    assert_eq!(a["meta"], json!(["text", "{\"task_id\":\"t1\"}"]));
    assert_eq!(
        a["usage"],
        json!(["text", "{\"prompt_tokens\":10,\"completion_tokens\":9,\"total_tokens\":19,\"input_tokens\":10,\"output_tokens\":9}"])
    );
    assert_eq!(a["output"][0], "text");
    assert!(!chat_messages::has_unfinished_assistant(&c, "c1").unwrap());

    // The row map rebuilds the same tree.
    let map = chat_messages::messages_map(&c, "c1").unwrap().unwrap();
    assert_eq!(map["u1"]["childrenIds"], json!(["a1"]));
    assert_eq!(map["a1"]["content"], "Hi there");
    assert_eq!(map["a1"]["model"], "m");

    set_title(&c, "c1", "Greeting", 1795337990).unwrap();
    let row = get(&c, "c1").unwrap().unwrap();
    assert_eq!(
        (row.title.as_str(), row.chat["title"].as_str()),
        ("Greeting", Some("Greeting"))
    );
    assert_eq!(row.updated_at, 1795337980);

    assert_eq!(
        add_tags(&c, "c1", "user-1", &["Small Talk".into(), "none".into()]).unwrap(),
        ["small_talk"]
    );
    let tag: (String, String, Option<String>) = c
        .query_row(
            "SELECT id, name, meta FROM tag WHERE user_id = 'user-1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(tag, ("small_talk".into(), "Small Talk".into(), None));
}

#[test]
fn snippets_and_terms() {
    let chat = json!({"history": {"messages": {"x": {"content": "The quick   brown fox"}}}});
    assert_eq!(
        search_snippet(&chat, "brown").as_deref(),
        Some("The quick brown fox")
    );
    assert_eq!(search_snippet(&chat, "zebra"), None);
    assert_eq!(search_terms("Hello, world 42!"), ["hello", "world", "42"]);
    assert_eq!(search_terms("ПРИВЕТ, Мир"), ["привет", "мир"]);
    assert_eq!(search_content_query("tag:fun Pirate maps"), "pirate maps");
}
