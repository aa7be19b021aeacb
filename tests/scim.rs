//! SCIM 2.0 provisioning at /api/v1/scim/v2 through the real HTTP API, and a
//! deactivated person's open Socket.IO connection closing at once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{socketio, Client, TestServer};
use reqwest::Method;
use rust_socketio::asynchronous::Client as SioClient;
use serde_json::{json, Value};

const TOKEN: &str = "scim-token-for-tests-0123456789";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn scim_server(enabled: bool) -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = common::settings_for(tmp.path(), Some("k"));
    s.scim.enabled = enabled;
    s.scim.token = TOKEN.into();
    s.scim.provider = "oidc".into();
    (TestServer::start(s).await, tmp)
}

/// The identity provider's client: bearer token, `application/scim+json`.
struct Idp {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Idp {
    fn new(srv: &TestServer, token: &str) -> Idp {
        Idp {
            base: srv.url("/api/v1/scim/v2"),
            http: reqwest::Client::new(),
            token: token.into(),
        }
    }
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }
    async fn patch(&self, path: &str, ops: Value) -> (u16, Value) {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        self.send(Method::PATCH, path, Some(body)).await
    }
    async fn provision(&self, handle: &str, active: bool) -> Value {
        let email = format!("{handle}@example.com");
        let (status, body) = self
            .post(
                "/Users",
                json!({
                    "schemas": [USER_SCHEMA],
                    "userName": email,
                    "externalId": format!("ext-{handle}"),
                    "name": {"givenName": handle, "familyName": "Doe"},
                    "displayName": "ignored when name is given",
                    "emails": [{"value": email.to_uppercase(), "primary": true}],
                    "active": active,
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn admin_group_members(admin: &Client, gid: &str) -> Vec<String> {
    let r = admin.get(&format!("/api/v1/groups/id/{gid}/export")).await;
    let mut v: Vec<String> = r.body["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn only_the_token_opens_scim_and_only_when_switched_on() {
    let (srv, _tmp) = scim_server(true).await;
    let admin = common::admin(&srv).await;
    for token in ["wrong-token", "", admin.token.as_deref().unwrap()] {
        let idp = Idp::new(&srv, token);
        let (status, body) = idp.get("/Users").await;
        assert_eq!(status, 401, "{token}: {body}");
        assert!(body["detail"].is_string());
        let (status, _) = idp.post("/Groups", json!({"displayName": "sneaky"})).await;
        assert_eq!(status, 401);
    }
    let basic = reqwest::Client::new()
        .get(srv.url("/api/v1/scim/v2/Users"))
        .header("authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let groups = admin.get("/api/v1/groups/").await;
    assert_eq!(groups.body, json!([]));

    let idp = Idp::new(&srv, TOKEN);
    let (status, body) = idp.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    assert_eq!(body["patch"]["supported"], true);
    let (status, body) = idp.get("/ResourceTypes").await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["endpoint"], "/Users");
    assert_eq!(idp.get("/Schemas").await.0, 200);

    let (off, _tmp2) = scim_server(false).await;
    let (status, _) = Idp::new(&off, TOKEN).get("/Users").await;
    assert_eq!(status, 404, "SCIM is not mounted when off");
}

#[tokio::test]
async fn users_are_provisioned_filtered_paged_patched_and_deleted() {
    let (srv, _tmp) = scim_server(true).await;
    let admin = common::admin(&srv).await;
    let idp = Idp::new(&srv, TOKEN);

    let ann = idp.provision("ann", true).await;
    assert_eq!(ann["userName"], "ann@example.com");
    assert_eq!(ann["displayName"], "ann Doe");
    assert_eq!(ann["externalId"], "ext-ann");
    assert_eq!(ann["active"], true);
    let ann_id = ann["id"].as_str().unwrap().to_string();
    let bob = idp.provision("bob", false).await;
    assert_eq!(bob["active"], false);
    let cy = idp.provision("cy", true).await;

    // Duplicates by address or external id are conflicts.
    let (status, body) = idp
        .post(
            "/Users",
            json!({"userName": "ANN@example.com", "displayName": "Again", "emails": []}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["scimType"], "uniqueness");
    let (status, _) = idp
        .post(
            "/Users",
            json!({"userName": "new@example.com", "externalId": "ext-ann", "displayName": "X", "emails": []}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = idp
        .post("/Users", json!({"userName": "not-an-email"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = idp.send(Method::POST, "/Users", None).await;
    assert!(status == 400 || status == 415, "{status}");

    // The admin's own account (not provisioned) is not SCIM's to see.
    let (_, all) = idp.get("/Users").await;
    assert_eq!(all["totalResults"], 3);
    // Paging: two per page, newest first.
    let (_, p1) = idp.get("/Users?startIndex=1&count=2").await;
    let (_, p2) = idp.get("/Users?startIndex=3&count=2").await;
    assert_eq!(p1["itemsPerPage"], 2);
    assert_eq!(p2["itemsPerPage"], 1);
    assert_eq!(p2["startIndex"], 3);
    let mut seen = ids(&p1);
    seen.extend(ids(&p2));
    seen.sort();
    let mut expected: Vec<String> = [&ann, &bob, &cy]
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    let (status, _) = idp.get("/Users?count=abc").await;
    assert_eq!(status, 400);

    // Filters.
    let (_, f) = idp
        .get(&format!(
            "/Users?filter={}",
            common::urlencode("userName eq \"ANN@example.com\"")
        ))
        .await;
    assert_eq!(ids(&f), std::slice::from_ref(&ann_id));
    let (_, f) = idp
        .get(&format!(
            "/Users?filter={}",
            common::urlencode("externalId eq \"ext-bob\"")
        ))
        .await;
    assert_eq!(ids(&f), [bob["id"].as_str().unwrap().to_string()]);
    let (_, f) = idp
        .get(&format!(
            "/Users?filter={}",
            common::urlencode("userName eq \"nobody@example.com\"")
        ))
        .await;
    assert_eq!(f["totalResults"], 0);
    let (status, body) = idp
        .get(&format!(
            "/Users?filter={}",
            common::urlencode("userName sw \"a\"")
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["scimType"], "invalidFilter");

    // PATCH: replace name and address, activate, clear the external id.
    let path = format!("/Users/{ann_id}");
    let (status, body) = idp
        .patch(
            &path,
            json!([
                {"op": "replace", "path": "displayName", "value": "Ann Renamed"},
                {"op": "Replace", "value": {"userName": "ann.new@example.com"}},
                {"op": "remove", "path": "externalId"},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Ann Renamed");
    assert_eq!(body["userName"], "ann.new@example.com");
    assert_eq!(body["externalId"], Value::Null);
    for bad in [
        json!([{"op": "move", "path": "displayName", "value": "x"}]),
        json!([{"op": "replace", "path": "active", "value": "yes"}]),
        json!([{"op": "replace", "path": "nickName", "value": "x"}]),
        json!([{"op": "remove", "path": "displayName"}]),
        json!([{"op": "remove"}]),
    ] {
        let (status, body) = idp.patch(&path, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = idp
        .patch(
            &format!("/Users/{}", bob["id"].as_str().unwrap()),
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);

    // PUT replaces.
    let (status, body) = idp
        .send(
            Method::PUT,
            &format!("/Users/{}", cy["id"].as_str().unwrap()),
            Some(json!({"userName": "cy2@example.com", "displayName": "Cy Two", "active": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["userName"].as_str(), body["active"].as_bool()),
        (Some("cy2@example.com"), Some(false))
    );
    let r = admin
        .get(&format!("/api/v1/users/{}", cy["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.body["role"], "pending");

    // Delete: gone for SCIM and for the admin; unknown ids are 404.
    let (status, _) = idp.send(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(idp.get(&path).await.0, 404);
    assert_eq!(idp.send(Method::DELETE, &path, None).await.0, 404);
    let r = admin.get("/api/v1/users/all").await;
    assert!(!r.body.to_string().contains("ann.new@example.com"));
    // The same address can come back.
    let again = idp.provision("ann", true).await;
    assert_ne!(again["id"], ann["id"]);
}

#[tokio::test]
async fn groups_are_created_filtered_patched_replaced_and_deleted() {
    let (srv, _tmp) = scim_server(true).await;
    let admin = common::admin(&srv).await;
    let idp = Idp::new(&srv, TOKEN);
    let a = idp.provision("a", true).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = idp.provision("b", true).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = idp.provision("c", true).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, g) = idp
        .post(
            "/Groups",
            json!({"displayName": "Team", "members": [{"value": a}, {"value": b}]}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    let mut ab = vec![a.clone(), b.clone()];
    ab.sort();
    assert_eq!(admin_group_members(&admin, &gid).await, ab);
    let (status, body) = idp
        .post(
            "/Groups",
            json!({"displayName": "Bad", "members": [{"value": "no-such-user"}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = idp
        .post(
            "/Groups",
            json!({"displayName": "Nested", "members": [{"value": gid, "type": "Group"}]}),
        )
        .await;
    assert_eq!(status, 400);
    let (_, other) = idp.post("/Groups", json!({"displayName": "Other"})).await;

    let (_, f) = idp
        .get(&format!(
            "/Groups?filter={}",
            common::urlencode("displayName eq \"Team\"")
        ))
        .await;
    assert_eq!(ids(&f), std::slice::from_ref(&gid));
    let (_, all) = idp.get("/Groups?count=1").await;
    assert_eq!(
        (all["totalResults"].as_i64(), all["itemsPerPage"].as_i64()),
        (Some(2), Some(1))
    );

    let path = format!("/Groups/{gid}");
    let (status, body) = idp
        .patch(
            &path,
            json!([
                {"op": "add", "path": "members", "value": [{"value": c}]},
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
                {"op": "replace", "path": "displayName", "value": "Team 2"},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Team 2");
    let mut bc = vec![b.clone(), c.clone()];
    bc.sort();
    assert_eq!(admin_group_members(&admin, &gid).await, bc);
    // A bad member in any operation applies none of them.
    let (status, _) = idp
        .patch(
            &path,
            json!([
                {"op": "replace", "path": "displayName", "value": "Never"},
                {"op": "add", "path": "members", "value": [{"value": "ghost"}]},
            ]),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(idp.get(&path).await.1["displayName"], "Team 2");

    let (status, body) = idp
        .send(
            Method::PUT,
            &path,
            Some(json!({"displayName": "Team 3", "members": [{"value": a}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        admin_group_members(&admin, &gid).await,
        std::slice::from_ref(&a)
    );
    let (_, user) = idp.get(&format!("/Users/{a}")).await;
    assert_eq!(user["groups"][0]["display"], "Team 3");

    assert_eq!(idp.send(Method::DELETE, &path, None).await.0, 204);
    assert_eq!(idp.get(&path).await.0, 404);
    let groups = admin.get("/api/v1/groups/").await.body;
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["id"], other["id"]);
}

/// Opens a signed-in socket; the flag turns true when the server closes it.
async fn socket(srv: &TestServer, token: &str) -> (SioClient, Arc<AtomicBool>) {
    let closed = Arc::new(AtomicBool::new(false));
    let url = format!("{}/ws/socket.io/", srv.base);
    let auth = Some(json!({"token": token}));
    let client = socketio::connect(&url, auth, &[], |_, _| {}, closed.clone()).await;
    (client, closed)
}

async fn becomes_true(flag: &AtomicBool) -> bool {
    for _ in 0..100 {
        if flag.load(Ordering::SeqCst) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A provisioned person with a password set by the admin, signed in.
async fn signed_in_person(
    srv: &TestServer,
    admin: &Client,
    idp: &Idp,
    handle: &str,
) -> (String, Client) {
    let id = idp.provision(handle, true).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .post(
            &format!("/api/v1/users/{id}/update"),
            json!({"password": "Person-pass-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let me = srv
        .client()
        .login(&format!("{handle}@example.com"), "Person-pass-1")
        .await;
    (id, me)
}

#[tokio::test]
async fn deactivating_or_deleting_closes_sessions_and_sockets_at_once() {
    let (srv, _tmp) = scim_server(true).await;
    let admin = common::admin(&srv).await;
    let idp = Idp::new(&srv, TOKEN);
    let (dee_id, dee) = signed_in_person(&srv, &admin, &idp, "dee").await;
    let (gone_id, gone) = signed_in_person(&srv, &admin, &idp, "gone").await;
    let (_, stay) = signed_in_person(&srv, &admin, &idp, "stay").await;
    let (_dee_sock, dee_closed) = socket(&srv, dee.token.as_deref().unwrap()).await;
    let (_gone_sock, gone_closed) = socket(&srv, gone.token.as_deref().unwrap()).await;
    let (_stay_sock, stay_closed) = socket(&srv, stay.token.as_deref().unwrap()).await;
    assert_eq!(dee.get("/api/v1/auths/").await.status, 200);

    let (status, body) = idp
        .patch(
            &format!("/Users/{dee_id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
    assert!(
        becomes_true(&dee_closed).await,
        "a deactivated person's socket stays open"
    );
    assert_eq!(
        dee.get("/api/v1/auths/").await.status,
        401,
        "the old session still works"
    );

    let (status, _) = idp
        .send(Method::DELETE, &format!("/Users/{gone_id}"), None)
        .await;
    assert_eq!(status, 204);
    assert!(
        becomes_true(&gone_closed).await,
        "a deleted person's socket stays open"
    );
    assert_eq!(gone.get("/api/v1/auths/").await.status, 401);

    assert!(
        !stay_closed.load(Ordering::SeqCst),
        "a bystander lost the socket"
    );
    assert_eq!(stay.get("/api/v1/auths/").await.status, 200);

    // An admin is never deactivated or deleted through SCIM.
    let admin_id = admin.get("/api/v1/auths/").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let db = rusqlite::Connection::open(srv.data_dir.join("webui.db")).unwrap();
    db.execute(
        "UPDATE user SET scim = '{\"oidc\": {\"external_id\": \"boss\"}}' WHERE id = ?1",
        [&admin_id],
    )
    .unwrap();
    let (status, _) = idp
        .send(Method::DELETE, &format!("/Users/{admin_id}"), None)
        .await;
    assert_eq!(status, 403);
    let (_, body) = idp
        .patch(
            &format!("/Users/{admin_id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(body["active"], true);
    assert_eq!(admin.get("/api/v1/auths/").await.status, 200);
}
