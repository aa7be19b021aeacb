//! `/api/v1/notes`: notes with sharing through access grants, per-user pins,
//! search, and the hidden assistant chats attached to a note. Live editing
//! goes through the Yjs socket events in `crate::socket::notes`.

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::access::{self, Kind};
use crate::api::chats::DEFAULT_ERROR;
use crate::api::error_response::JsonBody;
use crate::api::extract::VerifiedUser;
use crate::auth::permissions;
use crate::auth::Caller;
use crate::db::access_grants::{self, GrantRow};
use crate::db::notes::{self, Author, NoteRow, NoteUpdate, Viewer};
use crate::db::{self, chats};
use crate::error::messages::{NOT_FOUND, UNAUTHORIZED};
use crate::error::{ApiError, ApiResult};
use crate::notes::{check_files, may};
use crate::socket::notes as live;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notes/", get(list_notes))
        .route("/api/v1/notes/pinned", get(pinned_notes))
        .route("/api/v1/notes/search", get(search_notes))
        .route("/api/v1/notes/create", post(create_note))
        .route("/api/v1/notes/{id}", get(get_note))
        .route(
            "/api/v1/notes/{id}/chat",
            get(get_or_create_chat).post(create_chat),
        )
        .route("/api/v1/notes/{id}/chats", get(note_chats))
        .route("/api/v1/notes/{id}/update", post(update_note))
        .route("/api/v1/notes/{id}/access/update", post(update_access))
        .route("/api/v1/notes/{id}/pin", post(pin_note))
        .route("/api/v1/notes/{id}/delete", delete(delete_note))
}

/// Query-string extractor whose rejections use FastAPI's 422 shape.
pub struct QueryArgs<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for QueryArgs<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(QueryArgs(v)),
            Err(e) => Err(ApiError::Validation(json!([{
                "type": "parsing",
                "loc": ["query"],
                "msg": e.body_text(),
                "input": parts.uri.query(),
            }]))),
        }
    }
}

/// Notes must be on, and non-admins need `features.notes`.
pub async fn check_enabled(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if !state.config.get_bool("notes.enable") {
        return Err(ApiError::forbidden("Notes is disabled"));
    }
    if !caller.is_admin() {
        let perms = permissions::effective(state, caller.id()).await?;
        if !permissions::allows(&perms, "features.notes") {
            return Err(ApiError::unauthorized(UNAUTHORIZED));
        }
    }
    Ok(())
}

fn grants_wire(grants: &[GrantRow]) -> Vec<Value> {
    grants.iter().map(GrantRow::wire).collect()
}

/// `NoteModel`.
fn note_wire(n: &NoteRow, grants: &[GrantRow], pinned: bool) -> Value {
    json!({
        "id": n.id,
        "user_id": n.user_id,
        "title": n.title,
        "data": n.data,
        "meta": n.meta,
        "is_pinned": pinned,
        "access_grants": grants_wire(grants),
        "created_at": n.created_at,
        "updated_at": n.updated_at,
    })
}

/// The list views only carry the first 1000 characters of the markdown.
fn truncated(data: &Value) -> Value {
    match data.as_object() {
        Some(m) if !m.is_empty() => {
            let md: String = data
                .pointer("/content/md")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(1000)
                .collect();
            json!({"content": {"md": md}})
        }
        _ => data.clone(),
    }
}

/// `NoteItemResponse`.
fn item_wire(n: &NoteRow, author: &Author, pinned: bool) -> Value {
    json!({
        "id": n.id,
        "title": n.title,
        "data": truncated(&n.data),
        "is_pinned": pinned,
        "updated_at": n.updated_at,
        "created_at": n.created_at,
        "user": author.wire(),
    })
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
}

async fn list_notes(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    QueryArgs(q): QueryArgs<PageQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    let (limit, offset) = match q.page {
        Some(p) => (Some(60), Some(crate::limits::page_offset(p, 60))),
        None => (None, None),
    };
    let uid = caller.id().to_string();
    let out = state
        .db
        .read(move |c| {
            let groups = access_grants::group_ids_of(c, &uid)?;
            let v = Viewer {
                user_id: &uid,
                group_ids: &groups,
            };
            let rows = notes::list_accessible(c, &v, "read", limit, offset)?;
            let pinned = notes::pinned_ids(c, &uid)?;
            Ok(rows
                .iter()
                .filter_map(|(n, a)| Some(item_wire(n, a.as_ref()?, pinned.contains(&n.id))))
                .collect())
        })
        .await?;
    Ok(Json(out))
}

async fn pinned_notes(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    let uid = caller.id().to_string();
    let out = state
        .db
        .read(move |c| {
            let groups = access_grants::group_ids_of(c, &uid)?;
            let v = Viewer {
                user_id: &uid,
                group_ids: &groups,
            };
            let rows = notes::list_pinned(c, &v)?;
            Ok(rows
                .iter()
                .filter_map(|(n, a)| Some(item_wire(n, a.as_ref()?, true)))
                .collect())
        })
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct SearchQuery {
    query: Option<String>,
    view_option: Option<String>,
    permission: Option<String>,
    order_by: Option<String>,
    direction: Option<String>,
    page: Option<i64>,
}

async fn search_notes(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    QueryArgs(q): QueryArgs<SearchQuery>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let page = q.page.unwrap_or(1);
    let (limit, offset) = (Some(60), Some(crate::limits::page_offset(page, 60)));
    let filter_access = !crate::access::admin_bypass(&caller);
    let uid = caller.id().to_string();
    let s = notes::Search {
        query: q.query,
        view_option: q.view_option,
        permission: q.permission.filter(|p| !p.is_empty()),
        order_by: q.order_by,
        direction: q.direction,
    };
    let out = state
        .db
        .read(move |c| {
            let groups = access_grants::group_ids_of(c, &uid)?;
            let v = Viewer {
                user_id: &uid,
                group_ids: &groups,
            };
            let (rows, total) =
                notes::search(c, &uid, filter_access.then_some(&v), &s, limit, offset)?;
            let pinned = notes::pinned_ids(c, &uid)?;
            let mut grants = access_grants::by_type(c, notes::RESOURCE)?;
            let items: Vec<Value> = rows
                .iter()
                .map(|(n, a)| {
                    let g = grants.remove(&n.id).unwrap_or_default();
                    let mut w = note_wire(n, &g, pinned.contains(&n.id));
                    w["data"] = truncated(&n.data);
                    w["user"] = a.as_ref().map(Author::wire).unwrap_or(Value::Null);
                    w
                })
                .collect();
            Ok(json!({"items": items, "total": total}))
        })
        .await?;
    Ok(Json(out))
}

fn object_field(
    body: &Map<String, Value>,
    key: &str,
) -> ApiResult<Option<Option<Map<String, Value>>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(m)) => Ok(Some(Some(m.clone()))),
        Some(_) => Err(ApiError::Validation(json!([{
            "type": "dict_type",
            "loc": ["body", key],
            "msg": "Input should be a valid dictionary",
            "input": body.get(key),
        }]))),
    }
}

/// `data` of a note form: an object as it is; any other value becomes the
/// markdown body (`{"content": {"md": <text>}}`), as upstream's form does.
fn data_field(body: &Map<String, Value>) -> ApiResult<Option<Option<Map<String, Value>>>> {
    let text = match body.get("data") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
        Some(v @ (Value::Number(_) | Value::Array(_))) => v.to_string(),
        _ => return object_field(body, "data"),
    };
    let mut m = Map::new();
    m.insert("content".into(), json!({ "md": text }));
    Ok(Some(Some(m)))
}

fn missing(key: &str) -> ApiError {
    ApiError::Validation(json!([{
        "type": "missing",
        "loc": ["body", key],
        "msg": "Field required",
        "input": null,
    }]))
}

fn sanitized_map(m: Map<String, Value>) -> Map<String, Value> {
    match notes::sanitize_data(Value::Object(m)) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn create_note(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let title = match body.get("title") {
        Some(Value::String(s)) => {
            crate::limits::check_title("title", s)?;
            s.clone()
        }
        None => return Err(missing("title")),
        Some(other) => {
            return Err(ApiError::Validation(json!([{
                "type": "string_type", "loc": ["body", "title"],
                "msg": "Input should be a valid string", "input": other,
            }])))
        }
    };
    let data = data_field(&body)?.flatten();
    let meta = object_field(&body, "meta")?.flatten();
    let requested = body.get("access_grants").unwrap_or(&Value::Null);
    let grants = access::allowed_grants(&state, &caller, Kind::Note, requested).await?;
    let now = db::now_nanos();
    let row = NoteRow {
        id: db::new_id(),
        user_id: caller.id().to_string(),
        title,
        data: data
            .map(|m| Value::Object(sanitized_map(m)))
            .unwrap_or(json!({})),
        meta: meta.map(Value::Object),
        created_at: now,
        updated_at: now,
    };
    let stored = row.clone();
    let g = state
        .db
        .write(move |tx| {
            notes::insert(tx, &stored)?;
            access_grants::replace(tx, notes::RESOURCE, &stored.id, &grants, now)
        })
        .await?;
    Ok(Json(note_wire(&row, &g, false)))
}

/// The note, or 404; then 403 unless the caller may `permission` it.
async fn load_checked(
    state: &AppState,
    caller: &Caller,
    id: &str,
    permission: &'static str,
) -> ApiResult<(NoteRow, Vec<GrantRow>, bool)> {
    let (id, uid, admin) = (id.to_string(), caller.id().to_string(), caller.is_admin());
    let found = state
        .db
        .read(move |c| {
            let Some(n) = notes::get(c, &id)? else {
                return Ok(None);
            };
            let ok = may(c, &uid, admin, &n, permission)?;
            let grants = access_grants::by_resource(c, notes::RESOURCE, &id)?;
            let pinned = notes::pinned_ids(c, &uid)?.contains(&id);
            Ok(Some((n, grants, pinned, ok)))
        })
        .await?;
    match found {
        None => Err(ApiError::not_found(NOT_FOUND)),
        Some((_, _, _, false)) => Err(ApiError::forbidden(DEFAULT_ERROR)),
        Some((n, g, p, true)) => Ok((n, g, p)),
    }
}

async fn get_note(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (n, g, pinned) = load_checked(&state, &caller, &id, "read").await?;
    let (uid, admin, note) = (caller.id().to_string(), caller.is_admin(), n.clone());
    let write = state
        .db
        .read(move |c| may(c, &uid, admin, &note, "write"))
        .await?;
    let mut w = note_wire(&n, &g, pinned);
    w["write_access"] = json!(write);
    Ok(Json(w))
}

async fn update_note(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (n, _, _) = load_checked(&state, &caller, &id, "write").await?;
    let title = match body.get("title") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            crate::limits::check_title("title", s)?;
            Some(s.clone())
        }
        Some(other) => {
            return Err(ApiError::Validation(json!([{
                "type": "string_type", "loc": ["body", "title"],
                "msg": "Input should be a valid string", "input": other,
            }])))
        }
    };
    let data = data_field(&body)?;
    let meta = object_field(&body, "meta")?;
    if let Some(Some(d)) = &data {
        if let Some(files) = d.get("files") {
            check_files(&state, caller.id(), caller.is_admin(), &n, files).await?;
        }
    }
    let data_keys: Option<Vec<String>> = data
        .as_ref()
        .and_then(|d| d.as_ref())
        .map(|d| d.keys().cloned().collect());
    let upd = NoteUpdate {
        title,
        data: data.map(|d| sanitized_map(d.unwrap_or_default())),
        meta: meta.map(Option::unwrap_or_default),
    };
    let now = db::now_nanos();
    let (nid, uid) = (id.clone(), caller.id().to_string());
    let (row, grants, pinned) = state
        .db
        .write(move |tx| {
            let row = notes::update(tx, &nid, &upd, now)?;
            let grants = access_grants::by_resource(tx, notes::RESOURCE, &nid)?;
            let pinned = notes::pinned_ids(tx, &uid)?.contains(&nid);
            Ok((row, grants, pinned))
        })
        .await?;
    let row = row.ok_or_else(|| ApiError::bad_request(DEFAULT_ERROR))?;
    let wire = note_wire(&row, &grants, pinned);
    let mut event = wire.clone();
    if let Some(keys) = data_keys {
        let picked: Map<String, Value> = keys
            .into_iter()
            .filter_map(|k| Some((k.clone(), row.data.get(&k)?.clone())))
            .collect();
        event["data"] = Value::Object(picked);
    }
    if let Some(io) = state.io() {
        let _ = io
            .to(live::note_room(&row.id))
            .emit("events:note", &event)
            .await;
    }
    Ok(Json(wire))
}

#[derive(Deserialize)]
struct AccessForm {
    access_grants: Vec<Value>,
}

async fn update_access(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
    JsonBody(form): JsonBody<AccessForm>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (n, _, pinned) = load_checked(&state, &caller, &id, "write").await?;
    let requested = Value::Array(form.access_grants);
    let allowed = access::validated_grants(&state, &caller, Kind::Note, &requested).await?;
    let now = db::now_nanos();
    let nid = id.clone();
    let grants = state
        .db
        .write(move |tx| access_grants::replace(tx, notes::RESOURCE, &nid, &allowed, now))
        .await?;
    live::evict_without_access(&state, &n).await;
    Ok(Json(note_wire(&n, &grants, pinned)))
}

async fn pin_note(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    let (n, g, _) = load_checked(&state, &caller, &id, "read").await?;
    let (nid, uid) = (id.clone(), caller.id().to_string());
    let now = db::now_nanos();
    let pinned = state
        .db
        .write(move |tx| notes::toggle_pin(tx, &nid, &uid, now))
        .await?;
    Ok(Json(note_wire(&n, &g, pinned)))
}

async fn delete_note(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<bool>> {
    check_enabled(&state, &caller).await?;
    load_checked(&state, &caller, &id, "write").await?;
    let nid = id.clone();
    state.db.write(move |tx| notes::delete(tx, &nid)).await?;
    live::close_note(&state, &id).await;
    Ok(Json(true))
}

/// The system prompt of a note's assistant chat.
fn note_chat_system(note_id: &str) -> String {
    format!(
        "You are helping with one note (id {note_id}); this chat belongs to it.\n\
         To change the note (shorten it, rewrite it, tidy it up, add to it), first read it with \
         view_note, then save the new text with replace_note_content.\n\
         Only tell the user the note was changed after replace_note_content reports success."
    )
}

async fn new_note_chat(state: &AppState, caller: &Caller, note_id: &str) -> ApiResult<Value> {
    let chat_id = db::new_id();
    let chat = json!({
        "id": chat_id,
        "title": "Chat",
        "models": [""],
        "params": {"system": note_chat_system(note_id)},
        "history": {"messages": {}, "currentId": null},
        "messages": [],
        "tags": [],
    });
    let new = chats::NewChat {
        id: chat_id,
        user_id: caller.id().to_string(),
        chat,
        meta: json!({"internal": true, "type": "note", "note_id": note_id}),
        variables: json!({}),
        ..Default::default()
    };
    let now = db::now_secs();
    let row = state
        .db
        .write(move |tx| chats::insert(tx, &new, now))
        .await?;
    Ok(chats::response(&row))
}

/// Makes sure an existing note chat carries the current system prompt.
async fn refreshed_chat(state: &AppState, chat_id: String, note_id: &str) -> ApiResult<Value> {
    let system = note_chat_system(note_id);
    let row = state
        .db
        .write(move |tx| {
            let Some(row) = chats::get(tx, &chat_id)? else {
                return Ok(None);
            };
            if row.chat.pointer("/params/system").and_then(Value::as_str) == Some(system.as_str()) {
                return Ok(Some(row));
            }
            let mut p = Map::new();
            p.insert("system".into(), Value::String(system));
            chats::update_params(tx, &chat_id, &p)?;
            chats::get(tx, &chat_id)
        })
        .await?;
    row.map(|r| chats::response(&r))
        .ok_or_else(|| ApiError::bad_request(DEFAULT_ERROR))
}

async fn get_or_create_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    load_checked(&state, &caller, &id, "read").await?;
    let (nid, uid) = (id.clone(), caller.id().to_string());
    let existing = state
        .db
        .read(move |c| notes::chat_ids(c, &nid, &uid))
        .await?;
    match existing.into_iter().next() {
        Some(chat_id) => Ok(Json(refreshed_chat(&state, chat_id, &id).await?)),
        None => Ok(Json(new_note_chat(&state, &caller, &id).await?)),
    }
}

async fn create_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_enabled(&state, &caller).await?;
    load_checked(&state, &caller, &id, "read").await?;
    Ok(Json(new_note_chat(&state, &caller, &id).await?))
}

async fn note_chats(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    check_enabled(&state, &caller).await?;
    load_checked(&state, &caller, &id, "read").await?;
    let (nid, uid) = (id.clone(), caller.id().to_string());
    let ids = state
        .db
        .read(move |c| notes::chat_ids(c, &nid, &uid))
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for chat_id in ids {
        out.push(refreshed_chat(&state, chat_id, &id).await?);
    }
    Ok(Json(out))
}
