//! Keeping the live feed of shared chats to the accounts that may still read
//! them: after sharing changes, every tab that joined a chat it does not own
//! gets `chat:access` (so the page reloads what it may see), and a tab that
//! lost access leaves the chat's room.

use serde_json::json;

use super::SocketUser;
use crate::chat::access::{load_accessible, Viewer};
use crate::events::chat_room;
use crate::state::AppState;

/// Re-checks the joined tabs of `chat_ids`, or of every chat when `None`.
pub async fn refresh(state: &AppState, chat_ids: Option<&[String]>) {
    let Some(io) = state.io() else { return };
    let admin_chat_access = state.settings.env_flags.enable_admin_chat_access;
    let mut touched = std::collections::HashSet::new();
    for s in io.sockets() {
        let Some(user) = s.extensions.get::<SocketUser>() else {
            continue;
        };
        let joined: Vec<String> = s
            .rooms()
            .iter()
            .filter_map(|r| r.strip_prefix("chat:").map(str::to_string))
            .filter(|cid| chat_ids.is_none_or(|ids| ids.contains(cid)))
            .collect();
        for cid in joined {
            let viewer = Viewer {
                id: user.id.clone(),
                admin: user.role == "admin",
                admin_chat_access,
            };
            let c2 = cid.clone();
            let (owner, readable) = state
                .db
                .read(move |c| {
                    let owner = crate::db::chats::owner_and_folder(c, &c2)?.map(|(o, _)| o);
                    let ok = load_accessible(c, &viewer, &c2, false)?.is_some();
                    Ok((owner, ok))
                })
                .await
                .unwrap_or((None, false));
            if owner.as_deref() == Some(user.id.as_str()) {
                continue;
            }
            if !readable {
                s.leave(chat_room(&cid));
                touched.insert(cid.clone());
            }
            let payload = json!({"chat_id": cid, "shared": true,
                                 "data": {"type": "chat:access", "data": {}}});
            let _ = s.emit("events", &payload);
        }
    }
    for cid in touched {
        super::announce_presence(io, &cid).await;
    }
}
