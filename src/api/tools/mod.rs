//! Upstream's `tools` router (`/api/v1/tools/*`). Tools are Python modules;
//! this server stores, lists, shares, versions and exports them, but cannot
//! load or run Python, so everything that needs the module (specs, valve
//! schemas, valve validation, calling a tool) answers 501 with that reason.

pub(super) mod history;
mod list;
pub(super) mod shared;
mod valves;
mod write;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

use history::{history_delete, history_diff, history_entry, history_list, set_version};
use list::{export, list_access, list_tools, load_url};
use valves::{
    user_valves, user_valves_spec, user_valves_update, valves, valves_spec, valves_update,
};
use write::{create, delete_one, get_one, specs, update, update_access};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tools/", get(list_tools))
        .route("/api/v1/tools/list", get(list_access))
        .route("/api/v1/tools/load/url", post(load_url))
        .route("/api/v1/tools/export", get(export))
        .route("/api/v1/tools/create", post(create))
        .route("/api/v1/tools/id/{id}", get(get_one))
        .route("/api/v1/tools/id/{id}/specs", get(specs))
        .route("/api/v1/tools/id/{id}/update", post(update))
        .route("/api/v1/tools/id/{id}/access/update", post(update_access))
        .route("/api/v1/tools/id/{id}/delete", delete(delete_one))
        .route("/api/v1/tools/id/{id}/valves", get(valves))
        .route("/api/v1/tools/id/{id}/valves/spec", get(valves_spec))
        .route("/api/v1/tools/id/{id}/valves/update", post(valves_update))
        .route("/api/v1/tools/id/{id}/valves/user", get(user_valves))
        .route(
            "/api/v1/tools/id/{id}/valves/user/spec",
            get(user_valves_spec),
        )
        .route(
            "/api/v1/tools/id/{id}/valves/user/update",
            post(user_valves_update),
        )
        .route("/api/v1/tools/id/{id}/history", get(history_list))
        .route("/api/v1/tools/id/{id}/history/diff", get(history_diff))
        .route(
            "/api/v1/tools/id/{id}/history/{history_id}",
            get(history_entry).delete(history_delete),
        )
        .route("/api/v1/tools/id/{id}/update/version", post(set_version))
}
