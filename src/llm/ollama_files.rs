//! Model files for an Ollama server (Admin Settings → Models → Manage
//! Ollama, "experimental"): a GGUF file the admin uploads, or one downloaded
//! from Hugging Face or GitHub, is pushed to the server as a blob and a model
//! named after the file is created from it. Every step reports progress the
//! way the admin page reads it: `{"progress", "completed", "total"}` events,
//! then `{"done": true, "blob", "name", "model_created"}`, or `{"error"}`.
//! Files wait in `DATA_DIR/cache/ollama-models/` and are removed afterwards.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::connections::Conn;
use crate::state::AppState;

/// The largest model file taken (uploaded or downloaded).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024 * 1024;
/// Where a download may come from (as upstream allows).
const SOURCES: [&str; 2] = ["https://huggingface.co/", "https://github.com/"];
const CHUNK: usize = 1024 * 1024;

/// A model file in the staging folder, with its digest.
pub struct Staged {
    path: PathBuf,
    name: String,
    size: u64,
    /// `sha256:<hex>`.
    digest: String,
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn staging_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("cache").join("ollama-models")
}

/// The name a model file goes by: its last path part, which must be a
/// plain, visible file name.
pub fn file_name(raw: &str) -> Result<String, String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty()
        || base.starts_with('.')
        || base.len() > 255
        || base.chars().any(char::is_control)
    {
        return Err("The model file needs a plain file name (e.g. model.gguf).".into());
    }
    Ok(base.to_string())
}

/// Writes a model file into the staging folder, hashing it on the way. A
/// writer dropped before [`Writer::finish`] removes its file (through the
/// [`Staged`] it holds).
pub struct Writer {
    file: tokio::fs::File,
    hasher: Sha256,
    staged: Staged,
}

impl Writer {
    pub async fn create(dir: &Path, name: &str) -> std::io::Result<Writer> {
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join(format!("{}-{name}", uuid::Uuid::new_v4()));
        let file = tokio::fs::File::create(&path).await?;
        Ok(Writer {
            file,
            hasher: Sha256::new(),
            staged: Staged {
                path,
                name: name.to_string(),
                size: 0,
                digest: String::new(),
            },
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.staged.size += chunk.len() as u64;
        if self.staged.size > MAX_FILE_BYTES {
            return Err("The model file is larger than this server takes (256 GiB).".into());
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| format!("The model file could not be stored: {e}"))
    }

    pub fn written(&self) -> u64 {
        self.staged.size
    }

    pub async fn finish(self) -> Result<Staged, String> {
        let Writer {
            mut file,
            hasher,
            mut staged,
        } = self;
        file.flush()
            .await
            .map_err(|e| format!("The model file could not be stored: {e}"))?;
        if staged.size == 0 {
            return Err("The model file is empty.".into());
        }
        staged.digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        Ok(staged)
    }
}

fn progress(done: u64, total: u64) -> Value {
    let pct = if total == 0 {
        0.0
    } else {
        ((done as f64 / total as f64) * 10_000.0).round() / 100.0
    };
    json!({"progress": pct, "completed": done, "total": total})
}

/// The events a task sends, as a stream that ends when the task does.
fn events<F, Fut>(task: F) -> impl Stream<Item = Value>
where
    F: FnOnce(mpsc::Sender<Value>) -> Fut,
    Fut: std::future::Future<Output = Result<Value, String>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    let done = tx.clone();
    let work = task(tx);
    tokio::spawn(async move {
        let last = match work.await {
            Ok(v) => v,
            Err(e) => json!({"error": e}),
        };
        let _ = done.send(last).await;
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// Pushes a staged file to the server and creates the model.
pub(crate) fn push(state: AppState, conn: Conn, staged: Staged) -> impl Stream<Item = Value> {
    events(move |tx| push_and_create(state, conn, staged, tx))
}

async fn push_and_create(
    state: AppState,
    conn: Conn,
    staged: Staged,
    tx: mpsc::Sender<Value>,
) -> Result<Value, String> {
    let blob_url = format!("{}/api/blobs/{}", conn.url, staged.digest);
    let file = tokio::fs::File::open(&staged.path)
        .await
        .map_err(|e| format!("The model file could not be read: {e}"))?;
    let total = staged.size;
    // The body is read from disk as it goes, and reports how far it got.
    let body = futures::stream::unfold(
        (file, 0u64, tx.clone()),
        move |(mut file, sent, tx)| async move {
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let sent = sent + n as u64;
                    let _ = tx.try_send(progress(sent, total));
                    Some((Ok::<_, std::io::Error>(buf), (file, sent, tx)))
                }
                Err(e) => Some((Err(e), (file, sent, tx))),
            }
        },
    );
    let headers = super::http::auth_headers(conn.key.as_deref(), &conn.config, &blob_url);
    let resp = super::http::client()
        .post(&blob_url)
        .headers(headers)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .map_err(|e| format!("The Ollama server could not be reached: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "The Ollama server did not take the model file (HTTP {}).",
            resp.status().as_u16()
        ));
    }
    let model = staged
        .name
        .rsplit_once('.')
        .map_or(staged.name.as_str(), |(stem, _)| stem)
        .to_string();
    let create_url = format!("{}/api/create", conn.url);
    let headers = super::http::auth_headers(conn.key.as_deref(), &conn.config, &create_url);
    let resp = super::http::client()
        .post(&create_url)
        .headers(headers)
        .json(&json!({"model": model, "files": {staged.name.clone(): staged.digest}, "stream": false}))
        .send()
        .await
        .map_err(|e| format!("The Ollama server could not be reached: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status().as_u16();
        let text: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(500)
            .collect();
        return Err(format!(
            "The Ollama server could not create the model (HTTP {status}): {text}"
        ));
    }
    super::invalidate(&state);
    Ok(json!({"done": true, "blob": staged.digest, "name": staged.name, "model_created": model}))
}

/// Checks a download address: Hugging Face or GitHub, over https, naming a file.
pub fn download_source(url: &str) -> Result<String, String> {
    if !SOURCES.iter().any(|s| url.starts_with(s)) {
        return Err("Model files can only be downloaded from https://huggingface.co/ or https://github.com/.".into());
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|_| "That is not a valid address.".to_string())?;
    file_name(parsed.path())
}

/// Downloads the file at `url` into `dir`, then pushes it like an upload.
pub(crate) fn download(
    state: AppState,
    conn: Conn,
    url: String,
    name: String,
    dir: PathBuf,
) -> impl Stream<Item = Value> {
    events(move |tx| async move {
        let staged = fetch(&url, &name, &dir, &tx).await?;
        let mut pushed = Box::pin(push(state, conn, staged));
        let mut last = json!({"error": "The model could not be created."});
        while let Some(ev) = pushed.next().await {
            if ev.get("progress").is_some() {
                let _ = tx.send(ev).await;
            } else {
                last = ev;
            }
        }
        match last.get("error").and_then(Value::as_str) {
            Some(e) => Err(e.to_string()),
            None => Ok(last),
        }
    })
}

async fn fetch(
    url: &str,
    name: &str,
    dir: &Path,
    tx: &mpsc::Sender<Value>,
) -> Result<Staged, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("The model file could not be downloaded: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "The model file could not be downloaded (HTTP {}).",
            resp.status().as_u16()
        ));
    }
    let total = resp.content_length().unwrap_or(0);
    let mut writer = Writer::create(dir, name)
        .await
        .map_err(|e| format!("The model file could not be stored: {e}"))?;
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(120), resp.chunk())
            .await
            .map_err(|_| "The download stalled for two minutes.".to_string())?
            .map_err(|e| format!("The download broke off: {e}"))?;
        let Some(chunk) = chunk else { break };
        writer.write(&chunk).await?;
        let done = writer.written();
        let _ = tx.try_send(progress(done, total.max(done)));
    }
    writer.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sources() {
        assert_eq!(file_name("dir/model.gguf").unwrap(), "model.gguf");
        assert_eq!(file_name("C:\\x\\m.gguf").unwrap(), "m.gguf");
        for bad in ["", "dir/", ".hidden", "a\nb"] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            download_source("https://huggingface.co/o/r/resolve/main/tiny.gguf").unwrap(),
            "tiny.gguf"
        );
        assert!(download_source("https://example.com/tiny.gguf").is_err());
        assert!(download_source("http://huggingface.co/o/r/tiny.gguf").is_err());
        assert!(download_source("https://huggingface.co/").is_err());
    }

    #[test]
    fn progress_is_a_percentage() {
        assert_eq!(progress(1, 3)["progress"], 33.33);
        assert_eq!(progress(0, 0)["progress"], 0.0);
    }
}
