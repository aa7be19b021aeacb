//! `/api/v1/calendars`: a user's calendars (owned and shared through access
//! grants), their events with attendees and RSVPs, and the virtual
//! "Scheduled Tasks" calendar that shows automation runs, past and planned.
//!
//! Layout: `common.rs` (gates, the access check, wire shapes), `input.rs`
//! (reading partial JSON bodies), `calendar.rs` and `events.rs` (the
//! handlers).

mod calendar;
mod common;
mod events;
mod input;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

use calendar::{
    create_calendar, delete_calendar, get_calendar, list_calendars, set_default, update_access,
    update_calendar,
};
use events::{
    create_event, delete_event, get_event, list_events, rsvp_event, search_events, update_event,
};

pub use common::SCHEDULED_TASKS_CALENDAR_ID;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/calendars/", get(list_calendars))
        .route("/api/v1/calendars/create", post(create_calendar))
        .route("/api/v1/calendars/events", get(list_events))
        .route("/api/v1/calendars/events/create", post(create_event))
        .route("/api/v1/calendars/events/search", get(search_events))
        .route("/api/v1/calendars/events/{event_id}", get(get_event))
        .route(
            "/api/v1/calendars/events/{event_id}/update",
            post(update_event),
        )
        .route(
            "/api/v1/calendars/events/{event_id}/delete",
            delete(delete_event),
        )
        .route("/api/v1/calendars/events/{event_id}/rsvp", post(rsvp_event))
        .route("/api/v1/calendars/{calendar_id}", get(get_calendar))
        .route(
            "/api/v1/calendars/{calendar_id}/update",
            post(update_calendar),
        )
        .route(
            "/api/v1/calendars/{calendar_id}/access/update",
            post(update_access),
        )
        .route(
            "/api/v1/calendars/{calendar_id}/delete",
            delete(delete_calendar),
        )
        .route("/api/v1/calendars/{calendar_id}/default", post(set_default))
}
