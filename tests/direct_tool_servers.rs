//! Tool servers a user added in the browser: the request brings their specs
//! (`tool_servers`), the model may call them, and the user's own tab runs
//! each call (`execute:tool`, answered through the acknowledgement). Only
//! with tool servers and direct integrations on, and for non-admins with
//! `features.direct_tool_servers`.

mod common;

use common::scripted::{run_turn, tool_names, Script};
use common::tab::{answering_tab, Tab};
use common::{Client, TestServer};
use serde_json::{json, Value};

async fn setup() -> (TestServer, Client, Script) {
    let (srv, admin, script) = common::scripted::server_with_script().await;
    // Everyone may chat with the scripted model.
    common::open_model_to_everyone(&admin, "mock-gpt", "mock-gpt").await;
    (srv, admin, script)
}

async fn direct_integrations(admin: &Client, on: bool) {
    let mut cfg = admin.get("/api/v1/configs/connections").await.body;
    cfg["ENABLE_DIRECT_INTEGRATIONS"] = json!(on);
    let r = admin.post("/api/v1/configs/connections", cfg).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A browser turn that brings one direct tool server with `get_tide`.
fn turn(session: &str) -> Value {
    json!({
        "stream": true, "model": "mock-gpt", "params": {}, "features": {},
        "session_id": session, "id": "a-1", "parent_id": null,
        "tool_servers": [{
            "url": "http://tides.invalid", "path": "openapi.json", "auth_type": "bearer",
            "system_prompt": "Tide times come from the harbour master's server.",
            "specs": [{"name": "get_tide", "description": "Tide times of a port.",
                       "parameters": {"type": "object", "properties": {"port": {"type": "string"}},
                                      "required": ["port"]}}],
        }],
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": "when is high tide in Brest?", "timestamp": 1, "models": ["mock-gpt"]},
        "background_tasks": {},
    })
}

fn tool_result(request: &Value) -> String {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_users_tab_runs_the_tools_of_its_own_servers() {
    let (srv, admin, script) = setup().await;
    let token = admin.token.clone().unwrap();
    let answer = json!([{"port": "Brest", "high": "06:12"}, {"content-type": "application/json"}]);
    let (sid, asked) = answering_tab(&srv, &token, "execute:tool", Tab::Answers(answer)).await;

    // Off by default: the specs are not offered.
    script.queue(json!({"text": "I cannot look that up."}));
    run_turn(&admin, turn(&sid), "a-1").await;
    assert!(!tool_names(&script.requests()[0]).contains(&"get_tide".to_string()));

    direct_integrations(&admin, true).await;
    let args = json!({"port": "Brest", "not_declared": 1}).to_string();
    script.queue(json!({"calls": [["c1", "get_tide", args]]}));
    script.queue(json!({"text": "High tide is at 06:12."}));
    let reply = run_turn(&admin, turn(&sid), "a-1").await;
    assert!(reply["error"].is_null(), "{reply}");
    let seen = script.requests();
    let offered = &seen[1];
    assert!(tool_names(offered).contains(&"get_tide".to_string()));
    let system = offered["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(system.contains("harbour master's server"), "{system}");
    {
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 1);
        let data = &asked[0]["data"]["data"];
        assert_eq!(asked[0]["data"]["type"], "execute:tool");
        assert_eq!(data["name"], "get_tide");
        assert_eq!(
            data["params"],
            json!({"port": "Brest"}),
            "undeclared arguments dropped"
        );
        assert_eq!(data["session_id"], sid.as_str());
        assert_eq!(data["server"]["url"], "http://tides.invalid");
        assert!(data["server"].get("specs").is_none());
        assert!(!data["id"].as_str().unwrap().is_empty());
    }
    let result: Value = serde_json::from_str(&tool_result(&seen[2])).unwrap();
    assert_eq!(result, json!({"port": "Brest", "high": "06:12"}));
    assert_eq!(reply["content"], "High tide is at 06:12.");

    // Without a tab the model reads why nothing ran.
    script.queue(json!({"calls": [["c2", "get_tide", json!({"port": "Cork"}).to_string()]]}));
    script.queue(json!({"text": "No tab."}));
    run_turn(&admin, turn("no-such-socket"), "a-1").await;
    let last = script.requests().last().unwrap().clone();
    assert!(tool_result(&last).contains("not connected"), "{last}");
    assert_eq!(asked.lock().unwrap().len(), 1);

    // A plain user needs features.direct_tool_servers.
    let bo = common::add_user(&srv, &admin, "Bo").await;
    let (bo_sid, bo_asked) = answering_tab(
        &srv,
        bo.token.as_deref().unwrap(),
        "execute:tool",
        Tab::Answers(json!("ok")),
    )
    .await;
    script.queue(json!({"text": "no tools for you"}));
    run_turn(&bo, turn(&bo_sid), "a-1").await;
    assert!(!tool_names(script.requests().last().unwrap()).contains(&"get_tide".to_string()));
    common::set_default_permission(&admin, "features.direct_tool_servers", true).await;
    script.queue(json!({"calls": [["c3", "get_tide", json!({"port": "Oban"}).to_string()]]}));
    script.queue(json!({"text": "done"}));
    run_turn(&bo, turn(&bo_sid), "a-1").await;
    assert_eq!(bo_asked.lock().unwrap().len(), 1);
    assert_eq!(tool_result(script.requests().last().unwrap()), "ok");
}
