//! The HTTP side of the MCP streamable-HTTP transport, on the process's one
//! reqwest client (rustls): rmcp drives the protocol and asks this type to
//! send a message, open the server's event stream or end a session.
//!
//! Every request carries the connection's headers (its auth and custom
//! headers). Bodies are bounded: a JSON answer and one server-sent event may
//! not exceed [`MAX_MESSAGE`] bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorData, ServerJsonRpcMessage};
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_SESSION_ID, JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, SseError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse,
};
use sse_stream::{Sse, SseStream};

/// Largest JSON answer, and largest single server-sent event, read from an
/// MCP server.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

type HttpError = StreamableHttpError<reqwest::Error>;

/// A too-large event or body, reported through the SSE stream's error type.
#[derive(Debug, thiserror::Error)]
#[error("the MCP server sent a message larger than {0} bytes")]
struct TooLarge(usize);

/// Our HTTP client for one MCP connection.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    /// The connection's auth and custom headers, sent with every request.
    pub headers: HeaderMap,
}

fn client(e: reqwest::Error) -> HttpError {
    StreamableHttpError::Client(e)
}

fn accepting() -> String {
    format!("{EVENT_STREAM_MIME_TYPE}, {JSON_MIME_TYPE}")
}

fn media_type(resp: &reqwest::Response) -> Option<String> {
    let v = resp.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    Some(crate::limits::media_type(v))
}

fn session_header(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(HEADER_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Http {
    fn request(
        &self,
        method: reqwest::Method,
        uri: &str,
        auth: Option<String>,
        extra: HashMap<HeaderName, HeaderValue>,
    ) -> reqwest::RequestBuilder {
        let mut b = self
            .client
            .request(method, uri)
            .headers(self.headers.clone());
        if let Some(token) = auth {
            b = b.bearer_auth(token);
        }
        for (k, v) in extra {
            b = b.header(k, v);
        }
        b
    }
}

/// The stream of server-sent events of an answer, each event bounded.
fn events(resp: reqwest::Response) -> BoxStream<'static, Result<Sse, SseError>> {
    let mut since_boundary = 0usize;
    let bytes = resp.bytes_stream().map(move |chunk| {
        let chunk: Bytes = chunk.map_err(std::io::Error::other)?;
        // An event ends at a blank line; count the bytes since the last one.
        let tail = chunk
            .windows(2)
            .rposition(|w| w == b"\n\n")
            .or_else(|| chunk.windows(4).rposition(|w| w == b"\r\n\r\n"));
        since_boundary = match tail {
            Some(at) => chunk.len() - at,
            None => since_boundary + chunk.len(),
        };
        if since_boundary > MAX_MESSAGE {
            return Err(std::io::Error::other(TooLarge(MAX_MESSAGE)));
        }
        Ok(chunk)
    });
    SseStream::from_bytes_stream(bytes).boxed()
}

/// What a refused `server/discover` probe means to rmcp: a legacy server
/// that wants the `initialize` handshake. The refusal is turned into a
/// JSON-RPC error answering the probe, so rmcp falls back.
fn refused_probe(
    message: &ClientJsonRpcMessage,
    had_session: bool,
    status: StatusCode,
    body: &str,
) -> Option<StreamableHttpPostResponse> {
    if had_session
        || !status.is_client_error()
        || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::DiscoverRequest(_)) {
        return None;
    }
    let error = match serde_json::from_str::<ServerJsonRpcMessage>(body) {
        Ok(ServerJsonRpcMessage::Error(e)) => e.error,
        _ => ErrorData::invalid_request(format!("server/discover refused with {status}"), None),
    };
    Some(StreamableHttpPostResponse::Json(
        ServerJsonRpcMessage::error(error, Some(request.id.clone())),
        None,
    ))
}

fn auth_required(resp: &reqwest::Response) -> Option<HttpError> {
    if resp.status() != StatusCode::UNAUTHORIZED {
        return None;
    }
    let challenge = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)?
        .to_str()
        .unwrap_or("")
        .to_string();
    Some(StreamableHttpError::AuthRequired(AuthRequiredError::new(
        challenge,
    )))
}

async fn body_text(resp: reqwest::Response) -> String {
    match crate::webfetch::read_limited(resp, 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    }
}

impl StreamableHttpClient for Http {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        extra: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let had_session = session_id.is_some();
        let mut req = self
            .request(reqwest::Method::POST, &uri, auth, extra)
            .header(ACCEPT, accepting());
        if let Some(s) = session_id {
            req = req.header(HEADER_SESSION_ID, s.as_ref());
        }
        let resp = req.json(&message).send().await.map_err(client)?;
        if let Some(e) = auth_required(&resp) {
            return Err(e);
        }
        let status = resp.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && had_session {
            return Err(StreamableHttpError::SessionExpired);
        }
        let expects_answer = matches!(message, ClientJsonRpcMessage::Request(_));
        let kind = media_type(&resp);
        let session = session_header(&resp);
        if !status.is_success() {
            let json = kind.as_deref() == Some(JSON_MIME_TYPE);
            let body = body_text(resp).await;
            if let Some(r) = refused_probe(&message, had_session, status, &body) {
                return Ok(r);
            }
            if json && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                if let Ok(m @ ServerJsonRpcMessage::Error(_)) =
                    serde_json::from_str::<ServerJsonRpcMessage>(&body)
                {
                    return Ok(StreamableHttpPostResponse::Json(m, session));
                }
            }
            let shown: String = body.chars().take(300).collect();
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status}: {shown}"),
            )));
        }
        match kind.as_deref() {
            Some(EVENT_STREAM_MIME_TYPE) => {
                Ok(StreamableHttpPostResponse::Sse(events(resp), session))
            }
            Some(JSON_MIME_TYPE) => {
                let body = crate::webfetch::read_limited(resp, MAX_MESSAGE)
                    .await
                    .map_err(|_| StreamableHttpError::ResponseBodyTooLarge {
                        max_size: MAX_MESSAGE,
                    })?;
                if body.is_empty() && !expects_answer {
                    return Ok(StreamableHttpPostResponse::Accepted);
                }
                match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                    Ok(m) => Ok(StreamableHttpPostResponse::Json(m, session)),
                    Err(_) if !expects_answer => Ok(StreamableHttpPostResponse::Accepted),
                    Err(e) => Err(StreamableHttpError::Deserialize(e)),
                }
            }
            // A notification or reply needs nothing back; servers differ in
            // what they send for it.
            _ if !expects_answer => Ok(StreamableHttpPostResponse::Accepted),
            other => Err(StreamableHttpError::UnexpectedContentType(
                other.map(str::to_string),
            )),
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth: Option<String>,
        extra: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let resp = self
            .request(reqwest::Method::DELETE, &uri, auth, extra)
            .header(HEADER_SESSION_ID, session_id.as_ref())
            .send()
            .await
            .map_err(client)?;
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        resp.error_for_status().map_err(client)?;
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth: Option<String>,
        extra: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        let mut req = self
            .request(reqwest::Method::GET, &uri, auth, extra)
            .header(ACCEPT, accepting());
        if let Some(s) = session_id {
            req = req.header(HEADER_SESSION_ID, s.as_ref());
        }
        if let Some(id) = last_event_id {
            req = req.header(HEADER_LAST_EVENT_ID, id);
        }
        let resp = req.send().await.map_err(client)?;
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if let Some(e) = auth_required(&resp) {
            return Err(e);
        }
        let resp = resp.error_for_status().map_err(client)?;
        match media_type(&resp).as_deref() {
            Some(EVENT_STREAM_MIME_TYPE) | Some(JSON_MIME_TYPE) => Ok(events(resp)),
            other => Err(StreamableHttpError::UnexpectedContentType(
                other.map(str::to_string),
            )),
        }
    }
}
