//! Upstream's `skills` router (`/api/v1/skills/*`): markdown instructions
//! (`SKILL.md` plus optional supporting files) with versions and sharing.
//! Packages import and export as JSON, ZIP or `.skill`; loading one from a
//! URL is not supported.

mod common;
mod content;
mod history;
mod import;
mod list;
mod transfer;
mod write;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

use content::{file_content, files};
use history::{file_diff, history_delete, history_diff, history_entry, history_list, set_version};
use list::{list_skills, search};
use transfer::{export, load_url};
use write::{clone, create, delete_one, get_one, toggle, update, update_access};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/skills/", get(list_skills))
        .route("/api/v1/skills/list", get(search))
        .route("/api/v1/skills/export", get(export))
        .route("/api/v1/skills/create", post(create))
        .route("/api/v1/skills/load/url", post(load_url))
        .route(
            "/api/v1/skills/import/preview",
            post(import::preview).layer(DefaultBodyLimit::max(import::BODY_LIMIT)),
        )
        .route(
            "/api/v1/skills/import",
            post(import::import).layer(DefaultBodyLimit::max(import::BODY_LIMIT)),
        )
        .route("/api/v1/skills/id/{id}", get(get_one))
        .route("/api/v1/skills/id/{id}/update", post(update))
        .route("/api/v1/skills/id/{id}/access/update", post(update_access))
        .route("/api/v1/skills/id/{id}/toggle", post(toggle))
        .route("/api/v1/skills/id/{id}/delete", delete(delete_one))
        .route("/api/v1/skills/id/{id}/files", get(files))
        .route("/api/v1/skills/id/{id}/files/content", get(file_content))
        .route("/api/v1/skills/id/{id}/history", get(history_list))
        .route("/api/v1/skills/id/{id}/history/diff", get(history_diff))
        .route("/api/v1/skills/id/{id}/history/diff/file", get(file_diff))
        .route(
            "/api/v1/skills/id/{id}/history/{history_id}",
            get(history_entry).delete(history_delete),
        )
        .route("/api/v1/skills/id/{id}/update/version", post(set_version))
        .route("/api/v1/skills/id/{id}/clone", post(clone))
}

#[cfg(test)]
mod tests {
    use crate::workspace::skills::mentioned_skill_ids;

    #[test]
    fn mentions() {
        assert_eq!(
            mentioned_skill_ids("use <$code-review|Code review> and </tone|Tone> or <$x1>"),
            vec!["code-review", "tone", "x1"]
        );
        assert!(mentioned_skill_ids("<b>bold</b> <$Bad> </x> a < b").is_empty());
    }
}
