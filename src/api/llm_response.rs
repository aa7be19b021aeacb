//! Model answers as HTTP responses: a relayed provider answer
//! ([`llm::Relay`]) and the completion pipeline's outcome ([`Answer`]).

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::chat::complete::Answer;
use crate::llm::{Relay, RelayBody};

impl IntoResponse for Relay {
    fn into_response(self) -> Response {
        let mut resp = match self.body {
            RelayBody::Stream(s) => (self.status, Body::from_stream(s)).into_response(),
            RelayBody::Json(v) => (self.status, Json(v)).into_response(),
            RelayBody::Text(b) => (
                self.status,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                b,
            )
                .into_response(),
        };
        resp.headers_mut().extend(self.headers);
        resp
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Started { chat_id, task_ids } => {
                Json(json!({"status": true, "task_ids": task_ids, "chat_id": chat_id}))
                    .into_response()
            }
            Answer::Stored => Json(serde_json::Value::Null).into_response(),
            Answer::Completion(v) => Json(v).into_response(),
            Answer::Relay(r) => r.into_response(),
        }
    }
}
