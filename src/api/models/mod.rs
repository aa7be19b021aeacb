//! `/api/models` (the merged model list) and upstream's `models` router
//! (`/api/v1/models/*`): workspace models on top of a base model, their
//! history, visibility and profile images.

mod common;
mod history;
mod image;
mod list;
mod merged;
#[cfg(test)]
mod tests;
mod transfer;
mod write;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

use history::{delete_history_entry, history, history_entry, set_version};
use image::profile_image;
use list::{all_rows, base_rows, base_tags, tags, workspace_list};
use merged::{base_models, list_models, unload_model};
use transfer::{export, import, sync};
use write::{create, delete_all, delete_model, get_model, toggle, update, update_access};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/models", get(list_models))
        .route("/api/v1/models", get(list_models))
        .route("/api/models/base", get(base_models))
        .route("/api/models/unload", post(unload_model))
        .route("/api/v1/models/list", get(workspace_list))
        .route("/api/v1/models/all", get(all_rows))
        .route("/api/v1/models/base/tags", get(base_tags))
        .route("/api/v1/models/base", get(base_rows))
        .route("/api/v1/models/tags", get(tags))
        .route("/api/v1/models/create", post(create))
        .route("/api/v1/models/export", get(export))
        .route("/api/v1/models/import", post(import))
        .route("/api/v1/models/sync", post(sync))
        .route("/api/v1/models/model", get(get_model))
        .route("/api/v1/models/model/history", get(history))
        .route(
            "/api/v1/models/model/history/{history_id}",
            get(history_entry).delete(delete_history_entry),
        )
        .route("/api/v1/models/model/update/version", post(set_version))
        .route("/api/v1/models/model/profile/image", get(profile_image))
        .route("/api/v1/models/model/toggle", post(toggle))
        .route("/api/v1/models/model/update", post(update))
        .route("/api/v1/models/model/access/update", post(update_access))
        .route("/api/v1/models/model/delete", post(delete_model))
        .route("/api/v1/models/delete/all", delete(delete_all))
}
