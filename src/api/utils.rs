//! `/api/v1/utils`: gravatar URLs, code formatting and execution, and the
//! download of a consistent copy of the SQLite database.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::error_response::JsonBody;
use crate::api::extract::{AdminUser, VerifiedUser};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/utils/gravatar", get(gravatar))
        .route("/api/v1/utils/code/format", post(format_code))
        .route("/api/v1/utils/code/execute", post(execute_code))
        .route("/api/v1/utils/db/download", get(download_db))
}

#[derive(Deserialize)]
struct EmailQuery {
    email: String,
}

/// Gravatar's URL for the address (SHA-256 of the trimmed, lower-cased e-mail).
pub fn gravatar_url(email: &str) -> String {
    let hash = Sha256::digest(email.trim().to_lowercase().as_bytes());
    format!("https://www.gravatar.com/avatar/{}?d=mp", hex::encode(hash))
}

async fn gravatar(VerifiedUser(_c): VerifiedUser, Query(q): Query<EmailQuery>) -> Json<String> {
    Json(gravatar_url(&q.email))
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

/// Upstream formats with Python's `black`, which this server does not embed.
async fn format_code(AdminUser(_a): AdminUser, JsonBody(_f): JsonBody<CodeForm>) -> ApiError {
    ApiError::NotImplemented(
        "Formatting Python code needs the black formatter, which this server does not include."
            .into(),
    )
}

/// Runs a code block on the Jupyter server of the code-execution settings
/// (with the Pyodide engine the browser runs code itself).
async fn execute_code(
    State(state): State<AppState>,
    VerifiedUser(_c): VerifiedUser,
    JsonBody(f): JsonBody<CodeForm>,
) -> ApiResult<Json<serde_json::Value>> {
    use crate::interpreter::{self, Use};
    if !state.config.get_bool("code_execution.enable") {
        return Err(ApiError::forbidden("Code execution is disabled"));
    }
    if interpreter::engine(&state.config, Use::Execution) != "jupyter" {
        return Err(ApiError::bad_request(
            "Something went wrong :/\nCode execution engine not supported",
        ));
    }
    if f.code.len() > interpreter::MAX_CODE {
        return Err(ApiError::PayloadTooLarge(
            "The code is too long to run.".into(),
        ));
    }
    let server = interpreter::jupyter_server(&state.config, Use::Execution);
    let outcome = interpreter::jupyter::run(&server, &f.code).await;
    Ok(Json(outcome.to_json()))
}

/// Where database copies for download are made: `DATA_DIR/cache/db-download`,
/// mode 0700, each copy 0600. A copy is unlinked as soon as it is open, and
/// whatever a crash left here is removed at start-up
/// ([`clean_download_leftovers`]), so no copy of the database outlives its
/// download.
fn download_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("cache").join("db-download")
}

/// Removes database copies left behind by a server that died mid-download.
pub fn clean_download_leftovers(data_dir: &std::path::Path) {
    let dir = download_dir(data_dir);
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot remove old database copies");
        }
    }
}

/// Creates the private download folder and an empty 0600 file in it.
fn private_copy_path(data_dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let dir = download_dir(data_dir);
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    builder.create(&dir)?;
    let path = dir.join(format!("webui-{}.db", crate::db::new_id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(&path)?;
    Ok(path)
}

/// A consistent copy of the live database, made with SQLite's online backup
/// into a private temporary file that is unlinked once open and streamed
/// from there.
async fn download_db(
    State(state): State<AppState>,
    AdminUser(_a): AdminUser,
) -> ApiResult<Response> {
    if !state.settings.env_flags.enable_admin_export {
        return Err(ApiError::unauthorized(
            crate::auth::permissions::ACCESS_PROHIBITED,
        ));
    }
    let data_dir = state.settings.data_dir.clone();
    let path = tokio::task::spawn_blocking(move || private_copy_path(&data_dir))
        .await?
        .map_err(ApiError::internal)?;
    let target = path.clone();
    let made = state
        .db
        .read(move |c| {
            c.backup(rusqlite::DatabaseName::Main, &target, None)?;
            Ok(())
        })
        .await;
    if let Err(e) = made {
        let _ = std::fs::remove_file(&path);
        return Err(ApiError::internal(e));
    }
    let file = tokio::fs::File::open(&path).await;
    // Unlinked now; the open handle keeps the data until the stream ends.
    let _ = std::fs::remove_file(&path);
    let file = file.map_err(ApiError::internal)?;
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"webui.db\"".to_string(),
            ),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}
