//! The `chat` table. `chat.chat` holds the whole conversation as the UI renders
//! it (`history.messages` + `history.currentId`); every message write also goes
//! to `chat_message` (see [`super::chat_messages`]) so both stay in step.
//!
//! One file per concern; the pure edits of the history tree (no database) are
//! in [`crate::chat::history`]. This file only declares the parts and names
//! what they offer.

mod lists;
mod messages;
mod rows;
mod search;
mod tags;
#[cfg(test)]
mod tests;
pub mod timers;
mod write;

pub use lists::{
    all_chats, all_for_user, archived_tag_ids, count_archived, count_for_user,
    count_in_folder_all_users, count_in_folders, in_folders, list_by_tag, list_filtered,
    list_in_folder, list_in_folder_all_users, list_titles, ChatTitleRow, ListFilter, SortBy,
    TitleQuery, ORDERABLE, PAGE_SIZE,
};
pub use messages::{delete_message, upsert_message, upsert_message_with};
pub use rows::{get, get_for_user, messages_map, owner_and_folder, response, wire, ChatRow};
pub use search::{chat_messages, search, search_content_query, search_snippet, search_terms};
pub use tags::{add_tags, count_by_tag, delete_orphan_tags, remove_tag, set_tags};
pub use write::{
    archive_all, delete, delete_all_for_user, delete_in_folder, insert, insert_new,
    internal_children, mark_all_read, move_folder_chats, set_folder, set_last_read_at,
    set_share_id, set_tasks, set_title, set_variables, tasks_of, toggle_archived, toggle_pinned,
    unarchive_all, update_chat, update_params, NewChat,
};
