//! Compressed API answers (gzip, brotli) but untouched streams, and byte
//! ranges of uploaded files.

mod common;

use std::io::Read;

use common::mock_llm::MockLlm;
use common::{admin, connect_openai, Client, TestServer};
use serde_json::{json, Value};

async fn raw_get(c: &Client, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = c
        .http
        .get(format!("{}{path}", c.base))
        .bearer_auth(c.token.as_deref().unwrap());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn big_json_lists_are_compressed_small_ones_and_streams_are_not() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    for i in 0..40 {
        let r = admin
            .post(
                "/api/v1/chats/new",
                json!({"chat": {"title": format!("A chat about compression number {i}"), "messages": []}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let path = "/api/v1/chats/?page=1";
    let plain = raw_get(&admin, path, &[]).await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(
        plain.len() > 2048,
        "a list worth compressing: {}",
        plain.len()
    );
    let listed: Value = serde_json::from_slice(&plain).unwrap();

    let gz = raw_get(&admin, path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert!(gz.headers().get_all("vary").iter().any(|v| v
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("accept-encoding")));
    let gz = gz.bytes().await.unwrap();
    assert!(
        gz.len() < plain.len() / 2,
        "{} vs {}",
        gz.len(),
        plain.len()
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&gunzip(&gz)).unwrap(),
        listed
    );

    let br = raw_get(&admin, path, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(br.headers()["content-encoding"], "br");
    let br = br.bytes().await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&unbrotli(&br)).unwrap(),
        listed
    );

    // Small answers go as they are.
    let small = raw_get(&admin, "/api/version", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(small.status(), 200);
    assert!(small.headers().get("content-encoding").is_none());

    // An SSE stream is never compressed, however long.
    let mock = MockLlm::openai(&["mock-gpt"]).await;
    mock.set(common::mock_llm::Behavior {
        tokens: (0..400).map(|i| format!(" token{i}")).collect(),
        ..Default::default()
    });
    connect_openai(&admin, &mock.url).await;
    let r = admin
        .http
        .post(format!("{}/openai/chat/completions", admin.base))
        .bearer_auth(admin.token.as_deref().unwrap())
        .header("accept-encoding", "gzip, br")
        .json(&json!({"model": "mock-gpt", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(r.headers().get("content-encoding").is_none());
    let text = r.text().await.unwrap();
    assert!(
        text.len() > 4096 && text.contains("token399"),
        "{}",
        text.len()
    );
}

async fn upload(c: &Client, name: &str, ct: &str, bytes: Vec<u8>) -> String {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(ct)
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = c.post_multipart("/api/v1/files/?process=false", form).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn uploaded_files_answer_byte_ranges() {
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let audio: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let id = upload(&admin, "talk.mp3", "audio/mpeg", audio.clone()).await;
    let path = format!("/api/v1/files/{id}/content");

    let whole = raw_get(&admin, &path, &[]).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), audio.as_slice());

    let part = raw_get(&admin, &path, &[("range", "bytes=100-199")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/5000");
    assert_eq!(part.headers()["content-length"], "100");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &audio[100..200]);

    let tail = raw_get(&admin, &path, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.headers()["content-range"], "bytes 4990-4999/5000");
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &audio[4990..]);

    let open = raw_get(&admin, &path, &[("range", "bytes=4000-")]).await;
    assert_eq!(open.status(), 206);
    assert_eq!(open.bytes().await.unwrap().as_ref(), &audio[4000..]);

    let past = raw_get(&admin, &path, &[("range", "bytes=5000-")]).await;
    assert_eq!(past.status(), 416);
    assert_eq!(past.headers()["content-range"], "bytes */5000");

    // Several ranges, or nonsense: the whole file (a server may ignore Range).
    let many = raw_get(&admin, &path, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(many.status(), 200);
    let junk = raw_get(&admin, &path, &[("range", "bytes=z-")]).await;
    assert_eq!(junk.status(), 200);

    // A text upload's range is sent as is even to a client accepting gzip,
    // and the named download path answers ranges too.
    let text = "line of text\n".repeat(400).into_bytes();
    let tid = upload(&admin, "notes.txt", "text/plain", text.clone()).await;
    for p in [
        format!("/api/v1/files/{tid}/content"),
        format!("/api/v1/files/{tid}/content/notes.txt"),
    ] {
        let r = raw_get(
            &admin,
            &p,
            &[("range", "bytes=13-25"), ("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(r.status(), 206, "{p}");
        assert!(r.headers().get("content-encoding").is_none(), "{p}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), &text[13..26], "{p}");
    }
    let d = raw_get(
        &admin,
        &format!("/api/v1/files/{tid}/content"),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert!(
        d.headers().get("content-encoding").is_none(),
        "downloads stream as they are"
    );
}
