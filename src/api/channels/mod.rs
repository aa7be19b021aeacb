//! `/api/v1/channels`: standard channels (shared by access grants), group
//! channels and direct messages (shared by membership), their messages,
//! threads, reactions, pins, read state and incoming webhooks. Every change
//! is pushed to the channel's socket room as `events:channel`.
//!
//! Layout: `common.rs` (the feature gate, access checks, loading a channel),
//! `wire.rs` (messages as sent), and one file per group of handlers:
//! `channel.rs`, `messages.rs`, `webhooks.rs`, `apps.rs` (apps in a channel).

mod apps;
mod channel;
mod common;
mod messages;
mod webhooks;
use crate::channels::wire;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

use channel::{
    add_members, create_channel, delete_channel, dm_with_user, get_channel, list_all,
    list_channels, list_members, mute, remove_members, set_active, update_access, update_channel,
};
use messages::{
    delete_message, get_message, list_messages, message_data, pin_message, pinned_messages,
    post_message, reaction, thread_messages, update_message,
};
use webhooks::{
    create_webhook, delete_webhook, list_webhooks, update_webhook, webhook_image, webhook_post,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels/", get(list_channels))
        .route("/api/v1/channels/list", get(list_all))
        .route("/api/v1/channels/users/{user_id}", get(dm_with_user))
        .route("/api/v1/channels/create", post(create_channel))
        .route(
            "/api/v1/channels/webhooks/{webhook_id}/profile/image",
            get(webhook_image),
        )
        .route(
            "/api/v1/channels/webhooks/{webhook_id}/{token}",
            post(webhook_post),
        )
        .route("/api/v1/channels/{id}", get(get_channel))
        .route("/api/v1/channels/{id}/members", get(list_members))
        .route("/api/v1/channels/{id}/members/mute", post(mute))
        .route("/api/v1/channels/{id}/members/active", post(set_active))
        .route(
            "/api/v1/channels/{id}/update/members/add",
            post(add_members),
        )
        .route(
            "/api/v1/channels/{id}/update/members/remove",
            post(remove_members),
        )
        .route("/api/v1/channels/{id}/update", post(update_channel))
        .route("/api/v1/channels/{id}/access/update", post(update_access))
        .route("/api/v1/channels/{id}/delete", delete(delete_channel))
        .route(
            "/api/v1/channels/{id}/apps",
            get(apps::list).post(apps::invite),
        )
        .route("/api/v1/channels/{id}/apps/{app_id}", delete(apps::remove))
        .route("/api/v1/channels/{id}/messages", get(list_messages))
        .route(
            "/api/v1/channels/{id}/messages/pinned",
            get(pinned_messages),
        )
        .route("/api/v1/channels/{id}/messages/post", post(post_message))
        .route(
            "/api/v1/channels/{id}/messages/{message_id}",
            get(get_message),
        )
        .route(
            "/api/v1/channels/{id}/messages/{message_id}/data",
            get(message_data),
        )
        .route(
            "/api/v1/channels/{id}/messages/{message_id}/pin",
            post(pin_message),
        )
        .route(
            "/api/v1/channels/{id}/messages/{message_id}/thread",
            get(thread_messages),
        )
        .route(
            "/api/v1/channels/{id}/messages/{message_id}/update",
            post(update_message),
        )
        .route(
            "/api/v1/channels/{id}/messages/{message_id}/reactions/add",
            post(reaction::<true>),
        )
        .route(
            "/api/v1/channels/{id}/messages/{message_id}/reactions/remove",
            post(reaction::<false>),
        )
        .route(
            "/api/v1/channels/{id}/messages/{message_id}/delete",
            delete(delete_message),
        )
        .route("/api/v1/channels/{id}/webhooks", get(list_webhooks))
        .route(
            "/api/v1/channels/{id}/webhooks/create",
            post(create_webhook),
        )
        .route(
            "/api/v1/channels/{id}/webhooks/{webhook_id}/update",
            post(update_webhook),
        )
        .route(
            "/api/v1/channels/{id}/webhooks/{webhook_id}/delete",
            delete(delete_webhook),
        )
}
