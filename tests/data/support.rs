//! Helpers shared by the files / knowledge / retrieval tests: a deterministic
//! embeddings server, multipart uploads and tiny document generators.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Client, Resp};

pub const DIM: usize = 256;

/// Bag-of-words vector: each lower-cased word bumps one of `DIM` buckets.
pub fn bow(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIM];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let w = w.to_lowercase();
        let mut h: u64 = 1469598103934665603;
        for b in w.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(1099511628211);
        }
        v[(h % DIM as u64) as usize] += 1.0;
    }
    if v.iter().all(|x| *x == 0.0) {
        v[0] = 1.0;
    }
    v
}

/// An OpenAI-style `/embeddings` endpoint on loopback.
pub struct MockEmbed {
    pub url: String,
    pub calls: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl MockEmbed {
    pub async fn start() -> MockEmbed {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        let app = Router::new().route(
            "/v1/embeddings",
            post(move |Json(body): Json<Value>| {
                let c2 = c2.clone();
                async move {
                    c2.fetch_add(1, Ordering::SeqCst);
                    let inputs: Vec<String> = match &body["input"] {
                        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect(),
                        Value::String(s) => vec![s.clone()],
                        _ => vec![],
                    };
                    let data: Vec<Value> = inputs
                        .iter()
                        .enumerate()
                        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": bow(t)}))
                        .collect();
                    Json(json!({"object": "list", "data": data, "model": body["model"]}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockEmbed {
            url: format!("http://{addr}/v1"),
            calls,
            _task: task,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Points the server's embedding engine at the mock.
pub async fn use_mock_embeddings(admin: &Client, mock: &MockEmbed) {
    let r = admin
        .post(
            "/api/v1/retrieval/embedding/update",
            json!({
                "RAG_EMBEDDING_ENGINE": "openai",
                "RAG_EMBEDDING_MODEL": "bow-256",
                "RAG_EMBEDDING_BATCH_SIZE": 64,
                "openai_config": {"url": mock.url, "key": "k"},
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A multipart upload the way the browser sends it.
pub async fn upload(
    c: &Client,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    metadata: Option<Value>,
    query: &str,
) -> Resp {
    let boundary = "----owuitestboundary7MA4YWxkTrZu0gW";
    let mut body: Vec<u8> = Vec::new();
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n");
    if let Some(m) = metadata {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{m}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    let mut req = c
        .http
        .request(Method::POST, format!("{}/api/v1/files/{query}", c.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    if let Some(t) = &c.token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Polls a file until its processing ends; returns the file object.
pub async fn wait_processed(c: &Client, id: &str) -> Value {
    for _ in 0..300 {
        let r = c.get(&format!("/api/v1/files/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let s = r.body["data"]["status"].as_str().unwrap_or("").to_string();
        if s == "completed" || s == "failed" {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("file {id} still processing after 30 s");
}

/// Uploads and waits; asserts completion and returns the file id.
pub async fn upload_ok(c: &Client, name: &str, ct: &str, bytes: &[u8]) -> String {
    let r = upload(c, name, ct, bytes, None, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let f = wait_processed(c, &id).await;
    assert_eq!(f["data"]["status"], "completed", "{f}");
    id
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A minimal Word document with one paragraph per entry.
pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:r><w:t xml:space=\"preserve\">{p}</w:t></w:r></w:p>"))
        .collect();
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
    );
    let ct = "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
              <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
              <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>";
    zip_of(&[
        ("[Content_Types].xml", ct.as_bytes()),
        ("word/document.xml", doc.as_bytes()),
    ])
}

/// A Word document whose body unpacks to `mb` megabytes of spaces.
pub fn docx_bomb(mb: usize) -> Vec<u8> {
    let mut doc = b"<w:document xmlns:w=\"x\"><w:body><w:p><w:r><w:t>".to_vec();
    doc.extend(std::iter::repeat_n(b' ', mb * 1024 * 1024));
    doc.extend_from_slice(b"</w:t></w:r></w:p></w:body></w:document>");
    zip_of(&[("word/document.xml", &doc)])
}

/// A one-page PDF showing `lines` in Helvetica.
pub fn pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
    for l in lines {
        let esc = l
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        content.push_str(&format!("({esc}) Tj T*\n"));
    }
    content.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    pdf_of(&objects.map(String::into_bytes))
}

/// PDF bytes from raw objects, with a correct cross-reference table.
pub fn pdf_of(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Signs up the first user (admin) and wires the mock embeddings in.
pub async fn admin_with_embeddings(c: &Client, mock: &MockEmbed) -> Client {
    let r = c.signup("Admin", "admin@example.com", "pass-admin-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let admin = c.with_token(r.body["token"].as_str().unwrap());
    use_mock_embeddings(&admin, mock).await;
    admin
}

/// A second, ordinary user (active, role `user`).
pub async fn second_user(admin: &Client, c: &Client, email: &str) -> Client {
    let r = admin
        .post(
            "/api/v1/auths/add",
            json!({"name": "Bob", "email": email, "password": "pass-bob-1", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    c.login(email, "pass-bob-1").await
}
