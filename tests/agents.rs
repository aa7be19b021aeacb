//! `timer` and `delegate_task`, over real HTTP with a scripted model: when
//! they are offered, a timer's prompt coming back into its chat (and the
//! error it leaves when its model is gone), cancelling a timer, and
//! sub-agents in the foreground and in the background; and `view_skill`.

mod common;

use std::time::Duration;

use common::scripted::{last_user_text, tool_names, Script};
use common::{Client, TestServer};
use serde_json::{json, Value};

const MODEL: &str = "mock-gpt";

struct Env {
    _srv: TestServer,
    admin: Client,
    script: Script,
}

async fn setup(subagents: bool, background: bool) -> Env {
    let (srv, admin, script) = common::scripted::server_with_script().await;
    let listed = admin.get("/api/models?refresh=true").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let mut form = admin.get("/api/v1/configs/subagents").await.body;
    form["ENABLE_SUBAGENTS"] = json!(subagents);
    form["SUBAGENTS_BACKGROUND_ENABLED"] = json!(background);
    let saved = admin.post("/api/v1/configs/subagents", form).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    Env {
        _srv: srv,
        admin,
        script,
    }
}

fn calls(list: &[(&str, Value)]) -> Value {
    let calls: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, (name, args))| json!([format!("call_{i}_{name}"), name, args.to_string()]))
        .collect();
    json!({"calls": calls})
}

/// Sends one user message (a new chat when `chat` is `None`, else under
/// `parent`) and waits until its reply is finished. Returns the chat id and
/// the reply's id.
async fn say(
    c: &Client,
    model: &str,
    chat: Option<&str>,
    parent: Option<&str>,
    text: &str,
) -> (String, String) {
    let (user_id, reply_id) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let mut body = json!({
        "stream": true, "model": model, "params": {},
        "session_id": "not-a-socket", "id": reply_id, "parent_id": parent,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
        "user_message": {"id": user_id, "parentId": parent, "childrenIds": [reply_id],
            "role": "user", "content": text, "timestamp": 1, "models": [model]},
        "background_tasks": {},
    });
    if let Some(id) = chat {
        body["chat_id"] = json!(id);
    }
    let started = c.post("/api/chat/completions", body).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let chat_id = chat
        .map(str::to_string)
        .or_else(|| started.body["chat_id"].as_str().map(str::to_string))
        .expect("a chat id");
    let done = wait_for(c, &chat_id, |m| m.get(&reply_id).is_some_and(finished)).await;
    assert!(done.is_some(), "the reply never finished");
    (chat_id, reply_id)
}

fn finished(m: &Value) -> bool {
    m["done"] == json!(true)
}

/// Polls the chat's messages (bounded) until `check` holds; the messages then.
async fn wait_for(
    c: &Client,
    chat_id: &str,
    check: impl Fn(&serde_json::Map<String, Value>) -> bool,
) -> Option<serde_json::Map<String, Value>> {
    for _ in 0..150 {
        let chat = c.get(&format!("/api/v1/chats/{chat_id}")).await;
        if let Some(messages) = chat
            .body
            .pointer("/chat/history/messages")
            .and_then(Value::as_object)
        {
            if check(messages) {
                return Some(messages.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The user message with this text and its first reply.
fn prompt_and_reply(
    messages: &serde_json::Map<String, Value>,
    text: &str,
) -> Option<(Value, Value)> {
    let prompt = messages
        .values()
        .find(|m| m["role"] == "user" && m["content"] == text)?;
    let reply_id = prompt["childrenIds"].get(0)?.as_str()?;
    Some((prompt.clone(), messages.get(reply_id)?.clone()))
}

#[tokio::test]
async fn agent_tools_are_offered_only_with_subagents_on() {
    let off = setup(false, false).await;
    off.script.queue(json!({"text": "Hi."}));
    say(&off.admin, MODEL, None, None, "hello").await;
    let offered = tool_names(&off.script.requests()[0]);
    assert!(
        !offered.iter().any(|n| n == "timer" || n == "delegate_task"),
        "{offered:?}"
    );

    let on = setup(true, false).await;
    on.script.queue(json!({"text": "Hi."}));
    say(&on.admin, MODEL, None, None, "hello").await;
    let request = &on.script.requests()[0];
    let offered = tool_names(request);
    assert!(offered.iter().any(|n| n == "timer"), "{offered:?}");
    let delegate = request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "delegate_task")
        .expect("delegate_task offered");
    let props = &delegate["function"]["parameters"]["properties"];
    assert!(props.get("task").is_some() && props.get("file_ids").is_some());
    assert!(
        props.get("background").is_none(),
        "background sub-agents are off"
    );
}

#[tokio::test]
async fn a_timer_brings_its_prompt_back_into_the_chat() {
    let env = setup(true, false).await;
    let prompt = "The tea has steeped.";
    env.script
        .queue(calls(&[("timer", json!({"prompt": prompt, "at": "1s"}))]));
    env.script.queue(json!({"text": "Timer set."}));
    env.script.queue(json!({"text": "Pour it now."}));
    let (chat_id, first_reply) = say(&env.admin, MODEL, None, None, "tell me when").await;

    let set = &env.script.requests()[1];
    let result: Value = set["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(result["status"], "set", "{result}");
    assert!(result["at"].as_str().unwrap().ends_with('Z'), "{result}");

    let messages = wait_for(&env.admin, &chat_id, |m| {
        prompt_and_reply(m, prompt).is_some_and(|(_, r)| finished(&r))
    })
    .await
    .expect("the timer fired and was answered");
    let (asked, answered) = prompt_and_reply(&messages, prompt).unwrap();
    assert_eq!(
        asked["parentId"],
        json!(first_reply),
        "under the newest reply"
    );
    assert_eq!(asked["meta"]["internal"], json!(true));
    assert_eq!(asked["meta"]["type"], "timer");
    assert_eq!(answered["content"], "Pour it now.");
    assert!(
        answered.get("error").is_none_or(Value::is_null),
        "{answered}"
    );

    // The timer's turn starts from the chat as it was: the previous request
    // is its prefix, system prompt included.
    let seen = env.script.requests();
    assert_eq!(seen.len(), 3);
    let (before, timer_turn) = (&seen[1]["messages"], &seen[2]["messages"]);
    let n = before.as_array().unwrap().len();
    assert_eq!(
        &timer_turn.as_array().unwrap()[..n],
        before.as_array().unwrap().as_slice()
    );
    assert_eq!(seen[1]["tools"], seen[2]["tools"]);

    // The timer's own chat stays out of the list.
    let listed = env.admin.get("/api/v1/chats/").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.body);
}

#[tokio::test]
async fn a_timer_whose_model_is_gone_leaves_the_error_in_its_reply() {
    let env = setup(true, false).await;
    let preset =
        json!({"id": "brief", "base_model_id": MODEL, "name": "Brief", "meta": {}, "params": {}});
    assert_eq!(
        env.admin.post("/api/v1/models/create", preset).await.status,
        200
    );
    env.admin.get("/api/models?refresh=true").await;
    let prompt = "Check the oven.";
    env.script
        .queue(calls(&[("timer", json!({"prompt": prompt, "at": "2s"}))]));
    env.script.queue(json!({"text": "Timer set."}));
    let (chat_id, _) = say(&env.admin, "brief", None, None, "remind me").await;
    let deleted = env
        .admin
        .post("/api/v1/models/model/delete", json!({"id": "brief"}))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    env.admin.get("/api/models?refresh=true").await;

    let messages = wait_for(&env.admin, &chat_id, |m| {
        prompt_and_reply(m, prompt).is_some_and(|(_, r)| finished(&r))
    })
    .await
    .expect("the timer's reply was finished");
    let (_, reply) = prompt_and_reply(&messages, prompt).unwrap();
    assert!(
        reply["error"]["content"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{reply}"
    );
    assert_eq!(
        env.script.requests().len(),
        2,
        "the model was not asked again"
    );
}

#[tokio::test]
async fn a_timer_set_to_cancel_on_a_user_message_does_not_fire_after_one() {
    let env = setup(true, false).await;
    let prompt = "Stretch your legs.";
    let args = json!({"prompt": prompt, "at": "2s", "cancel_on": ["chat.user_message"]});
    env.script.queue(calls(&[("timer", args)]));
    env.script.queue(json!({"text": "Timer set."}));
    let (chat_id, reply) = say(&env.admin, MODEL, None, None, "remind me").await;
    env.script.queue(json!({"text": "Sure."}));
    say(
        &env.admin,
        MODEL,
        Some(&chat_id),
        Some(&reply),
        "never mind",
    )
    .await;

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let chat = env.admin.get(&format!("/api/v1/chats/{chat_id}")).await;
    let messages = chat.body["chat"]["history"]["messages"]
        .as_object()
        .unwrap();
    assert!(
        prompt_and_reply(messages, prompt).is_none(),
        "the timer fired anyway"
    );
    assert_eq!(env.script.requests().len(), 3);

    // A bad time is refused to the model, with nothing stored.
    env.script.queue(calls(&[(
        "timer",
        json!({"prompt": prompt, "at": "someday"}),
    )]));
    env.script.queue(json!({"text": "Could not."}));
    say(&env.admin, MODEL, None, None, "again").await;
    let seen = env.script.requests();
    let tool = seen[4]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(
        tool["content"].as_str().unwrap().starts_with("Error:"),
        "{tool}"
    );
}

#[tokio::test]
async fn a_foreground_sub_agent_reports_back_to_the_calling_turn() {
    let env = setup(true, false).await;
    let task = "find the ferry time";
    env.script.queue(calls(&[(
        "delegate_task",
        json!({"task": task, "context": "Pier 7"}),
    )]));
    env.script.queue(json!({"text": "It leaves at 06:40."}));
    env.script.queue(json!({"text": "The helper says 06:40."}));
    let (chat_id, _) = say(&env.admin, MODEL, None, None, "ask a helper").await;

    let seen = env.script.requests();
    assert_eq!(seen.len(), 3);
    let helper = &seen[1];
    assert!(last_user_text(helper).starts_with(task), "{helper}");
    assert!(last_user_text(helper).contains("Pier 7"));
    assert_eq!(
        helper["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .count(),
        1
    );
    let system = helper["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Be brief."),
        "the chat's system prompt comes first: {system}"
    );
    assert!(
        system.len() > "Be brief.".len(),
        "the helper's instructions follow"
    );
    let offered = tool_names(helper);
    assert!(
        !offered.is_empty() && !offered.iter().any(|n| n == "delegate_task" || n == "timer"),
        "{offered:?}"
    );

    let result = seen[2]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert_eq!(result["content"], "It leaves at 06:40.");

    // The helper's chat is internal: not listed, and tied to its parent.
    let listed = env.admin.get("/api/v1/chats/").await;
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![chat_id.as_str()]);
}

#[tokio::test]
async fn a_background_sub_agent_reports_into_the_chat_later() {
    let env = setup(true, true).await;
    let task = "count the boats";
    env.script.queue(calls(&[(
        "delegate_task",
        json!({"task": task, "background": true}),
    )]));
    for text in ["first", "second", "third"] {
        env.script.queue(json!({"text": text}));
    }
    let (chat_id, _) = say(&env.admin, MODEL, None, None, "ask a helper").await;
    let marker = "[ASYNC SUBAGENT COMPLETE";
    let messages = wait_for(&env.admin, &chat_id, |m| {
        m.values().any(|p| {
            p["role"] == "user"
                && p["content"].as_str().is_some_and(|c| c.starts_with(marker))
                && p["childrenIds"][0]
                    .as_str()
                    .and_then(|r| m.get(r))
                    .is_some_and(finished)
        })
    })
    .await
    .expect("the report was added and answered");
    let report = messages
        .values()
        .find(|p| p["content"].as_str().is_some_and(|c| c.starts_with(marker)))
        .unwrap();
    assert_eq!(report["meta"]["type"], "subagent");
    assert!(report["meta"]["delegation_id"]
        .as_str()
        .unwrap()
        .starts_with("deleg_"));

    let seen = env.script.requests();
    assert_eq!(
        seen.len(),
        4,
        "parent twice, helper once, the report's turn once"
    );
    let dispatched: Value = seen[1..]
        .iter()
        .flat_map(|r| r["messages"].as_array().unwrap().iter())
        .find(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(dispatched["status"], "dispatched");
    assert_eq!(dispatched["mode"], "background");
    assert!(
        seen.iter().any(|r| last_user_text(r) == task),
        "the helper was asked"
    );
    let answering = &seen[3];
    assert!(last_user_text(answering).starts_with(marker));
    assert!(last_user_text(answering).contains(&format!("Task: {task}")));
}

#[tokio::test]
async fn view_skill_reads_a_skill_the_caller_has() {
    let env = setup(false, false).await;
    let long = "Read the high tide column first. ".repeat(1000);
    let skill = json!({"id": "tide-tables", "name": "Tide tables", "description": "Tides",
        "content": long});
    let created = env.admin.post("/api/v1/skills/create", skill).await;
    assert_eq!(created.status, 200, "{}", created.body);

    // Someone with no skill of their own is not offered the tool.
    let (other, _) = common::add_user_with_id(&env._srv, &env.admin, "other").await;
    let grant = json!([{"principal_type": "user", "principal_id": "*", "permission": "read"}]);
    let shared = json!({"id": MODEL, "base_model_id": null, "name": "Mock", "meta": {}, "params": {},
        "access_grants": grant});
    env.admin.post("/api/v1/models/create", shared).await;
    env.script.queue(json!({"text": "Hi."}));
    say(&other, MODEL, None, None, "hello").await;
    assert!(!tool_names(&env.script.requests()[0])
        .iter()
        .any(|n| n == "view_skill"));

    let args = [
        ("view_skill", json!({"id": "Tide-Tables"})),
        ("view_skill", json!({"id": "nope"})),
    ];
    env.script.queue(calls(&args));
    env.script.queue(json!({"text": "At noon."}));
    say(&env.admin, MODEL, None, None, "when is high tide?").await;
    let seen = env.script.requests();
    assert!(tool_names(&seen[1]).iter().any(|n| n == "view_skill"));
    let results: Vec<Value> = seen[2]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(results[0]["id"], "tide-tables");
    assert_eq!(results[0]["name"], "Tide tables");
    let opening = results[0]["content"].as_str().unwrap();
    assert_eq!(
        opening.chars().count(),
        5000,
        "a long skill opens with its first part"
    );
    assert_eq!(results[0]["next_offset"], 5000);
    assert!(long.starts_with(opening));
    assert_eq!(results[1]["error"], "Skill not found");
}
