//! A raw Socket.IO browser tab (raw, because the Socket.IO client library
//! cannot acknowledge a server's call) that meets the server's `events`
//! calls of one type the way a test says.

use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::TestServer;

/// The calls a tab got (each call's `events` payload).
pub type Asked = Arc<Mutex<Vec<Value>>>;

/// What a tab does when the server calls it.
#[derive(Clone)]
pub enum Tab {
    /// Acknowledges with this value.
    Answers(Value),
    /// Never acknowledges.
    Silent,
    /// Closes its socket.
    HangsUp,
}

/// A raw WebSocket to the server's Socket.IO endpoint.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a raw Socket.IO connection signed in with `token`; it and the
/// session id the server gave it.
pub async fn signed_in(srv: &TestServer, token: &str) -> (Ws, String) {
    let url = format!(
        "{}/ws/socket.io/?EIO=4&transport=websocket",
        srv.base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Engine.IO open packet, then the Socket.IO connect with the token.
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'));
    ws.send(Message::text(format!("40{}", json!({"token": token}))))
        .await
        .unwrap();
    let sid = loop {
        let t = ws
            .next()
            .await
            .unwrap()
            .unwrap()
            .to_text()
            .unwrap()
            .to_string();
        if let Some(rest) = t.strip_prefix("40") {
            let v: Value = serde_json::from_str(rest).unwrap();
            break v["sid"].as_str().unwrap().to_string();
        }
    };
    (ws, sid)
}

/// A server call that wants an acknowledgement (`42<id>[name, data]`): the
/// id and the data.
pub fn call_of(text: &str) -> Option<(String, Value)> {
    let rest = text.strip_prefix("42")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(&rest[digits.len()..]).ok()? {
        Value::Array(mut args) if args.len() > 1 => Some((digits, args.swap_remove(1))),
        _ => None,
    }
}

/// The acknowledgement of call `id` with `answer`.
pub fn ack(id: &str, answer: &Value) -> Message {
    Message::text(format!("43{id}{}", json!([answer])))
}

/// Signs a tab in with `token` and meets every `events` call whose
/// `data.type` is `kind` as `tab` says; its session id and the calls it got.
pub async fn answering_tab(
    srv: &TestServer,
    token: &str,
    kind: &'static str,
    tab: Tab,
) -> (String, Asked) {
    let (mut ws, sid) = signed_in(srv, token).await;
    let asked: Asked = Arc::default();
    let seen = asked.clone();
    tokio::spawn(async move {
        while let Some(Ok(m)) = ws.next().await {
            let Ok(t) = m.to_text() else { continue };
            if t == "2" {
                let _ = ws.send(Message::text("3")).await;
                continue;
            }
            let Some((id, data)) = call_of(t) else {
                continue;
            };
            if data["data"]["type"] != kind {
                continue;
            }
            seen.lock().unwrap().push(data);
            match &tab {
                Tab::Answers(answer) => {
                    let _ = ws.send(ack(&id, answer)).await;
                }
                Tab::Silent => {}
                Tab::HangsUp => {
                    let _ = ws.close(None).await;
                    return;
                }
            }
        }
    });
    (sid, asked)
}
