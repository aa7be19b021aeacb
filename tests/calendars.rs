//! Calendars and events: the default calendar, CRUD, sharing through access
//! grants, isolation between users, recurring events, attendees and RSVP.

mod common;

use common::{add_user, admin, TestServer};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000_000_000;
/// 2026-04-01T00:00:00Z in nanoseconds.
const APRIL_1: i64 = 1_775_001_600_000_000_000;

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn default_calendar_crud_and_events() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let alice = add_user(&srv, &admin, "alice").await;

    // First access creates the default "Personal" calendar; automations are
    // off for plain users by default, so no Scheduled Tasks calendar.
    let r = alice.get("/api/v1/calendars/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cals = r.body.as_array().unwrap().clone();
    assert_eq!(cals.len(), 1, "{}", r.body);
    assert_eq!(cals[0]["name"], "Personal");
    assert_eq!(cals[0]["is_default"], true);
    assert_eq!(cals[0]["is_system"], false);
    assert_eq!(cals[0]["access_grants"], json!([]));
    let personal = cals[0]["id"].as_str().unwrap().to_string();
    // A second listing does not create another.
    assert_eq!(
        ids(&alice.get("/api/v1/calendars/").await.body),
        vec![personal.clone()]
    );
    // The admin has automations, hence the virtual calendar.
    let r = admin.get("/api/v1/calendars/").await;
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Personal", "Scheduled Tasks"]);
    assert_eq!(r.body[1]["id"], "__scheduled_tasks__");
    assert_eq!(r.body[1]["is_system"], true);

    let r = alice
        .post(
            "/api/v1/calendars/create",
            json!({"name": "Work", "color": "#ff0000"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let work = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["is_default"], false);
    let r = alice
        .post(
            &format!("/api/v1/calendars/{work}/update"),
            json!({"name": "Job", "meta": {"a": 1}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Job");
    assert_eq!(r.body["color"], "#ff0000");
    assert_eq!(r.body["meta"], json!({"a": 1}));

    // Default switches; the default one cannot be deleted.
    let r = alice
        .post(&format!("/api/v1/calendars/{work}/default"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["is_default"], true);
    let r = alice.get(&format!("/api/v1/calendars/{personal}")).await;
    assert_eq!(r.body["is_default"], false);
    let r = alice
        .delete(&format!("/api/v1/calendars/{work}/delete"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["detail"], "Default calendar cannot be deleted");
    let r = alice
        .delete("/api/v1/calendars/__scheduled_tasks__/delete")
        .await;
    assert_eq!(r.status, 400);

    // Events: one-off in range, one outside, a weekly one expanded.
    let mk = |title: &str, start: i64, rrule: Value| {
        json!({"calendar_id": personal, "title": title, "start_at": start, "end_at": start + HOUR,
               "rrule": rrule, "location": "Room 1"})
    };
    let r = alice
        .post(
            "/api/v1/calendars/events/create",
            mk("Standup", APRIL_1 + 9 * HOUR, Value::Null),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Standup");
    assert_eq!(r.body["attendees"], json!([]));
    let standup = r.body["id"].as_str().unwrap().to_string();
    let r = alice
        .post(
            "/api/v1/calendars/events/create",
            mk("Later", APRIL_1 + 24 * 40 * HOUR, Value::Null),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = alice
        .post(
            "/api/v1/calendars/events/create",
            mk("Weekly", APRIL_1 + 10 * HOUR, json!("FREQ=WEEKLY")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // More often than daily is refused.
    let r = alice
        .post(
            "/api/v1/calendars/events/create",
            mk("Spam", APRIL_1, json!("FREQ=HOURLY")),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["detail"],
        "Recurring events cannot repeat more often than daily"
    );

    let r = alice
        .get("/api/v1/calendars/events?start=2026-04-01T00:00:00.000Z&end=2026-05-01T00:00:00.000Z")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let evs = r.body.as_array().unwrap();
    let titles: Vec<&str> = evs.iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert_eq!(titles.iter().filter(|t| **t == "Standup").count(), 1);
    assert_eq!(
        titles.iter().filter(|t| **t == "Weekly").count(),
        5,
        "{titles:?}"
    );
    assert!(!titles.contains(&"Later"));
    let weekly: Vec<&Value> = evs.iter().filter(|e| e["title"] == "Weekly").collect();
    assert_eq!(
        weekly[1]["start_at"].as_i64().unwrap(),
        APRIL_1 + 10 * HOUR + 7 * 24 * HOUR
    );
    assert!(weekly[1]["instance_id"]
        .as_str()
        .unwrap()
        .ends_with(&(APRIL_1 + 10 * HOUR + 7 * 24 * HOUR).to_string()));
    assert_eq!(evs[0]["user"]["name"], "alice");
    let r = alice
        .get("/api/v1/calendars/events?start=yesterday&end=2026-05-01")
        .await;
    assert_eq!(r.status, 400);

    // Search, get, update, delete.
    let r = alice
        .get("/api/v1/calendars/events/search?query=stand")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["id"], standup.as_str());
    let r = alice
        .post(
            &format!("/api/v1/calendars/events/{standup}/update"),
            json!({"title": "Daily standup", "location": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "Daily standup");
    assert_eq!(r.body["location"], Value::Null);
    assert_eq!(r.body["start_at"].as_i64().unwrap(), APRIL_1 + 9 * HOUR);
    let r = alice
        .get(&format!("/api/v1/calendars/events/{standup}"))
        .await;
    assert_eq!(r.body["title"], "Daily standup");
    let r = alice
        .delete(&format!("/api/v1/calendars/events/{standup}/delete"))
        .await;
    assert_eq!(r.body, json!({"status": true}));
    assert_eq!(
        alice
            .get(&format!("/api/v1/calendars/events/{standup}"))
            .await
            .status,
        404
    );

    // Deleting a non-default calendar takes its events along.
    let r = alice
        .post(&format!("/api/v1/calendars/{personal}/default"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    let r = alice
        .post(
            "/api/v1/calendars/events/create",
            json!({"calendar_id": work, "title": "Gone", "start_at": APRIL_1}),
        )
        .await;
    let gone = r.body["id"].as_str().unwrap().to_string();
    let r = alice
        .delete(&format!("/api/v1/calendars/{work}/delete"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        alice
            .get(&format!("/api/v1/calendars/events/{gone}"))
            .await
            .status,
        404
    );
    assert_eq!(
        alice.get(&format!("/api/v1/calendars/{work}")).await.status,
        404
    );
}

#[tokio::test]
async fn isolation_sharing_and_rsvp() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let alice = add_user(&srv, &admin, "alice").await;
    let bob = add_user(&srv, &admin, "bob").await;
    let bob_id = bob.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Alice's first listing creates her default calendar.
    let personal = alice.get("/api/v1/calendars/").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = alice
        .post("/api/v1/calendars/create", json!({"name": "Private"}))
        .await;
    let cal = r.body["id"].as_str().unwrap().to_string();
    let r = alice
        .post(
            "/api/v1/calendars/events/create",
            json!({"calendar_id": cal, "title": "Secret", "start_at": APRIL_1 + HOUR}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["id"].as_str().unwrap().to_string();

    // Bob sees none of it and cannot touch it.
    let bob_cals = ids(&bob.get("/api/v1/calendars/").await.body);
    assert_eq!(bob_cals.len(), 1);
    assert!(!bob_cals.contains(&cal));
    assert_eq!(
        bob.get(&format!("/api/v1/calendars/{cal}")).await.status,
        403
    );
    assert_eq!(
        bob.get(&format!("/api/v1/calendars/events/{secret}"))
            .await
            .status,
        403
    );
    let r = bob
        .post(
            &format!("/api/v1/calendars/events/{secret}/update"),
            json!({"title": "mine"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        bob.delete(&format!("/api/v1/calendars/events/{secret}/delete"))
            .await
            .status,
        403
    );
    assert_eq!(
        bob.delete(&format!("/api/v1/calendars/{cal}/delete"))
            .await
            .status,
        403
    );
    let r = bob
        .post(
            "/api/v1/calendars/events/create",
            json!({"calendar_id": cal, "title": "x", "start_at": APRIL_1}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        bob.post(&format!("/api/v1/calendars/{cal}/default"), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        bob.get("/api/v1/calendars/events/search?query=Secret")
            .await
            .body["total"],
        0
    );
    let r = bob
        .get("/api/v1/calendars/events?start=2026-04-01T00:00:00Z&end=2026-04-02T00:00:00Z")
        .await;
    assert_eq!(r.body, json!([]));
    assert_eq!(bob.get("/api/v1/calendars/nope").await.status, 404);
    // Only the owner manages sharing.
    let r = bob
        .post(
            &format!("/api/v1/calendars/{cal}/access/update"),
            json!({"access_grants": []}),
        )
        .await;
    assert_eq!(r.status, 403);

    // Shared read with Bob: listed and readable, still not writable.
    let r = alice
        .post(
            &format!("/api/v1/calendars/{cal}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": bob_id, "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["access_grants"][0]["principal_id"], bob_id.as_str());
    assert!(ids(&bob.get("/api/v1/calendars/").await.body).contains(&cal));
    assert_eq!(
        bob.get(&format!("/api/v1/calendars/events/{secret}"))
            .await
            .status,
        200
    );
    let r = bob
        .get("/api/v1/calendars/events?start=2026-04-01T00:00:00Z&end=2026-04-02T00:00:00Z")
        .await;
    assert_eq!(ids(&r.body), vec![secret.clone()]);
    let r = bob
        .post(
            &format!("/api/v1/calendars/events/{secret}/update"),
            json!({"title": "mine"}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Public sharing needs sharing.public_calendars, which users lack by default.
    let r = alice
        .post(
            &format!("/api/v1/calendars/{cal}/access/update"),
            json!({"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Attendees: Bob is invited to an event in Alice's default calendar.
    let r = alice
        .post(
            "/api/v1/calendars/events/create",
            json!({"calendar_id": personal, "title": "Lunch", "start_at": APRIL_1 + 12 * HOUR,
                   "attendees": [{"user_id": bob_id, "status": "accepted"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["attendees"][0]["user_id"], bob_id.as_str());
    // The organiser cannot set someone else's answer.
    assert_eq!(r.body["attendees"][0]["status"], "pending");
    let lunch = r.body["id"].as_str().unwrap().to_string();
    let r = bob
        .get("/api/v1/calendars/events?start=2026-04-01T00:00:00Z&end=2026-04-02T00:00:00Z")
        .await;
    assert!(ids(&r.body).contains(&lunch), "{}", r.body);
    let r = bob
        .post(
            &format!("/api/v1/calendars/events/{lunch}/rsvp"),
            json!({"status": "maybe"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = bob
        .post(
            &format!("/api/v1/calendars/events/{lunch}/rsvp"),
            json!({"status": "declined"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"status": true, "rsvp": "declined"}));
    let r = alice
        .get(&format!("/api/v1/calendars/events/{lunch}"))
        .await;
    assert_eq!(r.body["attendees"][0]["status"], "declined");
    // Declined invitations drop out of the invitee's range view.
    let r = bob
        .get("/api/v1/calendars/events?start=2026-04-01T00:00:00Z&end=2026-04-02T00:00:00Z")
        .await;
    assert!(!ids(&r.body).contains(&lunch));
    // Not an attendee.
    let r = admin
        .post(
            &format!("/api/v1/calendars/events/{lunch}/rsvp"),
            json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(r.status, 404);

    // The feature switch.
    common::set_default_permission(&admin, "features.calendar", false).await;
    assert_eq!(bob.get("/api/v1/calendars/").await.status, 403);
    assert_eq!(admin.get("/api/v1/calendars/").await.status, 200);
}

#[tokio::test]
async fn group_write_share() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let alice = add_user(&srv, &admin, "alice").await;
    let carol = add_user(&srv, &admin, "carol").await;
    let dave = add_user(&srv, &admin, "dave").await;
    let carol_id = carol.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let g = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "Team", "description": ""}),
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{gid}/users/add"),
            json!({"user_ids": [carol_id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = alice
        .post(
            "/api/v1/calendars/create",
            json!({"name": "Team cal", "access_grants": [
                {"principal_type": "group", "principal_id": gid, "permission": "write"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["access_grants"][0]["principal_type"], "group");
    let cal = r.body["id"].as_str().unwrap().to_string();

    // Carol (in the group) lists it and may add events; Dave may not.
    assert!(ids(&carol.get("/api/v1/calendars/").await.body).contains(&cal));
    assert!(!ids(&dave.get("/api/v1/calendars/").await.body).contains(&cal));
    let ev = json!({"calendar_id": cal, "title": "Planning", "start_at": APRIL_1});
    let r = carol
        .post("/api/v1/calendars/events/create", ev.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        dave.post("/api/v1/calendars/events/create", ev)
            .await
            .status,
        403
    );
    // Writers other than the owner cannot delete the calendar or change sharing.
    assert_eq!(
        carol
            .delete(&format!("/api/v1/calendars/{cal}/delete"))
            .await
            .status,
        403
    );
    let r = carol
        .post(
            &format!("/api/v1/calendars/{cal}/access/update"),
            json!({"access_grants": []}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = carol
        .get("/api/v1/calendars/events/search?query=plan")
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["user"]["name"], "carol");
}

/// Sets the default user permissions' `sharing` section (the rest keeps the
/// built-in defaults).
async fn set_sharing(srv: &TestServer, sharing: Value) {
    srv.state
        .clone()
        .unwrap()
        .config
        .set_many(vec![("user.permissions", json!({ "sharing": sharing }))])
        .await
        .unwrap();
}

fn audiences(v: &Value) -> Vec<String> {
    v["access_grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| format!("{}:{}", g["principal_type"], g["principal_id"]).replace('"', ""))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// As upstream, calendars have no general `sharing.calendars` gate: a user
/// shares with users and groups whatever such a setting says, and only the
/// public audience needs `sharing.public_calendars`.
#[tokio::test]
async fn user_sharing_needs_only_the_public_permission() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let alice = add_user(&srv, &admin, "alice").await;
    let bob = add_user(&srv, &admin, "bob").await;
    let bob_id = bob.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grants = json!([
        {"principal_type": "user", "principal_id": bob_id, "permission": "read"},
        {"principal_type": "group", "principal_id": "some-group", "permission": "write"},
        {"principal_type": "user", "principal_id": "*", "permission": "read"}
    ]);
    let mut bob_and_group = vec![format!("user:{bob_id}"), "group:some-group".to_string()];
    bob_and_group.sort();

    for general in [false, true] {
        set_sharing(
            &srv,
            json!({"calendars": general, "public_calendars": false}),
        )
        .await;
        // Creating drops what may not be given (the public grant).
        let r = alice
            .post(
                "/api/v1/calendars/create",
                json!({"name": format!("Team {general}"), "access_grants": grants}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(audiences(&r.body), bob_and_group, "general {general}");
        let cal = r.body["id"].as_str().unwrap().to_string();
        assert!(ids(&bob.get("/api/v1/calendars/").await.body).contains(&cal));
        // Updating refuses it as a whole.
        let path = format!("/api/v1/calendars/{cal}/access/update");
        let r = alice.post(&path, json!({"access_grants": grants})).await;
        assert_eq!(r.status, 403, "general {general}: {}", r.body);
        let r = alice
            .post(
                &path,
                json!({"access_grants": grants.as_array().unwrap()[..2]}),
            )
            .await;
        assert_eq!(r.status, 200, "general {general}: {}", r.body);
        assert_eq!(audiences(&r.body), bob_and_group);

        set_sharing(
            &srv,
            json!({"calendars": general, "public_calendars": true}),
        )
        .await;
        let r = alice.post(&path, json!({"access_grants": grants})).await;
        assert_eq!(r.status, 200, "general {general}: {}", r.body);
        assert_eq!(audiences(&r.body).len(), 3, "{}", r.body);
    }
}
