//! Workspace prompts, tools, functions and skills: CRUD, `/` command lookup,
//! version history, sharing through access grants, import/export, and the
//! clear errors for everything that would need to run Python.

mod common;

use common::{add_user_with_id, admin, copy_dir, fixture_dir, settings_for, Client, TestServer};
use serde_json::{json, Value};

async fn group(admin: &Client, name: &str, permissions: Value, members: &[&str]) -> String {
    let r = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": name, "description": "", "permissions": permissions}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{id}/users/add"),
            json!({"user_ids": members}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

fn writer_permissions() -> Value {
    json!({
        "workspace": {"prompts": true, "tools": true, "skills": true,
                      "prompts_export": true, "tools_export": true, "skills_export": true},
        "sharing": {"prompts": true, "public_prompts": true, "tools": true, "skills": true},
    })
}

fn commands(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["command"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn prompts_crud_history_and_access() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let (bea, bea_id) = add_user_with_id(&srv, &admin, "Bea").await;
    let (cy, cy_id) = add_user_with_id(&srv, &admin, "Cy").await;
    group(&admin, "Writers", writer_permissions(), &[&bea_id]).await;
    let readers = group(&admin, "Readers", json!({}), &[&cy_id]).await;

    // Without workspace.prompts a user cannot create.
    let form = json!({"command": "greet", "name": "Greeting", "content": "Say hello to {{name}}.",
                      "tags": ["social"], "access_grants": []});
    let r = cy.post("/api/v1/prompts/create", form.clone()).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["detail"], "401 Unauthorized");

    let r = bea.post("/api/v1/prompts/create", form.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.body.clone();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["command"], "greet");
    assert_eq!(p["is_active"], true);
    assert_eq!(p["tags"], json!(["social"]));
    assert_eq!(p["access_grants"], json!([]));
    let v1 = p["version_id"].as_str().unwrap().to_string();

    // Commands are unique.
    let r = admin.post("/api/v1/prompts/create", form.clone()).await;
    assert_eq!(r.status, 400);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("command is already registered"));

    // The chat input looks commands up in GET /prompts/.
    let mine = bea.get("/api/v1/prompts/").await;
    assert_eq!(commands(&mine.body), vec!["greet"]);
    assert_eq!(mine.body[0]["user"]["name"], "Bea");
    assert_eq!(mine.body[0]["content"], "Say hello to {{name}}.");
    assert_eq!(
        commands(&cy.get("/api/v1/prompts/").await.body),
        Vec::<String>::new()
    );
    assert_eq!(
        cy.get(&format!("/api/v1/prompts/id/{id}")).await.status,
        404
    );
    let got = bea.get(&format!("/api/v1/prompts/id/{id}")).await;
    assert_eq!(got.body["write_access"], true);

    // A content change records a version and makes it live.
    let mut edit = form.clone();
    edit["content"] = json!("Say hello to {{name}}.\nAsk how they are.");
    edit["commit_message"] = json!("ask more");
    let r = bea
        .post(&format!("/api/v1/prompts/id/{id}/update"), edit)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v2 = r.body["version_id"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    let hist = bea
        .get(&format!("/api/v1/prompts/id/{id}/history"))
        .await
        .body;
    assert_eq!(hist.as_array().unwrap().len(), 2);
    assert_eq!(hist[0]["id"], v2.as_str());
    assert_eq!(hist[0]["commit_message"], "ask more");
    assert_eq!(hist[0]["parent_id"], v1.as_str());
    assert_eq!(hist[0]["user"]["email"], "bea@example.com");
    assert_eq!(hist[1]["commit_message"], "Initial version");
    let diff = bea
        .get(&format!(
            "/api/v1/prompts/id/{id}/history/diff?from_id={v1}&to_id={v2}"
        ))
        .await;
    assert_eq!(diff.status, 200, "{}", diff.body);
    let lines: Vec<&str> = diff.body["content_diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines.contains(&"+Ask how they are."), "{lines:?}");
    assert_eq!(diff.body["name_changed"], false);
    let entry = bea
        .get(&format!("/api/v1/prompts/id/{id}/history/{v1}"))
        .await;
    assert_eq!(entry.body["snapshot"]["content"], "Say hello to {{name}}.");

    // Metadata edits make no version.
    let r = bea
        .post(
            &format!("/api/v1/prompts/id/{id}/update/meta"),
            json!({"name": "Hello", "command": "hello", "tags": ["social", "polite"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["command"], "hello");
    let hist = bea
        .get(&format!("/api/v1/prompts/id/{id}/history"))
        .await
        .body;
    assert_eq!(hist.as_array().unwrap().len(), 2);

    // The live version cannot be deleted; restoring v1 brings its content back.
    let r = bea
        .delete(&format!("/api/v1/prompts/id/{id}/history/{v2}"))
        .await;
    assert_eq!(r.status, 400);
    let r = bea
        .post(
            &format!("/api/v1/prompts/id/{id}/update/version"),
            json!({"version_id": v1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["content"], "Say hello to {{name}}.");
    assert_eq!(r.body["version_id"], v1.as_str());
    assert_eq!(r.body["command"], "hello");
    let r = bea
        .delete(&format!("/api/v1/prompts/id/{id}/history/{v2}"))
        .await;
    assert_eq!(r.body, true);

    // Cy may not change it.
    let r = cy
        .post(&format!("/api/v1/prompts/id/{id}/toggle"), json!({}))
        .await;
    assert_eq!(r.status, 401);

    // Sharing with a group Cy is in: read only.
    let r = bea
        .post(
            &format!("/api/v1/prompts/id/{id}/access/update"),
            json!({"access_grants": [{"principal_type": "group", "principal_id": readers, "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["access_grants"][0]["principal_id"], readers.as_str());
    assert_eq!(
        commands(&cy.get("/api/v1/prompts/").await.body),
        vec!["hello"]
    );
    let seen = cy.get(&format!("/api/v1/prompts/id/{id}")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body["write_access"], false);
    let r = cy
        .post(&format!("/api/v1/prompts/id/{id}/update"), form.clone())
        .await;
    assert_eq!(r.status, 401);

    // A private prompt of Bea's, then made public.
    let mut other = form.clone();
    other["command"] = json!("recap");
    other["tags"] = json!(["work"]);
    let r = bea.post("/api/v1/prompts/create", other).await;
    let id2 = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        commands(&cy.get("/api/v1/prompts/").await.body),
        vec!["hello"]
    );
    let r = bea
        .post(
            &format!("/api/v1/prompts/id/{id2}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut cs = commands(&cy.get("/api/v1/prompts/").await.body);
    cs.sort();
    assert_eq!(cs, vec!["hello", "recap"]);
    // Cy has no sharing permission at all: asking for a public grant is refused.
    let (mut own, _) = (form.clone(), ());
    own["command"] = json!("cy-own");
    let r = admin.post("/api/v1/prompts/create", own).await;
    let id3 = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            &format!("/api/v1/prompts/id/{id3}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": cy_id, "permission": "write"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = cy
        .post(
            &format!("/api/v1/prompts/id/{id3}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Search list, tags, toggling.
    let list = bea.get("/api/v1/prompts/list?tag=work").await.body;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["command"], "recap");
    assert_eq!(list["items"][0]["write_access"], true);
    // Restoring v1 brought its tags back too.
    let tags = bea.get("/api/v1/prompts/tags").await.body;
    assert_eq!(tags, json!(["social", "work"]));
    let r = bea
        .post(&format!("/api/v1/prompts/id/{id2}/toggle"), json!({}))
        .await;
    assert_eq!(r.body["is_active"], false);
    assert_eq!(
        commands(&bea.get("/api/v1/prompts/").await.body),
        vec!["hello"]
    );
    assert_eq!(bea.get("/api/v1/prompts/list").await.body["total"], 2);

    // Export (the page saves GET /prompts/) and import (create each) round trip.
    let r = bea
        .post(&format!("/api/v1/prompts/id/{id2}/toggle"), json!({}))
        .await;
    assert_eq!(r.body["is_active"], true);
    let exported = bea.get("/api/v1/prompts/").await.body;
    for p in exported.as_array().unwrap() {
        if p["user_id"] == bea_id.as_str() {
            let pid = p["id"].as_str().unwrap();
            let r = bea
                .delete(&format!("/api/v1/prompts/id/{pid}/delete"))
                .await;
            assert_eq!(r.body, true);
        }
    }
    assert_eq!(
        bea.get(&format!("/api/v1/prompts/id/{id}")).await.status,
        404
    );
    for p in exported.as_array().unwrap() {
        if p["user_id"] == bea_id.as_str() {
            let r = bea
                .post(
                    "/api/v1/prompts/create",
                    json!({"command": p["command"], "name": p["name"], "content": p["content"],
                           "tags": p["tags"], "data": p["data"], "meta": p["meta"]}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    let back = bea.get("/api/v1/prompts/").await.body;
    let hello = back
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["command"] == "hello")
        .expect("reimported");
    assert_eq!(hello["content"], "Say hello to {{name}}.");
    assert_eq!(hello["tags"], json!(["social"]));
    srv.stop().await;
}

const TOOL_CODE: &str = "\"\"\"\ntitle: Clock\n\"\"\"\nclass Tools:\n    def now(self) -> str:\n        return 'noon'\n";

#[tokio::test]
async fn tools_are_stored_but_never_run() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let (bea, bea_id) = add_user_with_id(&srv, &admin, "Bea").await;
    let (cy, _) = add_user_with_id(&srv, &admin, "Cy").await;
    group(&admin, "Writers", writer_permissions(), &[&bea_id]).await;

    let form = json!({"id": "Clock_Tool", "name": "Clock", "content": TOOL_CODE,
                      "meta": {"description": "Tells the time"}});
    assert_eq!(
        cy.post("/api/v1/tools/create", form.clone()).await.status,
        401
    );
    let mut bad = form.clone();
    bad["id"] = json!("clock-tool");
    let r = bea.post("/api/v1/tools/create", bad).await;
    assert_eq!(r.status, 400);
    let r = bea.post("/api/v1/tools/create", form.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], "clock_tool");
    assert_eq!(r.body["meta"]["description"], "Tells the time");
    assert!(r.body.get("content").is_none());
    assert_eq!(
        bea.post("/api/v1/tools/create", form.clone()).await.status,
        400
    );

    // Listing and opening work.
    let list = bea.get("/api/v1/tools/").await.body;
    assert_eq!(list[0]["id"], "clock_tool");
    assert_eq!(list[0]["user"]["name"], "Bea");
    assert_eq!(
        bea.get("/api/v1/tools/list").await.body[0]["write_access"],
        true
    );
    assert_eq!(cy.get("/api/v1/tools/").await.body, json!([]));
    assert_eq!(cy.get("/api/v1/tools/id/clock_tool").await.status, 401);
    let got = bea.get("/api/v1/tools/id/clock_tool").await;
    assert_eq!(got.body["content"], TOOL_CODE);
    assert_eq!(got.body["specs"], json!([]));
    assert_eq!(
        bea.get("/api/v1/tools/id/clock_tool/valves").await.body,
        json!({})
    );
    assert_eq!(
        bea.get("/api/v1/tools/id/clock_tool/valves/user")
            .await
            .body,
        json!({})
    );

    // Anything that needs the Python module is a clear 501.
    for path in [
        "/api/v1/tools/id/clock_tool/valves/spec",
        "/api/v1/tools/id/clock_tool/valves/user/spec",
    ] {
        let r = bea.get(path).await;
        assert_eq!(r.status, 501, "{path}");
        assert!(
            r.body["detail"].as_str().unwrap().contains("Python"),
            "{}",
            r.body
        );
    }
    // Access is checked before: no 501 for strangers or unknown tools.
    let r = cy.get("/api/v1/tools/id/clock_tool/valves/spec").await;
    assert_eq!(r.status, 401);
    let r = bea.get("/api/v1/tools/id/missing/valves/spec").await;
    assert_eq!(r.status, 404);
    let r = bea
        .post(
            "/api/v1/tools/id/clock_tool/valves/update",
            json!({"tz": "UTC"}),
        )
        .await;
    assert_eq!(r.status, 501);
    assert!(r.body["detail"].as_str().unwrap().contains("cannot run"));

    // Versions.
    let mut edit = form.clone();
    edit["content"] = json!(TOOL_CODE.replace("noon", "midnight"));
    let r = bea.post("/api/v1/tools/id/clock_tool/update", edit).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hist = bea.get("/api/v1/tools/id/clock_tool/history").await.body;
    assert_eq!(hist.as_array().unwrap().len(), 2);
    let (new, old) = (
        hist[0]["id"].as_str().unwrap(),
        hist[1]["id"].as_str().unwrap(),
    );
    let d = bea
        .get(&format!(
            "/api/v1/tools/id/clock_tool/history/diff?from_id={old}&to_id={new}"
        ))
        .await;
    assert!(d.body["content_diff"]
        .as_str()
        .unwrap()
        .contains("+        return 'midnight'"));
    let r = bea
        .post(
            "/api/v1/tools/id/clock_tool/update/version",
            json!({"version_id": old}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["content"], TOOL_CODE);
    assert_eq!(r.body["version_id"], old);

    // Export / import round trip.
    let exported = bea.get("/api/v1/tools/export").await.body;
    assert_eq!(exported[0]["content"], TOOL_CODE);
    assert_eq!(cy.get("/api/v1/tools/export").await.status, 401);
    assert_eq!(
        bea.delete("/api/v1/tools/id/clock_tool/delete").await.body,
        true
    );
    assert_eq!(bea.get("/api/v1/tools/").await.body, json!([]));
    let t = &exported[0];
    let r = bea
        .post(
            "/api/v1/tools/create",
            json!({"id": t["id"], "name": t["name"], "content": t["content"], "meta": t["meta"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        bea.get("/api/v1/tools/id/clock_tool").await.body["content"],
        TOOL_CODE
    );
    srv.stop().await;
}

#[tokio::test]
async fn functions_are_admin_only_and_cannot_be_enabled() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let (bea, _) = add_user_with_id(&srv, &admin, "Bea").await;
    let code = "class Filter:\n    def inlet(self, body):\n        return body\n";
    let form = json!({"id": "tidy", "name": "Tidy", "content": code, "meta": {"description": "d"}});
    assert_eq!(
        bea.post("/api/v1/functions/create", form.clone())
            .await
            .status,
        401
    );
    let r = admin.post("/api/v1/functions/create", form.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["type"], "filter");
    assert_eq!(r.body["is_active"], false);
    let r = admin
        .post(
            "/api/v1/functions/create",
            json!({"id": "nothing", "name": "N", "content": "x = 1\n", "meta": {}}),
        )
        .await;
    assert_eq!(r.status, 400);

    let list = admin.get("/api/v1/functions/list").await.body;
    assert_eq!(list[0]["id"], "tidy");
    assert_eq!(list[0]["user"]["name"], "Admin");
    assert_eq!(bea.get("/api/v1/functions/").await.body[0]["id"], "tidy");
    assert_eq!(
        admin.get("/api/v1/functions/id/tidy").await.body["content"],
        code
    );

    for (m, path) in [
        ("POST", "/api/v1/functions/id/tidy/toggle"),
        ("POST", "/api/v1/functions/id/tidy/toggle/global"),
        ("GET", "/api/v1/functions/id/tidy/valves/spec"),
        ("POST", "/api/v1/functions/id/tidy/valves/update"),
    ] {
        let r = if m == "GET" {
            admin.get(path).await
        } else {
            admin.post(path, json!({})).await
        };
        assert_eq!(r.status, 501, "{path}: {}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains("Python"));
    }
    assert_eq!(
        admin.get("/api/v1/functions/id/tidy").await.body["is_active"],
        false
    );
    assert_eq!(
        admin.get("/api/v1/functions/id/tidy/valves").await.body,
        json!({})
    );
    assert_eq!(
        bea.get("/api/v1/functions/id/tidy/valves/user").await.body,
        json!({})
    );

    let mut edit = form.clone();
    edit["name"] = json!("Tidier");
    let r = admin.post("/api/v1/functions/id/tidy/update", edit).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hist = admin.get("/api/v1/functions/id/tidy/history").await.body;
    assert_eq!(hist.as_array().unwrap().len(), 2);
    assert_eq!(hist[0]["function_id"], "tidy");
    let exported = admin.get("/api/v1/functions/export").await.body;
    assert_eq!(exported[0]["name"], "Tidier");
    assert_eq!(exported[0]["content"], code);
    assert_eq!(
        admin.delete("/api/v1/functions/id/tidy/delete").await.body,
        true
    );
    assert_eq!(admin.get("/api/v1/functions/").await.body, json!([]));
    srv.stop().await;
}

#[tokio::test]
async fn skills_versions_files_and_sharing() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let (bea, bea_id) = add_user_with_id(&srv, &admin, "Bea").await;
    let (cy, _) = add_user_with_id(&srv, &admin, "Cy").await;
    group(&admin, "Writers", writer_permissions(), &[&bea_id]).await;

    let r = bea
        .post(
            "/api/v1/skills/create",
            json!({"id": "Code Review", "name": "Code review", "description": "Review diffs",
                   "files": [{"path": "SKILL.md", "content": "# Review\nBe kind."},
                             {"path": "refs/checklist.md", "content": "- tests"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], "code-review");
    let v1 = r.body["version_id"].as_str().unwrap().to_string();
    let r = bea
        .post(
            "/api/v1/skills/create",
            json!({"id": "other", "name": "Code review", "content": "x"}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        cy.post(
            "/api/v1/skills/create",
            json!({"id": "c", "name": "C", "content": "x"})
        )
        .await
        .status,
        401
    );

    assert_eq!(
        bea.get("/api/v1/skills/").await.body[0]["id"],
        "code-review"
    );
    assert_eq!(bea.get("/api/v1/skills/list").await.body["total"], 1);
    assert_eq!(cy.get("/api/v1/skills/").await.body, json!([]));
    let got = bea.get("/api/v1/skills/id/code-review").await.body;
    assert_eq!(got["content"], "# Review\nBe kind.");
    assert_eq!(got["write_access"], true);
    let files = bea
        .get(&format!(
            "/api/v1/skills/id/code-review/files?version_id={v1}"
        ))
        .await
        .body;
    assert_eq!(files["files"][1]["path"], "refs/checklist.md");
    assert_eq!(files["files"][1]["size"], 7);
    let raw = bea
        .http
        .get(srv.url(&format!(
            "/api/v1/skills/id/code-review/files/content?version_id={v1}&path=refs/checklist.md"
        )))
        .bearer_auth(bea.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.text().await.unwrap(), "- tests");

    // The editor saves operations against the version it loaded.
    let save = |expected: &str| {
        json!({"id": "code-review", "name": "Code review", "description": "Review diffs",
               "operations": [{"op": "put", "path": "SKILL.md", "content": "# Review\nBe kind and brief."},
                              {"op": "delete", "path": "refs"}],
               "expected_version_id": expected, "commit_message": "shorter"})
    };
    let r = bea
        .post("/api/v1/skills/id/code-review/update", save("stale"))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["detail"]["code"], "version_conflict");
    let r = bea
        .post("/api/v1/skills/id/code-review/update", save(&v1))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v2 = r.body["version_id"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    assert_eq!(r.body["data"]["files"].as_array().unwrap().len(), 1);
    let hist = bea.get("/api/v1/skills/id/code-review/history").await.body;
    assert_eq!(hist.as_array().unwrap().len(), 2);
    assert_eq!(hist[0]["commit_message"], "shorter");
    let diff = bea
        .get(&format!(
            "/api/v1/skills/id/code-review/history/diff?from_id={v1}&to_id={v2}"
        ))
        .await
        .body;
    assert_eq!(
        diff["files"],
        json!([{"path": "SKILL.md", "status": "modified", "binary": false},
               {"path": "refs/checklist.md", "status": "deleted", "binary": false}])
    );
    let fd = bea
        .get(&format!(
            "/api/v1/skills/id/code-review/history/diff/file?from_id={v1}&to_id={v2}&path=SKILL.md"
        ))
        .await
        .body;
    assert!(fd["diff"].as_str().unwrap().contains("+Be kind and brief."));

    // Sharing, toggling, export and a round trip.
    let r = bea
        .post(
            "/api/v1/skills/id/code-review/access/update",
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 403, "public sharing needs sharing.public_skills");
    let r = admin
        .post(
            "/api/v1/skills/id/code-review/access/update",
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(cy.get("/api/v1/skills/").await.body[0]["id"], "code-review");
    assert_eq!(
        cy.get("/api/v1/skills/id/code-review").await.body["write_access"],
        false
    );
    assert_eq!(
        cy.post("/api/v1/skills/id/code-review/toggle", json!({}))
            .await
            .status,
        401
    );
    let r = bea
        .post("/api/v1/skills/id/code-review/toggle", json!({}))
        .await;
    assert_eq!(r.body["is_active"], false);
    let r = bea.get("/api/v1/skills/export?format=skill").await;
    assert_eq!(r.status, 400, ".skill exports exactly one skill");
    let exported = bea.get("/api/v1/skills/export").await.body;
    assert_eq!(
        exported[0]["files"][0]["content"],
        "# Review\nBe kind and brief."
    );
    assert_eq!(
        bea.delete("/api/v1/skills/id/code-review/delete")
            .await
            .body,
        true
    );
    let e = &exported[0];
    let r = bea
        .post(
            "/api/v1/skills/create",
            json!({"id": e["id"], "name": e["name"], "description": e["description"],
                   "meta": e["meta"], "data": {"files": e["files"]}, "is_active": e["is_active"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["is_active"], false);
    let r = bea
        .post(
            "/api/v1/skills/id/code-review/clone",
            json!({"id": "code-review-2", "name": "Code review 2"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        bea.get("/api/v1/skills/id/code-review-2").await.body["content"],
        "# Review\nBe kind and brief."
    );
    srv.stop().await;
}

#[tokio::test]
async fn fixture_prompts_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&fixture_dir(), &data);
    let secret = std::fs::read_to_string(data.join("webui_secret_key.txt")).unwrap();
    let srv = TestServer::start(settings_for(&data, Some(&secret))).await;
    let admin = srv
        .client()
        .login("admin@example.com", "Admin-pass-1")
        .await;
    let alice = srv
        .client()
        .login("alice@example.com", "Alice-pass-1")
        .await;

    let mut all = commands(&admin.get("/api/v1/prompts/").await.body);
    all.sort();
    assert_eq!(all, vec!["haiku", "summarize"]);
    // Alice sees her own and the admin's public one.
    let mut hers = commands(&alice.get("/api/v1/prompts/").await.body);
    hers.sort();
    assert_eq!(hers, vec!["haiku", "summarize"]);
    let s = alice
        .get("/api/v1/prompts/id/67358ec8-f090-4750-9042-d0cb853725a8")
        .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["write_access"], false);
    assert_eq!(s.body["tags"], json!(["writing"]));
    assert_eq!(s.body["access_grants"][0]["principal_id"], "*");
    let h = alice
        .get("/api/v1/prompts/id/d67d36f4-adc8-419f-9aa2-a63cda8c9e16/history")
        .await
        .body;
    assert_eq!(h[0]["id"], "7704a038-0126-4e83-ae32-9116c53a3538");
    assert_eq!(h[0]["snapshot"]["command"], "haiku");
    assert_eq!(
        admin.get("/api/v1/prompts/tags").await.body,
        json!(["poetry", "writing"])
    );
    for path in ["/api/v1/tools/", "/api/v1/functions/", "/api/v1/skills/"] {
        assert_eq!(admin.get(path).await.body, json!([]), "{path}");
    }
    srv.stop().await;
}

/// Sends `files` (name, bytes) and optional `decisions` as the import dialog does.
async fn skill_upload(
    c: &Client,
    path: &str,
    files: &[(&str, Vec<u8>)],
    decisions: Option<Value>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (name, data) in files {
        form = form.part(
            "files",
            reqwest::multipart::Part::bytes(data.clone()).file_name(name.to_string()),
        );
    }
    if let Some(d) = decisions {
        form = form.text("decisions", d.to_string());
    }
    let r = c.post_multipart(path, form).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn skills_import_preview_replace_and_zip_export() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let (cy, _) = add_user_with_id(&srv, &admin, "Cy").await;
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00";
    let archive = common::zip_of(&[
        (
            "pack/knots/SKILL.md",
            b"---\nname: knots\ndescription: Tying.\n---\nBowline.",
        ),
        ("pack/knots/refs/bowline.md", b"Rabbit.\n"),
        ("pack/sails/SKILL.md", b"---\nname: sails\n---\nReef."),
        ("pack/sails/flag.png", png),
    ]);
    let files = [("skills.zip", archive)];

    // A user without workspace.skills_import may not import.
    let (status, _) = skill_upload(&cy, "/api/v1/skills/import/preview", &files, None).await;
    assert_eq!(status, 403);

    let (status, preview) =
        skill_upload(&admin, "/api/v1/skills/import/preview", &files, None).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview[0]["id"], "knots");
    assert_eq!(preview[0]["description"], "Tying.");
    assert_eq!(preview[1]["id"], "sails");
    assert_eq!(preview[1]["files"][0]["path"], "SKILL.md");
    assert_eq!(preview[1]["files"][1]["encoding"], "base64");
    assert_eq!(preview[0]["id_taken"], false);

    let decisions = json!([{"action": "create", "id": "knots", "name": "knots"},
                           {"action": "skip"}]);
    let (status, results) =
        skill_upload(&admin, "/api/v1/skills/import", &files, Some(decisions)).await;
    assert_eq!(status, 200, "{results}");
    assert_eq!(
        results,
        json!([{"status": "saved", "id": "knots"}, {"status": "skipped", "id": "sails"}])
    );
    let knots = admin.get("/api/v1/skills/id/knots").await.body;
    let v1 = knots["version_id"].as_str().unwrap().to_string();
    let listed = admin
        .get(&format!("/api/v1/skills/id/knots/files?version_id={v1}"))
        .await
        .body;
    assert_eq!(listed["files"].as_array().unwrap().len(), 2, "{listed}");

    // Importing it again offers Replace, against the current version.
    let md = [("SKILL.md", b"---\nname: knots\n---\nClove hitch.".to_vec())];
    let (_, again) = skill_upload(&admin, "/api/v1/skills/import/preview", &md, None).await;
    assert_eq!(again[0]["id_taken"], true);
    assert_eq!(again[0]["can_replace"], true);
    assert_eq!(again[0]["expected_version_id"], v1.as_str());
    let stale = json!([{"action": "replace", "id": "knots", "name": "knots",
                        "expected_version_id": "stale"}]);
    let (_, r) = skill_upload(&admin, "/api/v1/skills/import", &md, Some(stale)).await;
    assert_eq!(r[0]["status"], "error");
    assert_eq!(r[0]["error"]["code"], "version_conflict");
    let replace = json!([{"action": "replace", "id": "knots", "name": "knots",
                          "expected_version_id": v1}]);
    let (_, r) = skill_upload(&admin, "/api/v1/skills/import", &md, Some(replace)).await;
    assert_eq!(r, json!([{"status": "saved", "id": "knots"}]));
    assert_eq!(
        admin
            .get("/api/v1/skills/id/knots/history")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Hostile uploads are refused with a clear 400.
    for bad in [
        common::zip_of(&[("../SKILL.md", b"x")]),
        common::zip_of(&[("a/SKILL.md", b"x"), ("stray.txt", b"y")]),
        b"PK not really".to_vec(),
    ] {
        let (status, body) = skill_upload(
            &admin,
            "/api/v1/skills/import/preview",
            &[("x.zip", bad)],
            None,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(body["detail"].is_string());
    }

    // The ZIP export holds each file under the skill's folder.
    let r = admin
        .http
        .get(admin.base.clone() + "/api/v1/skills/export?format=zip&ids=knots")
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, vec!["knots/SKILL.md"]);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("knots/SKILL.md").unwrap(), &mut text).unwrap();
    assert!(text.contains("Clove hitch."), "{text}");
    srv.stop().await;
}
