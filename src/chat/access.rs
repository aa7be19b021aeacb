//! Who may open a stored chat, and who may add turns to it (upstream's
//! accessible-chat rule): the owner; an admin reading (with admin chat
//! access, or an internal chat); a reader granted a share in `continue`
//! ("Allow replies") mode; a reader of the chat's folder, who may also
//! write while the folder is shared in `continue` mode.

use rusqlite::Connection;

use crate::db::chats::{self, ChatRow};
use crate::db::{folders, shared_chats};

/// The account asking.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub id: String,
    pub admin: bool,
    /// `ENABLE_ADMIN_CHAT_ACCESS`.
    pub admin_chat_access: bool,
}

pub fn accessible(
    c: &Connection,
    v: &Viewer,
    chat: ChatRow,
    write: bool,
) -> rusqlite::Result<Option<ChatRow>> {
    if chat.user_id == v.id || (v.admin && !write && (v.admin_chat_access || chat.is_internal())) {
        return Ok(Some(chat));
    }
    if let Some(shared) = shared_chats::get_by_chat_id(c, &chat.id)? {
        if shared.share_mode() == Some("continue")
            && shared_chats::user_has_grant(c, &v.id, "shared_chat", &chat.id, "read")?
        {
            return Ok(Some(chat));
        }
    }
    if let Some(fid) = chat.folder_id.as_deref() {
        if let Some(folder) = folders::get(c, fid)? {
            if (!write || folder.share_mode() == Some("continue"))
                && folders::has_access(c, &v.id, &folder, "read")?
            {
                return Ok(Some(chat));
            }
        }
    }
    Ok(None)
}

/// [`accessible`] by id; `None` for a chat that does not exist.
pub fn load_accessible(
    c: &Connection,
    v: &Viewer,
    id: &str,
    write: bool,
) -> rusqlite::Result<Option<ChatRow>> {
    match chats::get(c, id)? {
        Some(chat) => accessible(c, v, chat, write),
        None => Ok(None),
    }
}
