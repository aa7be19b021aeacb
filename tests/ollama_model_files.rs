//! Model files for an Ollama server (`/ollama/models/upload`,
//! `/ollama/models/download`): an uploaded file reaches the server as a
//! blob under its sha256 digest, a model named after the file is created
//! from it, and the admin page gets progress and a final `done` event.
//! Refusals: plain users, a file the server will not take, download
//! addresses outside Hugging Face and GitHub. The staging folder is left
//! empty.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::{admin, Client, TestServer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The blobs the server took: digest and bytes.
type Blobs = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Ollama {
    blobs: Blobs,
    created: Arc<Mutex<Vec<Value>>>,
}

async fn double(o: Ollama) -> String {
    async fn blob(State(o): State<Ollama>, Path(digest): Path<String>, body: Bytes) -> StatusCode {
        if body.starts_with(b"REFUSE") {
            return StatusCode::BAD_REQUEST;
        }
        o.blobs.lock().unwrap().push((digest, body.to_vec()));
        StatusCode::CREATED
    }
    async fn create(State(o): State<Ollama>, Json(body): Json<Value>) -> Json<Value> {
        o.created.lock().unwrap().push(body);
        Json(json!({"status": "success"}))
    }
    let app = Router::new()
        .route(
            "/api/blobs/{digest}",
            post(blob).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/create", post(create))
        .with_state(o);
    common::serve(app).await
}

async fn upload(c: &Client, name: &str, data: Vec<u8>) -> (u16, Vec<Value>) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(data).file_name(name.to_string()),
    );
    let r = c.post_multipart("/ollama/models/upload", form).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let events = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (status, events)
}

#[tokio::test]
async fn an_uploaded_model_file_becomes_a_model() {
    let o = Ollama::default();
    let url = double(o.clone()).await;
    let srv = TestServer::fresh().await;
    let admin = admin(&srv).await;
    let r = admin
        .post(
            "/ollama/config/update",
            json!({"ENABLE_OLLAMA_API": true, "OLLAMA_BASE_URLS": [url], "OLLAMA_API_CONFIGS": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Three megabytes, so the push reports more than one step.
    let data: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let (status, events) = upload(&admin, "tiny-llama.Q4.gguf", data.clone()).await;
    assert_eq!(status, 200);
    let last = events.last().unwrap();
    assert_eq!(last["done"], true, "{events:?}");
    assert_eq!(last["blob"], digest.as_str());
    assert_eq!(last["name"], "tiny-llama.Q4.gguf");
    assert_eq!(last["model_created"], "tiny-llama.Q4");
    let steps: Vec<f64> = events
        .iter()
        .filter_map(|e| e["progress"].as_f64())
        .collect();
    assert!(steps.len() >= 2, "{events:?}");
    assert_eq!(*steps.last().unwrap(), 100.0);
    {
        let blobs = o.blobs.lock().unwrap();
        assert_eq!(blobs.len(), 1);
        assert_eq!(blobs[0].0, digest);
        assert_eq!(blobs[0].1, data, "the server got the file as uploaded");
    }
    assert_eq!(
        o.created.lock().unwrap()[0],
        json!({"model": "tiny-llama.Q4", "files": {"tiny-llama.Q4.gguf": digest}, "stream": false})
    );

    // A blob the server refuses ends in an error event, and no model.
    let (status, events) = upload(&admin, "bad.gguf", b"REFUSE this".to_vec()).await;
    assert_eq!(status, 200);
    assert!(events.last().unwrap()["error"].is_string(), "{events:?}");
    assert_eq!(o.created.lock().unwrap().len(), 1);

    // Nothing is left in the staging folder.
    let staging = srv.data_dir.join("cache/ollama-models");
    let left = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "staged files are removed");

    // Refusals.
    let (status, _) = upload(&admin, "", b"x".to_vec()).await;
    assert_eq!(status, 400, "a file without a name");
    let r = admin
        .post(
            "/ollama/models/download",
            json!({"url": "https://example.com/m.gguf"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = admin
        .post(
            "/ollama/models/download",
            json!({"url": "http://127.0.0.1:1/m.gguf"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let user = common::add_user(&srv, &admin, "deckhand").await;
    let (status, _) = upload(&user, "m.gguf", b"x".to_vec()).await;
    assert_eq!(status, 401);
    assert_eq!(o.blobs.lock().unwrap().len(), 1);
}
