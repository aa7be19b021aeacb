//! `/api/v1/terminals`: the terminal servers a user may use, the HTTP proxy
//! to them and the WebSocket of an interactive session (the work is in
//! `crate::terminals`).

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::Value;

use crate::api::extract::{cookie_value, VerifiedUser};
use crate::error::ApiError;
use crate::state::AppState;
use crate::terminals::{self, proxy, relay};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/terminals/", get(list))
        .route(
            "/api/v1/terminals/{server_id}/api/terminals/{session_id}",
            any(session),
        )
        .route(
            "/api/v1/terminals/{server_id}/chats/{chat_id}/{*path}",
            any(proxy_chat),
        )
        .route("/api/v1/terminals/{server_id}/{*path}", any(proxy_plain))
}

/// Terminal servers the caller may use, without their secrets.
async fn list(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
) -> Json<Vec<Value>> {
    Json(terminals::listed(&state, &caller).await)
}

fn bad_path(_: PathRejection) -> Response {
    ApiError::bad_request("The path is not valid.").into_response()
}

async fn proxy_plain(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    params: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    match params {
        Ok(Path((server_id, path))) => {
            relay_http(&state, &caller, &server_id, None, path, req).await
        }
        Err(e) => bad_path(e),
    }
}

async fn proxy_chat(
    State(state): State<AppState>,
    VerifiedUser(caller): VerifiedUser,
    params: Result<Path<(String, String, String)>, PathRejection>,
    req: Request,
) -> Response {
    match params {
        Ok(Path((server_id, chat_id, path))) => {
            relay_http(&state, &caller, &server_id, Some(chat_id), path, req).await
        }
        Err(e) => bad_path(e),
    }
}

/// An interactive session's WebSocket; the same path without an upgrade is
/// an ordinary proxied request (reading or ending the session).
async fn session(
    State(state): State<AppState>,
    params: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    let (server_id, session_id) = match params {
        Ok(Path(p)) => p,
        Err(e) => return bad_path(e),
    };
    let (mut parts, body) = req.into_parts();
    let wants_socket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_socket {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => upgrade
                .max_message_size(relay::MAX_MESSAGE_BYTES)
                .max_frame_size(relay::MAX_MESSAGE_BYTES)
                .on_upgrade(move |socket| run_socket(state, server_id, session_id, socket)),
            Err(rejection) => rejection.into_response(),
        };
    }
    let caller = match VerifiedUser::from_request_parts(&mut parts, &state).await {
        Ok(VerifiedUser(c)) => c,
        Err(rejection) => return rejection.into_response(),
    };
    let path = format!("api/terminals/{session_id}");
    let req = Request::from_parts(parts, body);
    relay_http(&state, &caller, &server_id, None, path, req).await
}

/// The browser's socket as frames for `relay::run`.
async fn run_socket(state: AppState, server_id: String, session_id: String, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let from = stream
        .take_while(|m| futures::future::ready(m.is_ok()))
        .filter_map(|m| {
            futures::future::ready(match m {
                Ok(Message::Text(t)) => Some(relay::Frame::Text(t.as_str().to_owned())),
                Ok(Message::Binary(b)) => Some(relay::Frame::Binary(b.to_vec())),
                Ok(Message::Close(_)) => Some(relay::Frame::Close(1000, String::new())),
                _ => None,
            })
        });
    let to = sink.with(|f: relay::Frame| {
        futures::future::ready(Ok::<_, axum::Error>(match f {
            relay::Frame::Text(t) => Message::Text(t.into()),
            relay::Frame::Binary(b) => Message::Binary(b.into()),
            relay::Frame::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        }))
    });
    relay::run(state, server_id, session_id, Box::pin(from), Box::pin(to)).await;
}

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads what the proxy needs from the request and shapes the answer.
async fn relay_http(
    state: &AppState,
    caller: &crate::auth::Caller,
    server_id: &str,
    chat_id: Option<String>,
    path: String,
    req: Request,
) -> Response {
    let Some(method) = proxy::relayed_method(req.method().as_str()) else {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(serde_json::json!({"detail": "Method Not Allowed"})),
        )
            .into_response();
    };
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let cookie = header_text(headers, header::COOKIE);
    let declared_empty =
        header_text(headers, header::CONTENT_LENGTH).is_some_and(|n| n.trim() == "0");
    let has_body = !declared_empty
        && (headers.contains_key(header::CONTENT_LENGTH)
            || headers.contains_key(header::TRANSFER_ENCODING));
    let outgoing = proxy::Outgoing {
        method,
        path,
        query: parts.uri.query().map(str::to_string),
        chat_id,
        session_header: header_text(headers, "x-session-id"),
        content_type: header_text(headers, header::CONTENT_TYPE),
        oauth_session: cookie
            .as_deref()
            .and_then(|c| cookie_value(c, "oauth_session_id")),
        cookie,
        body: has_body.then(|| reqwest::Body::wrap_stream(body.into_data_stream())),
    };
    match proxy::forward(state, caller, server_id, outgoing).await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut resp = Response::new(Body::from_stream(answer.body));
            *resp.status_mut() = status;
            *resp.headers_mut() = answer.headers;
            resp
        }
        Err(e) => e.into_response(),
    }
}
