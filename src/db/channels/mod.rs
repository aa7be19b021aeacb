//! The `channel`, `channel_member`, `channel_webhook` and `channel_file`
//! tables. Timestamps are nanoseconds.
//!
//! Standard channels (type NULL/"") are shared through `access_grant` rows of
//! resource type `channel`; `group` and `dm` channels through membership.
//!
//! One file per table group: `channel.rs` (channels and their file links),
//! `members.rs`, `people.rs` (the user fields channels show) and
//! `webhooks.rs`; everything is offered from here.

mod channel;
mod members;
mod people;
mod webhooks;

#[cfg(test)]
mod tests;

pub use channel::{
    add_file, all, delete, dm_between, for_user, get, insert, set_file_message, update, ChannelRow,
    ChannelUpdate, RESOURCE,
};
pub use members::{
    activate_all, add_members, group_user_ids, is_active_member, is_manager, join, member,
    member_user_ids, remove_members, set_active, set_last_read, set_muted, MemberRow,
};
pub use people::{people, people_page, person, PeopleFilter, Person};
pub use webhooks::{
    delete_webhook, insert_webhook, touch_webhook, update_webhook, webhook, webhook_names,
    webhooks, WebhookRow,
};
