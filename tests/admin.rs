//! The admin side over real HTTP: the user list (search, sort, paging), role
//! changes and deletion with the user's data, groups (CRUD, members, nesting)
//! and the permissions they grant as the server enforces them, and every admin
//! settings form surviving a restart.

mod common;

use common::{copy_dir, fixture_dir, settings_for, Client, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Adds a user through the admin API and signs them in: their id and client.
async fn add_user(srv: &TestServer, admin: &Client, name: &str, role: &str) -> (String, Client) {
    let (client, id) = common::add_user_with_role(srv, admin, name, role).await;
    (id, client)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect()
}

async fn new_chat(c: &Client, title: &str) -> String {
    let r = c
        .post(
            "/api/v1/chats/new",
            json!({"chat": {"title": title, "models": ["m"], "history": {"currentId": null, "messages": {}},
                            "messages": [], "tags": [], "timestamp": 1795337614000i64}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn user_list_searches_sorts_and_pages() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    // 34 more users, written straight to the table (hashing 34 passwords is slow).
    let state = srv.state.clone().unwrap();
    state
        .db
        .write(|tx| {
            for i in 0..34 {
                let id = format!("bulk-{i:02}");
                open_webui::db::users::insert(
                    tx,
                    &open_webui::db::users::NewUser {
                        id: &id,
                        name: &format!("Person {i:02}"),
                        email: &format!("person{i:02}@example.com"),
                        role: if i % 2 == 0 { "user" } else { "pending" },
                        profile_image_url: "/user.png",
                        now: 1_700_000_000 + i,
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();

    let p1 = admin.get("/api/v1/users/?page=1").await;
    assert_eq!(p1.status, 200, "{}", p1.body);
    assert_eq!(p1.body["total"], 35);
    assert_eq!(p1.body["users"].as_array().unwrap().len(), 30);
    // Newest first by default: the admin signed up last.
    assert_eq!(p1.body["users"][0]["name"], "Admin");
    assert!(p1.body["users"][0]["group_ids"].is_array());
    let p2 = admin.get("/api/v1/users/?page=2").await;
    assert_eq!(p2.body["users"].as_array().unwrap().len(), 5);

    let asc = admin
        .get("/api/v1/users/?order_by=name&direction=asc&page=1")
        .await;
    let n = names(&asc.body["users"]);
    assert_eq!(n[0], "Admin");
    assert_eq!(n[1], "Person 00");
    let mut sorted = n.clone();
    sorted.sort();
    assert_eq!(n, sorted);

    // Members of a group first, as the group's user tab sorts them.
    let g = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "G", "description": ""}),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    admin
        .post(
            &format!("/api/v1/groups/id/{gid}/users/add"),
            json!({"user_ids": ["bulk-20", "bulk-07"]}),
        )
        .await;
    let by_group = admin
        .get(&format!(
            "/api/v1/users/?order_by=group_id:{gid}&direction=desc"
        ))
        .await;
    let n = names(&by_group.body["users"]);
    assert_eq!(&n[..3], ["Person 07", "Person 20", "Admin"]);
    assert_eq!(by_group.body["users"][0]["group_ids"], json!([gid]));

    let found = admin.get("/api/v1/users/?query=person0").await;
    assert_eq!(found.body["total"], 10);
    let by_mail = admin.get("/api/v1/users/?query=PERSON33%40example").await;
    assert_eq!(names(&by_mail.body["users"]), vec!["Person 33"]);

    // Everyone list and the verified users' search, with upstream's shapes.
    let all = admin.get("/api/v1/users/all").await;
    assert_eq!(all.body["total"], 35);
    assert!(all.body["users"][0].get("is_active").is_some());
    let (_, bea) = add_user(&srv, &admin, "Bea", "user").await;
    let s = bea.get("/api/v1/users/search?query=person 1").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.body["total"], 10);
    assert!(s.body["users"][0].get("settings").is_none());
    // Only admins get the admin list.
    assert_eq!(
        bea.get("/api/v1/users/").await.status,
        StatusCode::UNAUTHORIZED
    );
    srv.stop().await;
}

#[tokio::test]
async fn roles_change_and_deleting_a_user_removes_their_data() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let admin_id = admin.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (bea_id, bea) = add_user(&srv, &admin, "Bea", "user").await;
    let chat = new_chat(&bea, "Bea's chat").await;
    assert_eq!(bea.get(&format!("/api/v1/chats/{chat}")).await.status, 200);

    // Demoted to pending: the same session can no longer use verified routes.
    let r = admin
        .post(
            &format!("/api/v1/users/{bea_id}/update"),
            json!({"role": "pending"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "pending");
    assert_eq!(
        bea.get("/api/v1/chats/").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(bea.get("/api/v1/auths/").await.status, 200);
    let r = admin
        .post(
            &format!("/api/v1/users/{bea_id}/update"),
            json!({"role": "user", "name": "Beatrice", "email": "BEATRICE@example.com"}),
        )
        .await;
    assert_eq!(r.body["name"], "Beatrice");
    assert_eq!(r.body["email"], "beatrice@example.com");
    assert_eq!(bea.get("/api/v1/chats/").await.status, 200);
    // The new e-mail signs in; a taken one is refused.
    srv.client()
        .login("beatrice@example.com", common::USER_PASSWORD)
        .await;
    let r = admin
        .post(
            &format!("/api/v1/users/{bea_id}/update"),
            json!({"email": "admin@example.com"}),
        )
        .await;
    assert_eq!(r.status, 400);
    // A new password ends the old sessions.
    let r = admin
        .post(
            &format!("/api/v1/users/{bea_id}/update"),
            json!({"password": "N3w-passw0rd"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        bea.get("/api/v1/chats/").await.status,
        StatusCode::UNAUTHORIZED
    );
    let bea = srv
        .client()
        .login("beatrice@example.com", "N3w-passw0rd")
        .await;

    // Lookups.
    let r = admin.get(&format!("/api/v1/users/{bea_id}")).await;
    assert_eq!(r.body["email"], "beatrice@example.com");
    assert_eq!(r.body["groups"], json!([]));
    assert_eq!(r.body["is_active"], true);
    let r = bea.get(&format!("/api/v1/users/{admin_id}/info")).await;
    assert_eq!(r.body["name"], "Admin");
    assert!(r.body.get("settings").is_none());
    assert_eq!(
        bea.get(&format!("/api/v1/users/{admin_id}/active"))
            .await
            .body,
        json!({"active": true})
    );

    // The primary admin cannot be demoted or deleted, nor can anyone delete themselves.
    let r = admin
        .post(
            &format!("/api/v1/users/{admin_id}/update"),
            json!({"role": "user"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin
            .delete(&format!("/api/v1/users/{admin_id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Deleting Bea removes her account, chats and group memberships.
    let g = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "Team", "description": ""}),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    admin
        .post(
            &format!("/api/v1/groups/id/{gid}/users/add"),
            json!({"user_ids": [bea_id]}),
        )
        .await;
    let r = admin.delete(&format!("/api/v1/users/{bea_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!(true));
    let state = srv.state.clone().unwrap();
    let (chats, members, users, auths) = state
        .db
        .read(move |c| {
            let n = |sql: &str| c.query_row(sql, [&bea_id], |r| r.get::<_, i64>(0));
            Ok((
                n("SELECT count(*) FROM chat WHERE user_id = ?1")?,
                n("SELECT count(*) FROM group_member WHERE user_id = ?1")?,
                n("SELECT count(*) FROM user WHERE id = ?1")?,
                n("SELECT count(*) FROM auth WHERE id = ?1")?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((chats, members, users, auths), (0, 0, 0, 0));
    assert_eq!(
        bea.get("/api/v1/chats/").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.client()
            .signin("beatrice@example.com", "N3w-passw0rd")
            .await
            .status
            .as_u16()
            / 100,
        4
    );
    srv.stop().await;
}

#[tokio::test]
async fn groups_nest_and_their_permissions_are_enforced() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (bea_id, bea) = add_user(&srv, &admin, "Bea", "user").await;
    let (cid, _carl) = add_user(&srv, &admin, "Carl", "user").await;

    // Nobody may delete chats by default now.
    let mut perms = admin.get("/api/v1/users/default/permissions").await.body;
    assert_eq!(perms["chat"]["delete"], true);
    perms["chat"]["delete"] = json!(false);
    let r = admin.post("/api/v1/users/default/permissions", perms).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["chat"]["delete"], false);
    let defaults = admin
        .get("/api/v1/users/default/permissions/defaults")
        .await;
    assert_eq!(defaults.body["chat"]["delete"], true);

    let chat = new_chat(&bea, "keep me").await;
    let r = bea.delete(&format!("/api/v1/chats/{chat}")).await;
    assert!(
        matches!(r.status.as_u16(), 401 | 403),
        "delete without chat.delete: {} {}",
        r.status,
        r.body
    );
    assert_eq!(
        bea.get("/api/v1/users/permissions").await.body["chat"]["delete"],
        false
    );

    // A parent group grants chat.delete; Bea is in its child group.
    let parent = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "Staff", "description": "everyone",
                   "permissions": {"chat": {"delete": true}}}),
        )
        .await;
    assert_eq!(parent.status, 200, "{}", parent.body);
    let pid = parent.body["id"].as_str().unwrap().to_string();
    assert_eq!(parent.body["data"]["config"]["share"], "members");
    assert_eq!(parent.body["member_count"], 0);
    let child = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "Editors", "description": "", "parent_group_id": pid}),
        )
        .await;
    let kid = child.body["id"].as_str().unwrap().to_string();
    assert_eq!(child.body["parent_group_id"], pid.as_str());
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{kid}/users/add"),
            json!({"user_ids": [bea_id, "no-such-user"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["member_count"], 1);

    assert_eq!(
        bea.get("/api/v1/users/permissions").await.body["chat"]["delete"],
        true
    );
    let r = bea.delete(&format!("/api/v1/chats/{chat}")).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Membership views.
    let mine = bea
        .get("/api/v1/users/groups?include_inherited=true")
        .await
        .body;
    let kinds: Vec<(String, String)> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                g["membership_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(kinds.contains(&("Editors".into(), "direct".into())));
    assert!(kinds.contains(&("Staff".into(), "inherited".into())));
    assert_eq!(
        bea.get("/api/v1/users/groups")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let members = admin
        .get(&format!("/api/v1/groups/id/{pid}/members"))
        .await
        .body;
    assert_eq!(members["total"], 1);
    assert_eq!(members["items"][0]["membership_type"], "inherited");
    assert_eq!(members["items"][0]["via_group_ids"], json!([kid]));
    assert_eq!(
        members["counts"],
        json!({"direct": 0, "effective": 1, "inherited": 1})
    );
    // Non-admins see only their own groups, and a group's public info.
    let visible = bea.get("/api/v1/groups/").await.body;
    assert_eq!(visible.as_array().unwrap().len(), 2);
    let carl = srv
        .client()
        .login("carl@example.com", common::USER_PASSWORD)
        .await;
    assert_eq!(carl.get("/api/v1/groups/").await.body, json!([]));
    let info = carl.get(&format!("/api/v1/groups/id/{pid}/info")).await;
    assert_eq!(info.status, 200);
    assert!(info.body.get("permissions").is_none());
    assert_eq!(
        carl.get(&format!("/api/v1/groups/id/{pid}")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        admin
            .get("/api/v1/groups/")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Preview shows the inherited and effective permissions.
    let pv = admin
        .get(&format!("/api/v1/groups/id/{kid}/preview"))
        .await
        .body;
    assert_eq!(pv["inherited_permissions"]["chat"]["delete"], true);
    assert_eq!(pv["effective_permissions"]["chat"]["delete"], true);

    // A group cannot become its own descendant's child.
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{pid}/update"),
            json!({"name": "Staff", "description": "", "parent_group_id": kid}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // Rename, and data.config merges.
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{kid}/update"),
            json!({"name": "Writers", "description": "d", "data": {"config": {"default_models": [" m1 ", "m1"]}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Writers");
    assert_eq!(r.body["parent_group_id"], pid.as_str());
    assert_eq!(
        r.body["data"]["config"],
        json!({"share": "members", "default_models": ["m1"]})
    );

    // Taking Bea out of the child group takes the permission away again.
    let chat2 = new_chat(&bea, "second").await;
    let r = admin
        .post(
            &format!("/api/v1/groups/id/{kid}/users/remove"),
            json!({"user_ids": [bea_id]}),
        )
        .await;
    assert_eq!(r.body["member_count"], 0);
    let r = bea.delete(&format!("/api/v1/chats/{chat2}")).await;
    assert!(matches!(r.status.as_u16(), 401 | 403));

    // Deleting the parent moves the child to the top level.
    admin
        .post(
            &format!("/api/v1/groups/id/{kid}/users/add"),
            json!({"user_ids": [cid]}),
        )
        .await;
    let r = admin
        .delete(&format!("/api/v1/groups/id/{pid}/delete"))
        .await;
    assert_eq!(r.body, json!(true));
    let k = admin.get(&format!("/api/v1/groups/id/{kid}")).await.body;
    assert_eq!(k["parent_group_id"], Value::Null);
    assert_eq!(k["member_count"], 1);
    assert_eq!(
        admin.get(&format!("/api/v1/groups/id/{pid}")).await.status,
        StatusCode::NOT_FOUND
    );
    let groups_of_carl = admin.get(&format!("/api/v1/users/{cid}/groups")).await.body;
    assert_eq!(groups_of_carl[0]["name"], "Writers");
    srv.stop().await;
}

#[tokio::test]
async fn new_users_join_the_default_group() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let g = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "Everyone", "description": ""}),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    let r = admin
        .post(
            "/api/v1/auths/admin/config",
            json!({"DEFAULT_GROUP_ID": gid}),
        )
        .await;
    assert_eq!(r.status, 200);
    let (uid, _) = add_user(&srv, &admin, "Dora", "user").await;
    let groups = admin.get(&format!("/api/v1/users/{uid}/groups")).await.body;
    assert_eq!(groups[0]["id"], gid.as_str());
    srv.stop().await;
}

/// Posts `body` to `post`, then checks `get` returns `expect` (a subset match).
async fn save(admin: &Client, post: &str, body: Value) -> Value {
    let r = admin.post(post, body).await;
    assert_eq!(r.status, 200, "POST {post}: {}", r.body);
    r.body
}

fn contains(outer: &Value, inner: &Value) -> bool {
    match (outer, inner) {
        (Value::Object(o), Value::Object(i)) => i
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| contains(ov, v))),
        _ => outer == inner,
    }
}

#[tokio::test]
async fn every_admin_settings_form_survives_a_restart() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;

    // (GET route, POST route, posted body, what GET must then contain)
    let mut checks: Vec<(String, Value)> = Vec::new();

    let general = save(
        &admin,
        "/api/v1/auths/admin/config",
        json!({"ENABLE_MESSAGE_RATING": false, "DEFAULT_USER_ROLE": "user", "ENABLE_USER_STATUS": true}),
    )
    .await;
    assert_eq!(general["ENABLE_MESSAGE_RATING"], false);
    checks.push((
        "/api/v1/auths/admin/config".into(),
        json!({"ENABLE_MESSAGE_RATING": false, "DEFAULT_USER_ROLE": "user"}),
    ));

    let mut ldap = admin
        .get("/api/v1/auths/admin/config/ldap/server")
        .await
        .body;
    assert_eq!(ldap["attribute_for_mail"], "mail");
    ldap["label"] = json!("Corp");
    ldap["host"] = json!("ldap.example.com");
    ldap["app_dn"] = json!("cn=admin");
    ldap["app_dn_password"] = json!("secret");
    ldap["search_base"] = json!("ou=people");
    save(&admin, "/api/v1/auths/admin/config/ldap/server", ldap).await;
    checks.push((
        "/api/v1/auths/admin/config/ldap/server".into(),
        json!({"label": "Corp", "host": "ldap.example.com", "search_base": "ou=people"}),
    ));
    let r = admin
        .post(
            "/api/v1/auths/admin/config/ldap/server",
            json!({"label": "", "host": "h", "app_dn": "", "app_dn_password": "", "search_base": "b"}),
        )
        .await;
    assert_eq!(r.status, 400);
    save(
        &admin,
        "/api/v1/auths/admin/config/ldap",
        json!({"enable_ldap": true}),
    )
    .await;
    checks.push((
        "/api/v1/auths/admin/config/ldap".into(),
        json!({"ENABLE_LDAP": true}),
    ));

    let oauth = save(
        &admin,
        "/api/v1/auths/admin/config/oauth",
        json!({"OAUTH_CLIENT_ID": "abc", "OAUTH_ADMIN_ROLES": "admin, boss"}),
    )
    .await;
    assert_eq!(oauth["OAUTH_ADMIN_ROLES"], "admin,boss");
    checks.push((
        "/api/v1/auths/admin/config/oauth".into(),
        json!({"OAUTH_CLIENT_ID": "abc", "OAUTH_ADMIN_ROLES": "admin,boss"}),
    ));

    save(
        &admin,
        "/api/v1/configs/connections",
        json!({"ENABLE_DIRECT_CONNECTIONS": true, "ENABLE_BASE_MODELS_CACHE": true}),
    )
    .await;
    checks.push((
        "/api/v1/configs/connections".into(),
        json!({"ENABLE_DIRECT_CONNECTIONS": true, "ENABLE_BASE_MODELS_CACHE": true}),
    ));

    let models = json!({"DEFAULT_MODELS": "m1", "DEFAULT_PINNED_MODELS": "m2",
                        "MODEL_ORDER_LIST": ["m2", "m1"], "DEFAULT_MODEL_PARAMS": {"temperature": 0.3}});
    save(&admin, "/api/v1/configs/models", models.clone()).await;
    checks.push(("/api/v1/configs/models".into(), models));
    let r = admin
        .post("/api/v1/configs/models", json!({"DEFAULT_MODELS": "m1"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut code = admin.get("/api/v1/configs/code_execution").await.body;
    code["CODE_EXECUTION_JUPYTER_URL"] = json!("http://127.0.0.1:8888");
    code["ENABLE_CODE_INTERPRETER"] = json!(false);
    save(&admin, "/api/v1/configs/code_execution", code).await;
    checks.push((
        "/api/v1/configs/code_execution".into(),
        json!({"CODE_EXECUTION_JUPYTER_URL": "http://127.0.0.1:8888", "ENABLE_CODE_INTERPRETER": false}),
    ));

    let mut sub = admin.get("/api/v1/configs/subagents").await.body;
    sub["SUBAGENTS_MAX_CONCURRENT"] = json!(7);
    save(&admin, "/api/v1/configs/subagents", sub).await;
    checks.push((
        "/api/v1/configs/subagents".into(),
        json!({"SUBAGENTS_MAX_CONCURRENT": 7}),
    ));

    let tools = json!({"TOOL_SERVER_CONNECTIONS": [{"url": "http://127.0.0.1:9", "path": "openapi.json",
        "auth_type": "bearer", "key": "", "config": {"enable": true}, "info": {"id": "t1", "name": "T"}}]});
    let saved = save(&admin, "/api/v1/configs/tool_servers", tools.clone()).await;
    assert_eq!(saved["TOOL_SERVER_CONNECTIONS"][0]["type"], "openapi");
    checks.push(("/api/v1/configs/tool_servers".into(), json!({})));
    let terms =
        json!({"TERMINAL_SERVER_CONNECTIONS": [{"url": "http://127.0.0.1:10", "name": "box"}]});
    let saved = save(&admin, "/api/v1/configs/terminal_servers", terms).await;
    assert_eq!(
        saved["TERMINAL_SERVER_CONNECTIONS"][0]["path"],
        "/openapi.json"
    );
    checks.push(("/api/v1/configs/terminal_servers".into(), json!({})));
    assert_eq!(
        admin
            .post(
                "/api/v1/configs/tool_servers/verify",
                json!({"url": "x", "path": "y", "auth_type": null, "key": null, "config": null})
            )
            .await
            .status,
        StatusCode::BAD_REQUEST,
        "a server that cannot be reached does not verify"
    );

    let suggestions =
        json!({"suggestions": [{"title": ["Hi", "there"], "content": "Say hi"}], "i18n": {}});
    save(&admin, "/api/v1/configs/suggestions", suggestions).await;
    let banners = json!({"banners": [{"id": "b1", "type": "info", "title": "T", "content": "Hello",
                                       "dismissible": true, "timestamp": 1700000000}]});
    let b = save(&admin, "/api/v1/configs/banners", banners).await;
    assert_eq!(b[0]["content"], "Hello");
    let vis = save(
        &admin,
        "/api/v1/configs/interface/visibility",
        json!({"visibility": {"sidebar.notes": false}}),
    )
    .await;
    assert_eq!(vis, json!({"visibility": {"sidebar.notes": false}}));

    let mut audio = admin.get("/api/v1/audio/config").await.body;
    audio["tts"]["VOICE"] = json!("nova");
    audio["stt"]["MODEL"] = json!("whisper-1");
    let a = save(
        &admin,
        "/api/v1/audio/config/update",
        json!({"tts": audio["tts"], "stt": audio["stt"]}),
    )
    .await;
    assert_eq!(a["tts"]["VOICE"], "nova");
    checks.push((
        "/api/v1/audio/config".into(),
        json!({"tts": {"VOICE": "nova"}, "stt": {"MODEL": "whisper-1"}}),
    ));

    let mut images = admin.get("/api/v1/images/config").await.body;
    images["IMAGE_SIZE"] = json!("1024x1024");
    images["IMAGE_GENERATION_MODEL"] = json!("dall-e-3");
    save(&admin, "/api/v1/images/config/update", images.clone()).await;
    checks.push((
        "/api/v1/images/config".into(),
        json!({"IMAGE_SIZE": "1024x1024", "IMAGE_GENERATION_MODEL": "dall-e-3"}),
    ));
    images["IMAGE_SIZE"] = json!("big");
    assert_eq!(
        admin
            .post("/api/v1/images/config/update", images)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let mut perms = admin.get("/api/v1/users/default/permissions").await.body;
    perms["features"]["notes"] = json!(false);
    save(&admin, "/api/v1/users/default/permissions", perms).await;
    checks.push((
        "/api/v1/users/default/permissions".into(),
        json!({"features": {"notes": false}}),
    ));

    // Everything saved is what the pages read back now ...
    let mut before = Vec::new();
    for (get, expect) in &checks {
        let r = admin.get(get).await;
        assert_eq!(r.status, 200, "GET {get}: {}", r.body);
        assert!(
            contains(&r.body, expect),
            "GET {get}: {} lacks {expect}",
            r.body
        );
        before.push(r.body);
    }

    // ... and after a restart on the same data folder.
    let dir = srv.stop().await.expect("temp dir");
    let srv = TestServer::start(settings_for(dir.path(), Some("test-secret"))).await;
    let admin = srv
        .client()
        .login("admin@example.com", common::ADMIN_PASSWORD)
        .await;
    for ((get, _), was) in checks.iter().zip(&before) {
        let r = admin.get(get).await;
        assert_eq!(&r.body, was, "GET {get} changed across the restart");
    }
    let cfg = admin.get("/api/v1/configs/export").await.body;
    assert_eq!(cfg["ui.prompt_suggestions"][0]["content"], "Say hi");
    assert_eq!(cfg["ui.banners"][0]["id"], "b1");
    assert_eq!(cfg["ui.visibility"], json!({"sidebar.notes": false}));
    let user = srv.client().with_token(admin.token.as_deref().unwrap());
    assert_eq!(
        user.get("/api/v1/configs/banners").await.body[0]["title"],
        "T"
    );
    srv.stop().await;
    drop(dir);
}

#[tokio::test]
async fn config_export_import_and_database_download() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let exported = admin.get("/api/v1/configs/export").await;
    assert_eq!(exported.status, 200);
    assert_eq!(exported.body["ui.default_user_role"], "pending");
    assert!(exported.body.as_object().unwrap().len() > 300);

    let r = admin
        .post(
            "/api/v1/configs/import",
            json!({"config": {"ui.default_user_role": "user", "custom.key": [1, 2]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["custom.key"], json!([1, 2]));
    // Live settings follow the import at once.
    let general = admin.get("/api/v1/auths/admin/config").await.body;
    assert_eq!(general["DEFAULT_USER_ROLE"], "user");
    let ns = admin.get("/api/v1/configs/namespace/custom").await.body;
    assert_eq!(ns, json!({"custom.key": [1, 2]}));

    // A consistent copy of the live database.
    let resp = admin
        .http
        .get(format!("{}/api/v1/utils/db/download", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("webui.db"));
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("copy.db");
    std::fs::write(&copy, &bytes).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let email: String = conn
        .query_row("SELECT email FROM user WHERE role = 'admin'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(email, "admin@example.com");
    // No temporary copies are left behind.
    let leftovers = std::fs::read_dir(srv.data_dir.join("cache"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("webui-download")
        })
        .count();
    assert_eq!(leftovers, 0);

    // Utilities.
    let g = admin
        .get("/api/v1/utils/gravatar?email=%20Admin@Example.com")
        .await;
    assert_eq!(
        g.body,
        format!(
            "https://www.gravatar.com/avatar/{}?d=mp",
            sha256_hex("admin@example.com")
        )
    );
    assert_eq!(
        admin
            .post("/api/v1/utils/code/format", json!({"code": "x=1"}))
            .await
            .status,
        StatusCode::NOT_IMPLEMENTED
    );
    // The default engine (pyodide) runs in the browser, as upstream answers.
    let r = admin
        .post("/api/v1/utils/code/execute", json!({"code": "print(1)"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    srv.stop().await;
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn user_self_service_routes() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (_id, bea) = add_user(&srv, &admin, "Bea", "user").await;

    // Info merges, variables validate.
    bea.post("/api/v1/users/user/info/update", json!({"a": 1}))
        .await;
    let r = bea
        .post("/api/v1/users/user/info/update", json!({"b": 2}))
        .await;
    assert_eq!(r.body, json!({"a": 1, "b": 2}));
    assert_eq!(
        bea.get("/api/v1/users/user/info").await.body,
        json!({"a": 1, "b": 2})
    );
    let r = bea
        .post(
            "/api/v1/users/user/variables/update",
            json!({"variables": {"city": "Paris"}}),
        )
        .await;
    assert_eq!(r.body, json!({"variables": {"city": "Paris"}}));
    let r = bea
        .post(
            "/api/v1/users/user/variables/update",
            json!({"variables": {"Bad Key": "x"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        bea.get("/api/v1/users/user/variables").await.body,
        json!({"variables": {"city": "Paris"}})
    );

    // Status needs the feature switched on.
    admin
        .post(
            "/api/v1/auths/admin/config",
            json!({"ENABLE_USER_STATUS": false}),
        )
        .await;
    let r = bea
        .post(
            "/api/v1/users/user/status/update",
            json!({"status_emoji": "🙂"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    admin
        .post(
            "/api/v1/auths/admin/config",
            json!({"ENABLE_USER_STATUS": true}),
        )
        .await;
    let r = bea
        .post(
            "/api/v1/users/user/status/update",
            json!({"status_emoji": "🙂", "status_message": "busy"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        bea.get("/api/v1/users/user/status").await.body["status_message"],
        "busy"
    );
    // A later update keeps the fields it leaves out.
    let r = bea
        .post(
            "/api/v1/users/user/status/update",
            json!({"status_message": "back"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let status = bea.get("/api/v1/users/user/status").await.body;
    assert_eq!(
        (
            status["status_emoji"].clone(),
            status["status_message"].clone()
        ),
        (json!("🙂"), json!("back"))
    );

    // Interface defaults fill what the user has not set; raw gives the stored object.
    admin
        .post(
            "/api/v1/auths/admin/config",
            json!({"DEFAULT_INTERFACE_SETTINGS": {"widescreenMode": true, "chatBubble": false}}),
        )
        .await;
    bea.post(
        "/api/v1/users/user/settings/update",
        json!({"ui": {"chatBubble": true}}),
    )
    .await;
    let s = bea.get("/api/v1/users/user/settings").await.body;
    assert_eq!(s["ui"], json!({"widescreenMode": true, "chatBubble": true}));
    let raw = bea.get("/api/v1/users/user/settings?raw=true").await.body;
    assert_eq!(raw["ui"], json!({"chatBubble": true}));

    // Without settings.interface, interface keys are dropped from what is saved.
    common::set_default_permission(&admin, "settings.interface", false).await;
    let r = bea
        .post(
            "/api/v1/users/user/settings/update",
            json!({"ui": {"chatBubble": false, "notInInterface": 1}}),
        )
        .await;
    // The dropped key keeps what was stored; the rest is patched in.
    assert_eq!(
        r.body["ui"],
        json!({"chatBubble": true, "notInInterface": 1})
    );

    // A save of other settings keeps `ui`; `null` in `ui` removes a key.
    let r = bea
        .post(
            "/api/v1/users/user/settings/update",
            json!({"keybindings": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let raw = bea.get("/api/v1/users/user/settings?raw=true").await.body;
    assert_eq!(raw["ui"], json!({"chatBubble": true, "notInInterface": 1}));
    assert_eq!(raw["keybindings"], json!({}));
    let r = bea
        .post(
            "/api/v1/users/user/settings/update",
            json!({"ui": {"notInInterface": null}}),
        )
        .await;
    assert_eq!(r.body["ui"], json!({"chatBubble": true}));
    srv.stop().await;
}

/// `(chat_id, role, user_id, model_id, usage JSON, created_at)` of a `chat_message` row.
type MessageRow<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, &'a str, i64);

#[tokio::test]
async fn analytics_dashboard_counts_assistant_messages() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let (bea_id, _bea) = add_user(&srv, &admin, "Bea", "user").await;
    let g = admin
        .post(
            "/api/v1/groups/create",
            json!({"name": "Team", "description": ""}),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    admin
        .post(
            &format!("/api/v1/groups/id/{gid}/users/add"),
            json!({"user_ids": [bea_id]}),
        )
        .await;
    let day = 1_763_251_200i64; // 2025-11-16 00:00 UTC
    let state = srv.state.clone().unwrap();
    let bea2 = bea_id.clone();
    state
        .db
        .write(move |tx| {
            let rows: [MessageRow; 5] = [
                ("c1", "assistant", Some(bea2.as_str()), "m1", r#"{"input_tokens": 10, "output_tokens": 5}"#, day + 100),
                ("c1", "assistant", Some(bea2.as_str()), "m1", r#"{"prompt_tokens": 1, "completion_tokens": 2}"#, day + 86_400 + 100),
                ("c2", "assistant", Some("someone-else"), "m2", "null", day + 200),
                ("c2", "user", Some("someone-else"), "m2", "null", day + 150),
                ("c3", "assistant", None, "m2", r#"{"input_tokens": 7, "output_tokens": 0}"#, (day + 300) * 1000),
            ];
            for (i, (chat, role, user, model, usage, at)) in rows.iter().enumerate() {
                tx.execute(
                    "INSERT INTO chat_message (id, chat_id, user_id, role, model_id, usage, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                    rusqlite::params![format!("{chat}-{i}"), chat, user, role, model, usage, at],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();

    let s = admin.get("/api/v1/analytics/summary").await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(
        s.body,
        json!({"total_messages": 4, "total_chats": 3, "total_models": 2, "total_users": 3})
    );
    let m = admin.get("/api/v1/analytics/models").await.body;
    assert_eq!(
        m["models"],
        json!([
            {"model_id": "m1", "count": 2, "unique_users": 1, "unique_chats": 1},
            {"model_id": "m2", "count": 2, "unique_users": 1, "unique_chats": 2},
        ])
    );
    let t = admin.get("/api/v1/analytics/tokens").await.body;
    assert_eq!(t["total_input_tokens"], 18);
    assert_eq!(t["total_output_tokens"], 7);
    assert_eq!(t["models"][0]["model_id"], "m1");
    assert_eq!(t["models"][0]["total_tokens"], 18);
    let u = admin
        .get("/api/v1/analytics/users?metric=tokens")
        .await
        .body;
    assert_eq!(u["users"][0]["name"], "Bea");
    assert_eq!(u["users"][0]["total_tokens"], 18);
    assert_eq!(u["users"][0]["count"], 2);
    // The group filter keeps Bea only.
    let sg = admin
        .get(&format!("/api/v1/analytics/summary?group_id={gid}"))
        .await
        .body;
    assert_eq!(sg["total_messages"], 2);
    // A bounded range: the first day only (Bea's second message is the next day).
    let ranged = admin
        .get(&format!(
            "/api/v1/analytics/summary?start_date={day}&end_date={}",
            day + 3600
        ))
        .await
        .body;
    assert_eq!(ranged["total_messages"], 2);

    let d = admin
        .get(&format!(
            "/api/v1/analytics/daily?start_date={}&end_date={}",
            day - 86_400 * 2,
            day + 86_400 * 3
        ))
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let data = d.body["data"].as_array().unwrap();
    // Every day of the range is present, empty days included.
    assert!(data.len() >= 5, "{}", d.body);
    let total: i64 = data
        .iter()
        .flat_map(|e| e["models"].as_object().unwrap().values())
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(total, 3);
    let cmp = admin
        .get(&format!(
            "/api/v1/analytics/daily?start_date={day}&end_date={}&compare=true&granularity=hourly",
            day + 86_399
        ))
        .await;
    assert_eq!(cmp.status, 200, "{}", cmp.body);
    assert!(cmp.body["data"][0]["previous"]["models"].is_object());
    assert_eq!(
        admin
            .get("/api/v1/analytics/daily?compare=true")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        admin
            .get("/api/v1/analytics/daily?granularity=weekly")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    srv.stop().await;
}

#[tokio::test]
async fn python_groups_and_permissions_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("webui_secret_key.txt")).unwrap();
    let srv = TestServer::start(settings_for(tmp.path(), Some(&secret))).await;
    let admin = srv
        .client()
        .login("admin@example.com", "Admin-pass-1")
        .await;
    let alice = srv
        .client()
        .login("alice@example.com", "Alice-pass-1")
        .await;
    let alice_id = "d5255ce3-1716-405d-b68e-13bdae07246e";
    let eng = "ea5b33f7-6b6d-4e4a-b27c-3871112c9092";

    let groups = admin.get("/api/v1/groups/").await.body;
    assert_eq!(groups[0]["id"], eng);
    assert_eq!(groups[0]["name"], "Engineering");
    assert_eq!(groups[0]["member_count"], 1);
    assert_eq!(groups[0]["data"]["config"]["share"], "members");
    let list = admin
        .get("/api/v1/users/?order_by=name&direction=asc")
        .await
        .body;
    assert_eq!(list["total"], 3);
    assert_eq!(names(&list["users"]), vec!["Admin", "Alice", "Bob"]);
    assert_eq!(list["users"][1]["group_ids"], json!([eng]));
    // The group's grants reach Alice, not Bob's defaults.
    let p = alice.get("/api/v1/users/permissions").await.body;
    assert_eq!(p["features"]["api_keys"], true);
    assert_eq!(p["workspace"]["prompts"], true);
    assert_eq!(p["workspace"]["models"], false);
    let d = admin.get("/api/v1/users/default/permissions").await.body;
    assert_eq!(d["features"]["api_keys"], false);
    let mine = alice.get("/api/v1/users/groups").await.body;
    assert_eq!(mine[0]["id"], eng);
    let members = admin
        .get(&format!("/api/v1/groups/id/{eng}/members"))
        .await
        .body;
    assert_eq!(members["items"][0]["id"], alice_id);
    assert_eq!(members["items"][0]["membership_type"], "direct");
    srv.stop().await;
}

#[tokio::test]
async fn code_execution_switches_reach_the_chat_features() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let features = admin.get("/api/config").await.body["features"].clone();
    assert_eq!(features["enable_code_interpreter"], true, "on by default");
    let mut code = admin.get("/api/v1/configs/code_execution").await.body;
    code["ENABLE_CODE_INTERPRETER"] = json!(false);
    code["ENABLE_CODE_EXECUTION"] = json!(true);
    let saved = save(&admin, "/api/v1/configs/code_execution", code).await;
    assert_eq!(saved["ENABLE_CODE_INTERPRETER"], false);
    // The chat offers what the admin saved; web search stays off until an
    // admin turns it on.
    let features = &admin.get("/api/config").await.body["features"];
    assert_eq!(features["enable_code_interpreter"], false);
    assert_eq!(features["enable_code_execution"], true);
    assert_eq!(features["enable_web_search"], false);
    srv.stop().await;
}

#[tokio::test]
async fn null_items_in_optional_lists_are_refused_by_position() {
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let tail = |r: &common::Resp| -> Value {
        assert_eq!(r.status, 422, "{}", r.body);
        let loc = r.body["detail"][0]["loc"].as_array().unwrap().clone();
        json!(loc[loc.len() - 2..])
    };
    let prompt = |extra: Value| {
        let mut f = json!({"command": "p-null", "name": "P", "content": "body"});
        f.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        f
    };
    let r = admin
        .post("/api/v1/prompts/create", prompt(json!({"tags": [null]})))
        .await;
    assert_eq!(tail(&r), json!(["tags", 0]));
    let r = admin
        .post(
            "/api/v1/prompts/create",
            prompt(json!({"tags": ["a", null]})),
        )
        .await;
    assert_eq!(tail(&r), json!(["tags", 1]));
    let r = admin
        .post(
            "/api/v1/prompts/create",
            prompt(json!({"access_grants": [null]})),
        )
        .await;
    assert_eq!(tail(&r), json!(["access_grants", 0]));
    let r = admin
        .post(
            "/api/v1/models/create",
            json!({"id": "m-null", "name": "M", "meta": {}, "params": {}, "access_grants": [null]}),
        )
        .await;
    assert_eq!(tail(&r), json!(["access_grants", 0]));
    // null itself is fine, and nothing was stored by the refusals.
    let ok = admin
        .post(
            "/api/v1/prompts/create",
            prompt(json!({"tags": null, "access_grants": null})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let mut models = admin.get("/api/v1/configs/models").await.body;
    models["MODEL_ORDER_LIST"] = json!([null]);
    let r = admin.post("/api/v1/configs/models", models.clone()).await;
    assert_eq!(tail(&r), json!(["MODEL_ORDER_LIST", 0]));
    models["MODEL_ORDER_LIST"] = Value::Null;
    assert_eq!(
        admin.post("/api/v1/configs/models", models).await.status,
        200
    );

    let mut web = admin.get("/api/v1/retrieval/config").await.body["web"].clone();
    web["WEB_SEARCH_DOMAIN_FILTER_LIST"] = json!([null]);
    let r = admin
        .post("/api/v1/retrieval/config/update", json!({"web": web}))
        .await;
    assert_eq!(tail(&r), json!(["WEB_SEARCH_DOMAIN_FILTER_LIST", 0]));
    srv.stop().await;
}

#[tokio::test]
async fn a_system_prompt_reads_the_callers_own_variables() {
    use common::mock_llm::MockLlm;
    let srv = TestServer::fresh().await;
    let admin = common::admin(&srv).await;
    let llm = MockLlm::openai(&["m"]).await;
    common::connect_openai(&admin, &llm.url).await;
    // Admins see the connection's models without a preset.
    let (_, bea) = add_user(&srv, &admin, "Bea", "admin").await;
    let (_, cy) = add_user(&srv, &admin, "Cy", "admin").await;
    let saved = bea
        .post(
            "/api/v1/users/user/variables/update",
            json!({"variables": {"team": "harbour pilots"}}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    for who in [&bea, &cy] {
        let r = who
            .post(
                "/api/chat/completions",
                json!({"model": "m", "stream": false, "messages": [
                    {"role": "system", "content": "Team: [{{user.variables.team}}]"},
                    {"role": "user", "content": "who am I?"}]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let sent: Vec<Value> = llm
        .chat_requests()
        .iter()
        .map(|s| s.body["messages"][0]["content"].clone())
        .collect();
    assert_eq!(sent, [json!("Team: [harbour pilots]"), json!("Team: []")]);
    srv.stop().await;
}
