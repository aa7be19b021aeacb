//! Automations: CRUD, schedule validation and limits, isolation between
//! users, "run now" producing a chat with the mock model's answer, and the
//! background scheduler running a due automation.

mod common;

use std::time::Duration;

use common::mock_llm::MockLlm;
use common::{add_user, admin, Client, TestServer};
use serde_json::{json, Value};

fn form(name: &str, rrule: &str) -> Value {
    json!({"name": name, "data": {"prompt": "Say hello", "model_id": "gpt-mock", "rrule": rrule}})
}

/// Polls the runs list until one exists (bounded).
async fn wait_for_run(c: &Client, id: &str, secs: u64) -> Value {
    for _ in 0..secs * 10 {
        let r = c.get(&format!("/api/v1/automations/{id}/runs")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if !r.body.as_array().unwrap().is_empty() {
            return r.body[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no run recorded for {id} within {secs}s");
}

#[tokio::test]
async fn crud_validation_and_isolation() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let alice = add_user(&srv, &admin, "alice").await;
    let bob = add_user(&srv, &admin, "bob").await;

    // Plain users need features.automations (off by default).
    assert_eq!(alice.get("/api/v1/automations/list").await.status, 403);
    common::set_default_permission(&admin, "features.automations", true).await;

    let r = alice
        .post(
            "/api/v1/automations/create",
            form("Morning", "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["is_active"], true);
    assert_eq!(r.body["data"]["prompt"], "Say hello");
    assert_eq!(r.body["last_run"], Value::Null);
    let next = r.body["next_runs"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    let day = 86_400_000_000_000i64;
    assert_eq!(next[1].as_i64().unwrap() - next[0].as_i64().unwrap(), day);
    assert_eq!(r.body["next_run_at"], next[0]);
    // 09:00 UTC.
    assert_eq!(next[0].as_i64().unwrap() % day, 9 * 3_600_000_000_000);

    // Invalid schedules.
    for (rule, msg) in [
        ("RRULE:FREQ=SOMETIMES", "Invalid RRULE"),
        (
            "RRULE:FREQ=DAILY;COUNT=3",
            "RRULE with COUNT requires an explicit DTSTART",
        ),
        (
            "DTSTART:20000101T000000\nRRULE:FREQ=DAILY;COUNT=1",
            "RRULE has no future occurrences",
        ),
    ] {
        let r = alice
            .post("/api/v1/automations/create", form("Bad", rule))
            .await;
        assert_eq!(r.status, 400, "{rule}: {}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().starts_with(msg),
            "{}",
            r.body
        );
    }
    let r = alice
        .post("/api/v1/automations/create", json!({"name": "x"}))
        .await;
    assert_eq!(r.status, 422);

    // Update, toggle, list with filters.
    let mut f = form(
        "Evening",
        "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=18;BYMINUTE=30",
    );
    f["meta"] = json!({"k": "v"});
    let r = alice
        .post(&format!("/api/v1/automations/{id}/update"), f)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Evening");
    assert_eq!(r.body["meta"], json!({"k": "v"}));
    let r = alice
        .post(&format!("/api/v1/automations/{id}/toggle"), json!({}))
        .await;
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["next_run_at"], Value::Null);
    let r = alice
        .post(
            "/api/v1/automations/create",
            form("Other", "RRULE:FREQ=HOURLY"),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = alice.get("/api/v1/automations/list").await;
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["items"][0]["name"], "Other");
    assert_eq!(r.body["items"][0]["next_runs"], Value::Null);
    let r = alice.get("/api/v1/automations/list?status=paused").await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["id"], id.as_str());
    let r = alice.get("/api/v1/automations/list?query=even").await;
    assert_eq!(r.body["total"], 1);
    let r = alice
        .post(&format!("/api/v1/automations/{id}/toggle"), json!({}))
        .await;
    assert_eq!(r.body["is_active"], true);
    assert!(r.body["next_run_at"].is_i64());

    // Bob sees nothing of Alice's.
    assert_eq!(bob.get("/api/v1/automations/list").await.body["total"], 0);
    for (method, path) in [
        ("GET", format!("/api/v1/automations/{id}")),
        ("POST", format!("/api/v1/automations/{id}/toggle")),
        ("POST", format!("/api/v1/automations/{id}/run")),
        ("GET", format!("/api/v1/automations/{id}/runs")),
        ("DELETE", format!("/api/v1/automations/{id}/delete")),
    ] {
        let r = match method {
            "GET" => bob.get(&path).await,
            "POST" => bob.post(&path, json!({})).await,
            _ => bob.delete(&path).await,
        };
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let r = bob
        .post(
            &format!("/api/v1/automations/{id}/update"),
            form("Mine", "RRULE:FREQ=DAILY"),
        )
        .await;
    assert_eq!(r.status, 404);

    // Limits apply to users, not admins.
    let r = admin
        .post(
            "/api/v1/configs/import",
            json!({"config": {"automations.min_interval": 7200, "automations.max_count": "2"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = alice
        .post(
            "/api/v1/automations/create",
            form("Third", "RRULE:FREQ=DAILY"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["detail"], "Automation limit reached (2)");
    let r = alice
        .post(
            &format!("/api/v1/automations/{id}/update"),
            form("Fast", "RRULE:FREQ=HOURLY"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["detail"],
        "Schedule too frequent. Minimum interval is 7200 seconds."
    );
    let r = admin
        .post(
            "/api/v1/automations/create",
            form("Fast", "RRULE:FREQ=HOURLY"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Delete.
    let r = alice
        .delete(&format!("/api/v1/automations/{id}/delete"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!(true));
    assert_eq!(
        alice.get(&format!("/api/v1/automations/{id}")).await.status,
        404
    );
}

#[tokio::test]
async fn run_now_creates_chat_with_model_answer() {
    let llm = MockLlm::openai(&["gpt-mock"]).await;
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    common::connect_openai(&admin, &llm.url).await;

    let r = admin
        .post(
            "/api/v1/automations/create",
            form("Greeter", "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(&format!("/api/v1/automations/{id}/run"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["last_run_at"].is_i64());

    let run = wait_for_run(&admin, &id, 20).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["automation_id"], id.as_str());
    let chat_id = run["chat_id"].as_str().unwrap();
    let chat = admin.get(&format!("/api/v1/chats/{chat_id}")).await;
    assert_eq!(chat.status, 200, "{}", chat.body);
    assert_eq!(chat.body["title"], "Greeter");
    let history = &chat.body["chat"]["history"];
    let current = history["currentId"].as_str().unwrap();
    let reply = &history["messages"][current];
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["content"], "Hello from the mock.");
    assert_eq!(reply["done"], true);
    let parent = reply["parentId"].as_str().unwrap();
    assert_eq!(history["messages"][parent]["content"], "Say hello");
    // The model was asked the prompt.
    let asked = llm.chat_requests();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].body.to_string().contains("Say hello"));

    // The single view carries the latest run; the calendar shows it.
    let r = admin.get(&format!("/api/v1/automations/{id}")).await;
    assert_eq!(r.body["last_run"]["id"], run["id"]);
    let r = admin
        .get("/api/v1/calendars/events?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z&calendar_ids=__scheduled_tasks__")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let evs = r.body.as_array().unwrap();
    let past = evs
        .iter()
        .find(|e| e["meta"]["run_id"] == run["id"])
        .expect("run event");
    assert_eq!(past["meta"]["chat_id"], chat_id);
    let planned: Vec<&Value> = evs
        .iter()
        .filter(|e| e["id"] == format!("auto_{id}"))
        .collect();
    assert!(!planned.is_empty(), "planned runs listed");
    let hour = 3_600_000_000_000i64;
    for p in planned {
        assert_eq!(
            p["start_at"].as_i64().unwrap() % (24 * hour),
            9 * hour,
            "{p}"
        );
        assert_eq!(p["meta"]["automation_id"], id.as_str());
    }

    // A failing model is recorded as an error run, with the chat kept.
    let r = admin
        .post("/api/v1/automations/create", json!({"name": "Broken", "data": {"prompt": "x", "model_id": "no-such-model", "rrule": "RRULE:FREQ=DAILY"}}))
        .await;
    let broken = r.body["id"].as_str().unwrap().to_string();
    admin
        .post(&format!("/api/v1/automations/{broken}/run"), json!({}))
        .await;
    let run = wait_for_run(&admin, &broken, 20).await;
    assert_eq!(run["status"], "error", "{run}");
    assert!(!run["error"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn scheduler_runs_due_automation() {
    // One-second polls for this test binary's servers.
    std::env::set_var("SCHEDULER_POLL_INTERVAL", "1");
    let llm = MockLlm::openai(&["gpt-mock"]).await;
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    common::connect_openai(&admin, &llm.url).await;

    // A one-off run three seconds from now (UTC wall clock).
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let rule = format!(
        "DTSTART:{}\nRRULE:FREQ=DAILY;COUNT=1",
        at.format("%Y%m%dT%H%M%S")
    );
    let r = admin
        .post("/api/v1/automations/create", form("Once", &rule))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["next_runs"].as_array().unwrap().len(), 1);

    let run = wait_for_run(&admin, &id, 30).await;
    assert_eq!(run["status"], "success", "{run}");
    let r = admin.get(&format!("/api/v1/automations/{id}")).await;
    // Exhausted: nothing planned any more, and it ran exactly once.
    assert_eq!(r.body["next_run_at"], Value::Null);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let runs = admin.get(&format!("/api/v1/automations/{id}/runs")).await;
    assert_eq!(runs.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn scheduler_marks_calendar_alerts() {
    std::env::set_var("SCHEDULER_POLL_INTERVAL", "1");
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let cal = admin.get("/api/v1/calendars/").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let minute = 60_000_000_000i64;
    let mk = |title: &str, start: i64, meta: Value| json!({"calendar_id": cal, "title": title, "start_at": start, "meta": meta});
    // Starts in 2 minutes: inside the default 10-minute window.
    let soon = admin
        .post(
            "/api/v1/calendars/events/create",
            mk("Soon", now_ns + 2 * minute, json!({})),
        )
        .await;
    assert_eq!(soon.status, 200, "{}", soon.body);
    // Alerts switched off for this one, and one far away.
    let off = admin
        .post(
            "/api/v1/calendars/events/create",
            mk("Quiet", now_ns + 2 * minute, json!({"alert_minutes": -1})),
        )
        .await;
    let far = admin
        .post(
            "/api/v1/calendars/events/create",
            mk("Far", now_ns + 300 * minute, json!({})),
        )
        .await;
    let soon_id = soon.body["id"].as_str().unwrap();
    let mut alerted = Value::Null;
    for _ in 0..60 {
        alerted = admin
            .get(&format!("/api/v1/calendars/events/{soon_id}"))
            .await
            .body["meta"]["alerted_at"]
            .clone();
        if !alerted.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        alerted, soon.body["start_at"],
        "alert recorded for the start time"
    );
    for ev in [off, far] {
        let id = ev.body["id"].as_str().unwrap();
        let meta = &admin
            .get(&format!("/api/v1/calendars/events/{id}"))
            .await
            .body["meta"];
        assert!(meta.get("alerted_at").is_none(), "{meta}");
    }
}

#[tokio::test]
async fn schedules_follow_the_user_time_zone() {
    if !std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists() {
        return; // no tz database on this machine: schedules fall back to UTC
    }
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let r = admin
        .post(
            "/api/v1/auths/update/timezone",
            json!({"timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin
        .post(
            "/api/v1/automations/create",
            form("Local nine", "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hour = 3_600_000_000_000i64;
    for t in r.body["next_runs"].as_array().unwrap() {
        // 09:00 in New York is 13:00 or 14:00 UTC depending on daylight saving time.
        let utc_hour = t.as_i64().unwrap() % (24 * hour) / hour;
        assert!(utc_hour == 13 || utc_hour == 14, "{utc_hour}");
    }
}

#[tokio::test]
async fn schedule_survives_a_restart() {
    std::env::set_var("SCHEDULER_POLL_INTERVAL", "1");
    let llm = MockLlm::openai(&["gpt-mock"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let first = TestServer::start(common::settings_for(tmp.path(), Some("test-secret"))).await;
    let admin_a = admin(&first).await;
    common::connect_openai(&admin_a, &llm.url).await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let rule = format!(
        "DTSTART:{}\nRRULE:FREQ=DAILY;COUNT=1",
        at.format("%Y%m%dT%H%M%S")
    );
    let r = admin_a
        .post("/api/v1/automations/create", form("After restart", &rule))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    first.stop().await;

    // A new server on the same data folder runs it when it falls due.
    let second = TestServer::start(common::settings_for(tmp.path(), Some("test-secret"))).await;
    let admin_b = second
        .client()
        .login("admin@example.com", "Admin-pass-1")
        .await;
    let run = wait_for_run(&admin_b, &id, 30).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(llm.chat_requests().len(), 1);
    second.stop().await;
}
