//! Code execution and the chat's code interpreter, over the real wire: a
//! real Jupyter server (installed by `.ci/run` into ~/.cache/owui-jupyter)
//! behind `POST /api/v1/utils/code/execute` and behind the interpreter loop
//! with a scripted model, and the Pyodide engine through a raw Socket.IO tab
//! that answers `execute:python`.
//!
//! Without Jupyter the Jupyter tests fail under `CI=true` and are skipped,
//! with a message, elsewhere.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::scripted::{tool_names, Script};
use common::tab::{answering_tab, Tab};
use common::{Client, TestServer};
use serde_json::{json, Value};

const TOKEN: &str = "test-jupyter-token";

fn jupyter_bin() -> Option<PathBuf> {
    // Where .ci/run installs it.
    let cache = match std::env::var("XDG_CACHE_HOME") {
        Ok(c) if !c.is_empty() => PathBuf::from(c),
        _ => PathBuf::from(std::env::var("HOME").ok()?).join(".cache"),
    };
    let bin = cache.join("owui-jupyter/venv/bin/jupyter-server");
    bin.exists().then_some(bin)
}

struct Jupyter {
    url: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

/// A Jupyter server on a free loopback port with [`TOKEN`], or `None` (after
/// saying why) when it is not installed and this is not CI.
async fn jupyter() -> Option<Jupyter> {
    jupyter_with(&[format!("--IdentityProvider.token={TOKEN}")]).await
}

async fn jupyter_with(auth: &[String]) -> Option<Jupyter> {
    let Some(bin) = jupyter_bin() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("Jupyter is not installed in ~/.cache/owui-jupyter (.ci/run installs it)");
        }
        eprintln!(
            "SKIPPED: no Jupyter in ~/.cache/owui-jupyter/venv; run the install step of .ci/run"
        );
        return None;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let venv_bin = bin.parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = tokio::process::Command::new(&bin)
        .args([
            "--ServerApp.ip=127.0.0.1",
            &format!("--ServerApp.port={port}"),
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            "--allow-root",
            &format!("--ServerApp.root_dir={}", dir.path().display()),
        ])
        .args(auth)
        .env("PATH", path)
        .env("JUPYTER_RUNTIME_DIR", dir.path().join("runtime"))
        .env(
            "JUPYTER_DATA_DIR",
            venv_bin.parent().unwrap().join("share/jupyter"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("jupyter-server starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..240 {
        // Any answer means the server is up (403 without the credentials).
        let r = http.get(format!("{url}/api/status")).send().await;
        if r.is_ok() {
            return Some(Jupyter {
                url,
                _child: child,
                _dir: dir,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the Jupyter server did not come up");
}

async fn set(srv: &TestServer, entries: Vec<(&'static str, Value)>) {
    srv.state
        .as_ref()
        .unwrap()
        .config
        .set_many(entries)
        .await
        .unwrap();
}

async fn use_jupyter(srv: &TestServer, prefix: &str, url: &str, token: &str, timeout: u64) {
    let keys: [&'static str; 5] = if prefix == "code_execution" {
        [
            "code_execution.engine",
            "code_execution.jupyter.url",
            "code_execution.jupyter.auth",
            "code_execution.jupyter.auth_token",
            "code_execution.jupyter.timeout",
        ]
    } else {
        [
            "code_interpreter.engine",
            "code_interpreter.jupyter.url",
            "code_interpreter.jupyter.auth",
            "code_interpreter.jupyter.auth_token",
            "code_interpreter.jupyter.timeout",
        ]
    };
    set(
        srv,
        vec![
            (keys[0], json!("jupyter")),
            (keys[1], json!(url)),
            (keys[2], json!("token")),
            (keys[3], json!(token)),
            (keys[4], json!(timeout)),
        ],
    )
    .await;
}

async fn execute(c: &Client, code: &str) -> Value {
    let r = c
        .post("/api/v1/utils/code/execute", json!({"code": code}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn code_runs_on_a_real_jupyter_server() {
    let Some(j) = jupyter().await else { return };
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let user = common::add_user(&srv, &admin, "Ada").await;

    // The Pyodide engine runs in the browser: the server has nothing to run.
    let r = user
        .post("/api/v1/utils/code/execute", json!({"code": "1"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    use_jupyter(&srv, "code_execution", &j.url, TOKEN, 20).await;
    let out = execute(&user, "print(6 * 7)\n'x' * 3").await;
    assert_eq!(out["stdout"], "42", "{out}");
    assert_eq!(out["result"], "'xxx'", "{out}");
    assert_eq!(out["stderr"], "", "{out}");

    // The kernel's error comes back as stderr, without terminal colours.
    let out = execute(&user, "1 / 0").await;
    let err = out["stderr"].as_str().unwrap();
    assert!(err.contains("ZeroDivisionError"), "{out}");
    assert!(!err.contains('\u{1b}'), "{out}");

    // Every run gets its own kernel, which is shut down afterwards.
    let kernels: Value = reqwest::get(format!("{}/api/kernels?token={TOKEN}", j.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kernels, json!([]), "kernels left running");

    // A run longer than the timeout is cut off.
    use_jupyter(&srv, "code_execution", &j.url, TOKEN, 2).await;
    let started = std::time::Instant::now();
    let out = execute(&user, "import time\nprint('before')\ntime.sleep(30)").await;
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out["stderr"].as_str().unwrap().contains("timed out"),
        "{out}"
    );

    // A wrong token and a server that is down are errors in stderr.
    use_jupyter(&srv, "code_execution", &j.url, "wrong-token", 20).await;
    let out = execute(&user, "print(1)").await;
    assert!(
        out["stderr"]
            .as_str()
            .unwrap()
            .contains("refused the credentials"),
        "{out}"
    );
    let down = common::mock_llm::closed_port_url().await;
    use_jupyter(&srv, "code_execution", &down, TOKEN, 20).await;
    let out = execute(&user, "print(1)").await;
    assert!(
        out["stderr"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{out}"
    );
}

#[tokio::test]
async fn password_sign_in_works() {
    let Some(hash) = jupyter_bin().and_then(|bin| {
        let python = bin.parent().unwrap().join("python");
        let out = std::process::Command::new(python)
            .args([
                "-c",
                "from jupyter_server.auth import passwd; print(passwd('s3cret'))",
            ])
            .output()
            .ok()?;
        Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
    }) else {
        // jupyter() says why (and fails under CI).
        assert!(jupyter().await.is_none());
        return;
    };
    let Some(j) = jupyter_with(&[
        "--IdentityProvider.token=".to_string(),
        format!("--PasswordIdentityProvider.hashed_password={hash}"),
    ])
    .await
    else {
        return;
    };
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let password = |p: &str| {
        vec![
            ("code_execution.engine", json!("jupyter")),
            ("code_execution.jupyter.url", json!(j.url)),
            ("code_execution.jupyter.auth", json!("password")),
            ("code_execution.jupyter.auth_password", json!(p)),
        ]
    };
    set(&srv, password("s3cret")).await;
    let out = execute(&admin, "print('signed in')").await;
    assert_eq!(out["stdout"], "signed in", "{out}");
    set(&srv, password("wrong")).await;
    let out = execute(&admin, "print('signed in')").await;
    assert_eq!(out["stdout"], "", "{out}");
    assert!(
        out["stderr"].as_str().unwrap().starts_with("Error:"),
        "{out}"
    );
}

#[tokio::test]
async fn hostile_or_disabled_requests_are_refused() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let user = common::add_user(&srv, &admin, "Ada").await;
    let down = common::mock_llm::closed_port_url().await;
    use_jupyter(&srv, "code_execution", &down, TOKEN, 20).await;

    let huge = "x = 1\n".repeat(200_000);
    let r = user
        .post("/api/v1/utils/code/execute", json!({"code": huge}))
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = user
        .post("/api/v1/utils/code/execute", json!({"source": "1"}))
        .await;
    assert!(
        r.status == 422 || r.status == 400,
        "{} {}",
        r.status,
        r.body
    );
    let raw = reqwest::Client::new()
        .post(srv.url("/api/v1/utils/code/execute"))
        .bearer_auth(user.token.as_deref().unwrap())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(raw.status().is_client_error(), "{}", raw.status());
    let anonymous = srv
        .client()
        .post("/api/v1/utils/code/execute", json!({"code": "1"}))
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    set(&srv, vec![("code_execution.enable", json!(false))]).await;
    let r = user
        .post("/api/v1/utils/code/execute", json!({"code": "1"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // The chat's switch follows the setting.
    let config = user.get("/api/config").await.body;
    assert_eq!(
        config["features"]["enable_code_interpreter"], true,
        "{config}"
    );
    set(&srv, vec![("code_interpreter.enable", json!(false))]).await;
    let config = user.get("/api/config").await.body;
    assert_eq!(
        config["features"]["enable_code_interpreter"], false,
        "{config}"
    );
}

// ------------------------------------------------------------ chat turns

const MODEL: &str = "mock-gpt";

async fn chat_env() -> (TestServer, Client, Script) {
    common::scripted::server_with_script().await
}

fn chat_body(session: &str, legacy: bool, question: &str) -> Value {
    let params = if legacy {
        json!({"function_calling": "legacy"})
    } else {
        json!({})
    };
    json!({
        "stream": true, "model": MODEL, "params": params,
        "features": {"code_interpreter": true},
        "session_id": session, "id": "a-1", "parent_id": null,
        "user_message": {"id": "u-1", "parentId": null, "childrenIds": ["a-1"], "role": "user",
                          "content": question, "timestamp": 1, "models": [MODEL]},
        "background_tasks": {},
    })
}

/// Starts the turn and waits (bounded) for the stored reply to finish.
async fn chat(c: &Client, body: Value) -> Value {
    common::scripted::run_turn(c, body, "a-1").await
}

fn block(code: &str) -> String {
    format!("Let me compute that.\n<code_interpreter type=\"code\" lang=\"python\">\n{code}\n</code_interpreter>\nIGNORED tail")
}

fn assistant_texts(request: &Value) -> String {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_interpreter_loop_runs_blocks_on_jupyter() {
    let Some(j) = jupyter().await else { return };
    let (srv, admin, script) = chat_env().await;
    use_jupyter(&srv, "code_interpreter", &j.url, TOKEN, 20).await;

    script.queue(json!({"text": block("print(6 * 7)")}));
    script.queue(json!({"text": block("1 / 0")}));
    script.queue(json!({"text": "The answer is 42."}));
    let a = chat(&admin, chat_body("no-tab", true, "What is 6 times 7?")).await;
    assert!(a["error"].is_null(), "{a}");
    let seen = script.requests();
    assert_eq!(seen.len(), 3, "{seen:?}");
    // The instructions join the user's message; no tools are sent.
    let first_user = seen[0]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        first_user["content"]
            .as_str()
            .unwrap()
            .contains("<code_interpreter"),
        "{first_user}"
    );
    assert!(tool_names(&seen[0]).is_empty());
    // The model reads each block back with its output, errors included.
    let second = assistant_texts(&seen[1]);
    assert!(
        second.contains("<code_interpreter>\nprint(6 * 7)\n</code_interpreter>"),
        "{second}"
    );
    assert!(
        second.contains("<code_interpreter_output>\n42\n</code_interpreter_output>"),
        "{second}"
    );
    assert!(
        !second.contains("IGNORED"),
        "the stream stops at the block: {second}"
    );
    let third = assistant_texts(&seen[2]);
    assert!(third.contains("ZeroDivisionError"), "{third}");

    // Stored as upstream stores it, so a reload renders the same.
    let output = a["output"].as_array().unwrap();
    let blocks: Vec<&Value> = output
        .iter()
        .filter(|i| i["type"] == "open_webui:code_interpreter")
        .collect();
    assert_eq!(blocks.len(), 2, "{output:?}");
    assert_eq!(blocks[0]["code"], "print(6 * 7)");
    assert_eq!(blocks[0]["lang"], "python");
    assert_eq!(blocks[0]["attributes"]["type"], "code");
    assert_eq!(blocks[0]["status"], "completed");
    assert_eq!(blocks[0]["output"]["stdout"], "42");
    assert!(blocks[0]["id"].as_str().unwrap().starts_with("ci_"));
    assert!(blocks[1]["output"]["stderr"]
        .as_str()
        .unwrap()
        .contains("ZeroDivisionError"));
    assert_eq!(output[0]["type"], "message");
    assert_eq!(
        output[0]["content"][0]["text"].as_str().unwrap().trim(),
        "Let me compute that."
    );
    let last = output.last().unwrap();
    assert_eq!(last["content"][0]["text"], "The answer is 42.");
    assert!(a["content"].as_str().unwrap().contains("The answer is 42."));
}

#[tokio::test]
async fn blocks_are_bounded_and_need_the_feature_and_permission() {
    let (srv, admin, script) = chat_env().await;
    let down = common::mock_llm::closed_port_url().await;
    use_jupyter(&srv, "code_interpreter", &down, TOKEN, 5).await;
    for _ in 0..7 {
        script.queue(json!({"text": block("print(1)")}));
    }
    let a = chat(&admin, chat_body("no-tab", true, "loop forever")).await;
    assert!(a["error"].is_null(), "{a}");
    // The first answer and five runs: six requests, then the loop stops.
    assert_eq!(script.requests().len(), 6);
    let texts = assistant_texts(&script.requests()[1]);
    assert!(texts.contains("could not be reached"), "{texts}");

    // Switched off on the server: no prompt, blocks stay text.
    set(&srv, vec![("code_interpreter.enable", json!(false))]).await;
    script.replies.lock().unwrap().clear();
    script.queue(json!({"text": block("print(2)")}));
    let before = script.requests().len();
    let body = chat_body("no-tab", true, "again");
    let a = chat(&admin, body).await;
    assert_eq!(script.requests().len(), before + 1);
    assert!(
        a["content"].as_str().unwrap().contains("<code_interpreter"),
        "{a}"
    );
    let user_text = script.requests()[before]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .clone();
    assert_eq!(user_text, "again");
}

#[tokio::test]
async fn native_calling_offers_execute_code_on_jupyter() {
    let Some(j) = jupyter().await else { return };
    let (srv, admin, script) = chat_env().await;
    use_jupyter(&srv, "code_interpreter", &j.url, TOKEN, 20).await;
    script.queue(
        json!({"calls": [["call_1", "execute_code", json!({"code": "print(3 + 4)"}).to_string()]]}),
    );
    script.queue(json!({"text": "Seven."}));
    let a = chat(&admin, chat_body("not-a-socket", false, "3+4?")).await;
    assert!(a["error"].is_null(), "{a}");
    let seen = script.requests();
    assert!(tool_names(&seen[0]).contains(&"execute_code".to_string()));
    let result = seen[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .clone();
    let result: Value = serde_json::from_str(result.as_str().unwrap()).unwrap();
    assert_eq!(result["stdout"], "7", "{result}");
    assert_eq!(result["status"], "success");
    // Without the feature the tool is not offered.
    let mut body = chat_body("not-a-socket", false, "no code");
    body["features"] = json!({});
    body["id"] = json!("a-1");
    script.queue(json!({"text": "ok"}));
    chat(&admin, body).await;
    let last = script.requests().last().unwrap().clone();
    assert!(!tool_names(&last).contains(&"execute_code".to_string()));
}

#[tokio::test]
async fn pyodide_runs_in_the_users_own_tab() {
    let (srv, admin, script) = chat_env().await;
    let token = admin.token.clone().unwrap();
    let answer = json!({"stdout": "hello from the tab\n", "stderr": null, "result": null});
    let (sid, asked) = answering_tab(&srv, &token, "execute:python", Tab::Answers(answer)).await;
    script.queue(json!({"text": block("print('hello from the tab')")}));
    script.queue(json!({"text": "It printed hello."}));
    let a = chat(&admin, chat_body(&sid, true, "say hello")).await;
    assert!(a["error"].is_null(), "{a}");
    {
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 1);
        let data = &asked[0]["data"]["data"];
        assert_eq!(data["code"], "print('hello from the tab')");
        assert_eq!(data["session_id"], sid.as_str());
        assert!(!data["id"].as_str().unwrap().is_empty());
        assert_eq!(asked[0]["message_id"], "a-1");
    }
    // The browser engine's notes join the instructions.
    let first_user = script.requests()[0]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(first_user.contains("/mnt/uploads"), "{first_user}");
    let texts = assistant_texts(&script.requests()[1]);
    assert!(texts.contains("hello from the tab"), "{texts}");
    let item = a["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "open_webui:code_interpreter")
        .unwrap()
        .clone();
    assert_eq!(item["output"]["stdout"], "hello from the tab\n");

    // Native calling: the same tab runs `execute_code`.
    script
        .queue(json!({"calls": [["c1", "execute_code", json!({"code": "print(1)"}).to_string()]]}));
    script.queue(json!({"text": "done"}));
    let a = chat(&admin, chat_body(&sid, false, "native")).await;
    assert!(a["error"].is_null(), "{a}");
    assert_eq!(asked.lock().unwrap().len(), 2);
    let last = script.requests().last().unwrap().clone();
    let system = last["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(system.contains("/mnt/uploads"), "{system}");

    // Another user's tab is never asked: the model reads that the session is gone.
    common::open_model_to_everyone(&admin, MODEL, "Helper").await;
    let bea = common::add_user(&srv, &admin, "Bea").await;
    script.queue(json!({"text": block("print(2)")}));
    script.queue(json!({"text": "no tab"}));
    let a = chat(&bea, chat_body(&sid, true, "use their tab")).await;
    assert!(a["error"].is_null(), "{a}");
    assert_eq!(asked.lock().unwrap().len(), 2);
    let texts = assistant_texts(script.requests().last().unwrap());
    assert!(texts.contains("Client session disconnected"), "{texts}");
}

#[tokio::test]
async fn a_tab_that_never_answers_or_hangs_up_is_output_not_a_failed_chat() {
    // The wait for the tab is bounded by the same setting upstream uses.
    std::env::set_var("WEBSOCKET_EVENT_CALLER_TIMEOUT", "2");
    let (srv, admin, script) = chat_env().await;
    let token = admin.token.clone().unwrap();

    let (sid, asked) = answering_tab(&srv, &token, "execute:python", Tab::Silent).await;
    script.queue(json!({"text": block("while True: pass")}));
    script.queue(json!({"text": "It never finished."}));
    let started = std::time::Instant::now();
    let a = chat(&admin, chat_body(&sid, true, "spin")).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(a["error"].is_null(), "{a}");
    assert_eq!(asked.lock().unwrap().len(), 1);
    let texts = assistant_texts(&script.requests()[1]);
    assert!(texts.contains("timed out"), "{texts}");
    assert!(
        a["content"]
            .as_str()
            .unwrap()
            .contains("It never finished."),
        "{a}"
    );

    // Native calling: the tool result says so, and the reply goes on.
    script
        .queue(json!({"calls": [["c1", "execute_code", json!({"code": "input()"}).to_string()]]}));
    script.queue(json!({"text": "The tab did not answer."}));
    let a = chat(&admin, chat_body(&sid, false, "native")).await;
    assert!(a["error"].is_null(), "{a}");
    let result = script.requests().last().unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .clone();
    assert!(result.as_str().unwrap().contains("timed out"), "{result}");

    // A tab that closes while asked: the model reads that it is gone, at
    // once rather than after the timeout.
    std::env::set_var("WEBSOCKET_EVENT_CALLER_TIMEOUT", "60");
    let (sid, asked) = answering_tab(&srv, &token, "execute:python", Tab::HangsUp).await;
    script.queue(json!({"text": block("print(1)")}));
    script.queue(json!({"text": "The tab went away."}));
    let started = std::time::Instant::now();
    let a = chat(&admin, chat_body(&sid, true, "bye")).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(a["error"].is_null(), "{a}");
    assert_eq!(asked.lock().unwrap().len(), 1);
    let texts = assistant_texts(script.requests().last().unwrap());
    assert!(texts.contains("disconnected"), "{texts}");
}
