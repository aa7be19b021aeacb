//! The built-in tool categories a chat model is offered (notes, knowledge,
//! the chat's task list, automations, calendar), over real HTTP with a
//! scripted model: which tools each turn offers, what each call changes,
//! and that one user's data never reaches another user's model.

mod common;
#[path = "data/support.rs"]
mod support;

use std::time::Duration;

use common::scripted::{tool_names, Script};
use common::{Client, TestServer};
use serde_json::{json, Value};

const MODEL: &str = "mock-gpt";

struct Env {
    srv: TestServer,
    admin: Client,
    script: Script,
    _embed: support::MockEmbed,
}

async fn setup() -> Env {
    let script = Script::default();
    let base = common::serve(script.router()).await;
    let srv = TestServer::fresh().await;
    let embed = support::MockEmbed::start().await;
    let admin = support::admin_with_embeddings(&srv.client(), &embed).await;
    common::connect_openai(&admin, &format!("{base}/v1")).await;
    // The scripted model, shared with every account.
    common::open_model_to_everyone(&admin, MODEL, "Helper").await;
    let listed = admin.get("/api/models?refresh=true").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    Env {
        srv,
        admin,
        script,
        _embed: embed,
    }
}

/// One turn in which the model makes the given rounds of calls (each a list
/// of `(tool, arguments)`) and then answers. Returns the chat id, the tools
/// offered and every tool result the model read, in order.
async fn turn(
    env: &Env,
    c: &Client,
    chat_id: Option<&str>,
    rounds: &[&[(&str, Value)]],
) -> (String, Vec<String>, Vec<Value>) {
    turn_on(env, c, MODEL, chat_id, rounds).await
}

/// [`turn`] with another model.
async fn turn_on(
    env: &Env,
    c: &Client,
    model: &str,
    chat_id: Option<&str>,
    rounds: &[&[(&str, Value)]],
) -> (String, Vec<String>, Vec<Value>) {
    let start = env.script.requests().len();
    for (r, calls) in rounds.iter().enumerate() {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| json!([format!("call_{r}_{i}"), name, args.to_string()]))
            .collect();
        env.script.queue(json!({"calls": calls}));
    }
    env.script.queue(json!({"text": "Done."}));
    let mut body = json!({
        "stream": true, "model": model, "params": {},
        "session_id": "not-a-socket", "id": "a-1", "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": "please", "timestamp": 1, "models": [model]},
        "background_tasks": {},
    });
    if let Some(id) = chat_id {
        body["chat_id"] = json!(id);
    }
    let started = c.post("/api/chat/completions", body).await;
    if started.status != 200 {
        let seen = c.get("/api/models").await.body;
        panic!("{} / models: {seen}", started.body);
    }
    let want = start + rounds.len() + 1;
    for _ in 0..400 {
        if env.script.requests().len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let seen = env.script.requests();
    assert!(
        seen.len() >= want,
        "the model was asked {} times",
        seen.len() - start
    );
    let last = &seen[want - 1];
    let results = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            let text = m["content"].as_str().unwrap_or_default();
            serde_json::from_str(text).unwrap_or_else(|_| json!(text))
        })
        .collect();
    let chat = started.body["chat_id"]
        .as_str()
        .or(chat_id)
        .unwrap_or_default()
        .to_string();
    (chat, tool_names(&seen[start]), results)
}

fn has_error(v: &Value) -> bool {
    v.get("error").is_some_and(|e| e.is_string())
}

#[tokio::test]
async fn each_category_is_offered_behind_its_switches() {
    let env = setup().await;
    let (_, offered, _) = turn(&env, &env.admin, None, &[]).await;
    for name in [
        "list_knowledge_bases",
        "query_knowledge_files",
        "search_notes",
        "replace_note_content",
        "create_tasks",
        "update_task",
        "create_automation",
        "delete_automation",
        "search_calendar_events",
        "delete_calendar_event",
    ] {
        assert!(
            offered.iter().any(|n| n == name),
            "{name} missing: {offered:?}"
        );
    }
    // upstream's order: knowledge before chats, notes before tasks, tasks
    // before automations, automations before calendar
    let at = |n: &str| offered.iter().position(|o| o == n).unwrap();
    assert!(at("view_knowledge_file") < at("search_chats"));
    assert!(at("replace_note_content") < at("create_tasks"));
    assert!(at("update_task") < at("create_automation"));
    assert!(at("delete_automation") < at("search_calendar_events"));

    // a temporary chat has no row to keep a task list on
    let (_, offered, _) = turn(&env, &env.admin, Some("local:scratch"), &[]).await;
    assert!(!offered.iter().any(|n| n == "create_tasks"), "{offered:?}");
    assert!(offered.iter().any(|n| n == "search_notes"));

    // a plain user lacks the automations permission by default
    let user = common::add_user(&env.srv, &env.admin, "Bea").await;
    let (_, offered, _) = turn(&env, &user, None, &[]).await;
    assert!(
        !offered.iter().any(|n| n.contains("automation")),
        "{offered:?}"
    );
    assert!(offered.iter().any(|n| n == "create_calendar_event"));
    // and a tool that was not offered does not run
    let (_, _, results) = turn(
        &env,
        &user,
        None,
        &[&[(
            "create_automation",
            json!({"name": "x", "prompt": "y", "rrule": "RRULE:FREQ=DAILY"}),
        )]],
    )
    .await;
    assert!(
        results[0].as_str().unwrap().contains("not found"),
        "{results:?}"
    );
}

/// A note of the admin's: its id.
async fn admin_note(env: &Env, title: &str, md: &str) -> String {
    let note = env
        .admin
        .post(
            "/api/v1/notes/create",
            json!({"title": title, "data": {"content": {"md": md}}}),
        )
        .await;
    assert_eq!(note.status, 200, "{}", note.body);
    note.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn notes_are_written_and_edited_and_others_notes_stay_out_of_reach() {
    let env = setup().await;
    let secret_id = admin_note(&env, "Vault", "combination 4711").await;

    let user = common::add_user(&env.srv, &env.admin, "Bea").await;
    let (_, _, r) = turn(
        &env,
        &user,
        None,
        &[&[(
            "write_note",
            json!({"title": "Groceries", "content": "milk, eggs, more milk"}),
        )]],
    )
    .await;
    assert_eq!(r[0]["status"], "success", "{r:?}");
    let note_id = r[0]["id"].as_str().unwrap().to_string();

    let (_, _, r) = turn(
        &env,
        &user,
        None,
        &[&[
            ("search_notes", json!({"query": "combination"})),
            ("view_note", json!({"note_id": secret_id})),
            (
                "replace_note_content",
                json!({"note_id": secret_id, "content": "owned"}),
            ),
            (
                "replace_note_content",
                json!({"note_id": note_id, "operations": [
                    {"action": "replace_text", "find": "milk", "content": "oat milk"}]}),
            ),
            (
                "replace_note_content",
                json!({"note_id": note_id, "operations": [
                    {"action": "replace_text", "find": "milk", "content": "oat milk", "replace_all": true}]}),
            ),
            ("search_notes", json!({"query": "groceries"})),
        ]],
    )
    .await;
    assert_eq!(r[0], json!([]), "another user's note was found: {r:?}");
    assert!(has_error(&r[1]), "{r:?}");
    assert_eq!(r[2]["code"], "write_access_denied", "{r:?}");
    assert_eq!(r[3]["code"], "ambiguous_match", "{r:?}");
    assert_eq!(r[3]["matches"].as_array().unwrap().len(), 2);
    assert_eq!(r[4]["applied_operation_count"], 2, "{r:?}");
    assert_eq!(r[5][0]["id"], json!(note_id), "{r:?}");

    let mine = user.get(&format!("/api/v1/notes/{note_id}")).await;
    assert_eq!(
        mine.body["data"]["content"]["md"],
        "oat milk, eggs, more oat milk"
    );
    let theirs = env.admin.get(&format!("/api/v1/notes/{secret_id}")).await;
    assert_eq!(theirs.body["data"]["content"]["md"], "combination 4711");
}

#[tokio::test]
async fn a_task_list_lives_on_the_chat() {
    let env = setup().await;
    let tasks = json!({"tasks": [
        {"content": "Book the ferry"}, {"content": "Pack", "status": "in_progress"},
        {"content": "  "}, {"id": "x", "content": "Lock up", "status": "weird"},
    ]});
    let (chat, _, r) = turn(
        &env,
        &env.admin,
        None,
        &[
            &[("create_tasks", tasks)],
            &[("update_task", json!({"id": "1"}))],
            &[("update_task", json!({"id": "nope"}))],
            &[("update_task", json!({"id": "x", "status": "sleeping"}))],
        ],
    )
    .await;
    assert_eq!(r[0]["summary"]["total"], 3, "{r:?}");
    assert_eq!(r[0]["tasks"][2]["id"], "x");
    assert_eq!(r[0]["tasks"][2]["status"], "pending");
    assert_eq!(r[1]["summary"]["completed"], 1, "{r:?}");
    assert!(has_error(&r[2]) && has_error(&r[3]), "{r:?}");
    let stored = env.admin.get(&format!("/api/v1/chats/{chat}")).await;
    assert_eq!(
        stored.body["tasks"][0]["status"], "completed",
        "{}",
        stored.body
    );
    assert_eq!(stored.body["tasks"][1]["status"], "in_progress");
}

#[tokio::test]
async fn automations_are_scheduled_with_the_chat_model_and_stay_their_owners() {
    let env = setup().await;
    common::set_default_permission(&env.admin, "features.automations", true).await;
    let rule = "DTSTART:20250101T090000\nRRULE:FREQ=DAILY";
    let (_, _, r) = turn(
        &env,
        &env.admin,
        None,
        &[
            &[(
                "create_automation",
                json!({"name": "Digest", "prompt": "Summarise the news", "rrule": rule}),
            )],
            &[
                (
                    "create_automation",
                    json!({"name": "Bad", "prompt": "x", "rrule": "every day"}),
                ),
                ("list_automations", json!({})),
            ],
        ],
    )
    .await;
    assert_eq!(r[0]["status"], "success", "{r:?}");
    assert_eq!(r[0]["model_id"], MODEL);
    assert_eq!(r[0]["next_runs"].as_array().unwrap().len(), 5);
    let id = r[0]["id"].as_str().unwrap().to_string();
    assert!(has_error(&r[1]), "{r:?}");
    assert_eq!(r[2]["total"], 1, "{r:?}");
    assert_eq!(
        r[2]["automations"][0]["prompt_snippet"],
        "Summarise the news"
    );

    let user = common::add_user(&env.srv, &env.admin, "Bea").await;
    let (_, _, r) = turn(
        &env,
        &user,
        None,
        &[&[
            ("toggle_automation", json!({"automation_id": id})),
            ("delete_automation", json!({"automation_id": id})),
            (
                "update_automation",
                json!({"automation_id": id, "name": "Mine"}),
            ),
            ("list_automations", json!({})),
        ]],
    )
    .await;
    assert!(
        has_error(&r[0]) && has_error(&r[1]) && has_error(&r[2]),
        "{r:?}"
    );
    assert_eq!(r[3]["total"], 0, "{r:?}");
    let stored = env.admin.get(&format!("/api/v1/automations/{id}")).await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.body["name"], "Digest");
    assert_eq!(stored.body["is_active"], true);
}

#[tokio::test]
async fn calendar_events_are_made_in_the_users_time_and_others_events_stay_theirs() {
    let env = setup().await;
    let (_, _, r) = turn(
        &env,
        &env.admin,
        None,
        &[&[
            (
                "create_calendar_event",
                json!({"title": "Dentist", "start": "2031-05-02 09:30", "location": "Main St"}),
            ),
            (
                "create_calendar_event",
                json!({"title": "Broken", "start": "soon"}),
            ),
        ]],
    )
    .await;
    assert_eq!(r[0]["status"], "success", "{r:?}");
    assert_eq!(r[0]["start"], "2031-05-02 09:30");
    assert_eq!(r[0]["end"], "2031-05-02 10:30");
    assert_eq!(r[0]["reminder_minutes"], 10);
    assert!(has_error(&r[1]), "{r:?}");
    let event_id = r[0]["id"].as_str().unwrap().to_string();

    let (_, _, r) = turn(
        &env,
        &env.admin,
        None,
        &[&[
            ("search_calendar_events", json!({"query": "dentist"})),
            (
                "search_calendar_events",
                json!({"start": "2031-05-01 00:00", "end": "2031-05-03 00:00"}),
            ),
            (
                "update_calendar_event",
                json!({"event_id": event_id, "start": "2031-05-02 11:00", "end": "2031-05-02 12:00"}),
            ),
        ]],
    )
    .await;
    assert_eq!(r[0]["total"], 1, "{r:?}");
    assert_eq!(r[1]["events"][0]["id"], json!(event_id), "{r:?}");
    assert_eq!(r[2]["start"], "2031-05-02 11:00", "{r:?}");

    let user = common::add_user(&env.srv, &env.admin, "Bea").await;
    let (_, _, r) = turn(
        &env,
        &user,
        None,
        &[&[
            ("search_calendar_events", json!({"query": "dentist"})),
            (
                "update_calendar_event",
                json!({"event_id": event_id, "title": "Mine"}),
            ),
            ("delete_calendar_event", json!({"event_id": event_id})),
        ]],
    )
    .await;
    assert_eq!(r[0]["total"], 0, "{r:?}");
    assert!(has_error(&r[1]) && has_error(&r[2]), "{r:?}");
    let (_, _, r) = turn(
        &env,
        &env.admin,
        None,
        &[&[("delete_calendar_event", json!({"event_id": event_id}))]],
    )
    .await;
    assert_eq!(r[0]["status"], "success", "{r:?}");
}

/// A knowledge base of the admin's holding one text file: their ids.
async fn base_with_file(env: &Env, base: Value, name: &str, text: &str) -> (String, String) {
    let kb = env.admin.post("/api/v1/knowledge/create", base).await;
    assert_eq!(kb.status, 200, "{}", kb.body);
    let kb_id = kb.body["id"].as_str().unwrap().to_string();
    let file_id = support::upload_ok(&env.admin, name, "text/plain", text.as_bytes()).await;
    let added = env
        .admin
        .post(
            &format!("/api/v1/knowledge/{kb_id}/file/add"),
            json!({"file_id": file_id}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    (kb_id, file_id)
}

#[tokio::test]
async fn knowledge_is_browsed_queried_and_read_only_where_the_user_may_read() {
    let env = setup().await;
    let text = "The first ferry leaves at 06:40.\nPier 7 is closed on Sundays.\n";
    let (kb_id, file_id) = base_with_file(
        &env,
        json!({"name": "Harbour handbook", "description": "ferries and piers"}),
        "handbook.txt",
        text,
    )
    .await;

    let (_, _, r) = turn(
        &env,
        &env.admin,
        None,
        &[&[
            ("list_knowledge_bases", json!({})),
            ("search_knowledge_files", json!({"query": "handbook"})),
            (
                "query_knowledge_files",
                json!({"query": "when does the first ferry leave"}),
            ),
            ("grep_knowledge_files", json!({"pattern": "Pier \\d"})),
            (
                "view_knowledge_file",
                json!({"file_id": file_id, "start_line": 2, "end_line": 2}),
            ),
        ]],
    )
    .await;
    assert_eq!(r[0][0]["id"], json!(kb_id), "{r:?}");
    assert_eq!(r[0][0]["file_count"], 1);
    assert_eq!(r[1][0]["knowledge_name"], "Harbour handbook", "{r:?}");
    assert!(
        r[2][0]["content"].as_str().unwrap().contains("06:40"),
        "{r:?}"
    );
    assert_eq!(r[2][0]["file_id"], json!(file_id));
    let grep = r[3].as_str().unwrap();
    assert!(grep.contains(":2: Pier 7 is closed"), "{grep}");
    assert_eq!(r[4]["content"], "2: Pier 7 is closed on Sundays.", "{r:?}");
    assert_eq!(r[4]["knowledge_id"], json!(kb_id));

    let user = common::add_user(&env.srv, &env.admin, "Bea").await;
    let (_, _, r) = turn(
        &env,
        &user,
        None,
        &[&[
            ("list_knowledge_bases", json!({})),
            ("search_knowledge_files", json!({"query": "handbook"})),
            (
                "query_knowledge_files",
                json!({"query": "ferry", "knowledge_ids": [kb_id]}),
            ),
            ("query_knowledge_files", json!({"query": "ferry"})),
            ("grep_knowledge_files", json!({"pattern": "Pier"})),
            (
                "grep_knowledge_files",
                json!({"pattern": "Pier", "file_id": file_id}),
            ),
            ("view_knowledge_file", json!({"file_id": file_id})),
            (
                "search_knowledge_files",
                json!({"query": "", "knowledge_id": kb_id}),
            ),
        ]],
    )
    .await;
    assert_eq!(r[0], json!([]), "{r:?}");
    assert_eq!(r[1], json!([]), "{r:?}");
    assert_eq!(r[2], json!([]), "{r:?}");
    assert_eq!(r[3], json!([]), "{r:?}");
    for leak in &r[4..] {
        assert!(has_error(leak), "{r:?}");
        assert!(!leak.to_string().contains("Pier 7"), "{r:?}");
    }
}

#[tokio::test]
async fn a_model_with_attached_knowledge_gets_the_scoped_tools() {
    let env = setup().await;
    let (kb_id, file_id) = base_with_file(
        &env,
        json!({"name": "Timetables", "description": "buses"}),
        "buses.txt",
        "The harbour bus leaves at 07:15.\n",
    )
    .await;
    let note_id = admin_note(&env, "Packing list", "rain jacket").await;
    let other = env
        .admin
        .post(
            "/api/v1/knowledge/create",
            json!({"name": "Unrelated", "description": ""}),
        )
        .await;
    let other_id = other.body["id"].as_str().unwrap().to_string();
    let preset = json!({
        "id": "guide", "base_model_id": MODEL, "name": "Guide", "params": {},
        "meta": {"knowledge": [
            {"type": "collection", "id": kb_id, "name": "Timetables"},
            {"type": "note", "id": note_id, "name": "Packing list"},
        ]},
    });
    let r = env.admin.post("/api/v1/models/create", preset).await;
    assert_eq!(r.status, 200, "{}", r.body);
    env.admin.get("/api/models?refresh=true").await;

    let (_, offered, r) = turn_on(
        &env,
        &env.admin,
        "guide",
        None,
        &[&[
            ("list_knowledge", json!({"knowledge_id": kb_id})),
            (
                "query_knowledge_files",
                json!({"query": "when does the bus leave"}),
            ),
            (
                "search_knowledge_files",
                json!({"query": "", "knowledge_id": other_id}),
            ),
            ("view_note", json!({"note_id": note_id})),
        ]],
    )
    .await;
    let scoped = [
        "list_knowledge",
        "search_knowledge_files",
        "grep_knowledge_files",
        "query_knowledge_files",
        "view_file",
        "view_knowledge_file",
        "view_note",
    ];
    for name in scoped {
        assert!(offered.iter().any(|n| n == name), "{name}: {offered:?}");
    }
    assert!(
        !offered.iter().any(|n| n == "list_knowledge_bases"),
        "{offered:?}"
    );
    assert_eq!(
        r[0]["knowledge_bases"][0]["files"][0]["id"],
        json!(file_id),
        "{r:?}"
    );
    assert_eq!(r[0]["notes"][0]["title"], "Packing list");
    // notes come whole and first, then the passages of the attached base
    assert_eq!(r[1][0]["note_id"], json!(note_id), "{r:?}");
    assert!(
        r[1][1]["content"].as_str().unwrap().contains("07:15"),
        "{r:?}"
    );
    assert!(has_error(&r[2]), "an unattached base was searched: {r:?}");
    assert_eq!(r[3]["content"], "rain jacket");
}
