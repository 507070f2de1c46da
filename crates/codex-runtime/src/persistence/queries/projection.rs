//! What one record writes besides its event, read and checked once for both append paths
//! ([`super::append`], three round trips, and [`super::append_flight`], one): the same record is
//! refused for the same reason, with the same error, whichever path a store takes.

use super::json_text;
use crate::persistence::error::{require_id, PersistResult, PersistenceError};
use crate::persistence::model::{is_message, item_id, item_kind, item_text, Record, PREVIEW_CHARS};

/// The row of a completed item.
pub(super) struct ItemRow<'a> {
    pub turn_id: &'a str,
    pub item_id: &'a str,
    /// The item's `type`.
    pub kind: &'a str,
    /// Its readable text.
    pub text: String,
    /// The item as stored (JSON text).
    pub raw: String,
    /// Whether it counts as a message.
    pub message: bool,
    /// The conversation's preview, for a user message (used while it has none).
    pub preview: Option<String>,
}

/// A record's projection, its fields checked and rendered as stored.
pub(super) enum Projection<'a> {
    /// A turn in progress.
    TurnStarted {
        turn_id: &'a str,
        prompt: Option<&'a str>,
    },
    /// A completed item.
    Item(ItemRow<'a>),
    /// A pending server request.
    ServerRequest {
        request_id: &'a str,
        turn_id: Option<&'a str>,
        item_id: Option<&'a str>,
        method: &'a str,
        params: String,
    },
    /// The answer to a stored server request.
    ServerRequestAnswered {
        request_id: &'a str,
        answer: String,
        answered_by: &'a str,
    },
    /// The end of a turn.
    TurnCompleted {
        turn_id: &'a str,
        status: &'static str,
        error: Option<String>,
        usage: Option<String>,
    },
    /// Deltas, errors and lag markers: the event only.
    EventOnly,
}

/// Reads and checks `record`'s projection; a record with an empty id, or an item without one,
/// is [`PersistenceError::Invalid`].
pub(super) fn projection(record: &Record) -> PersistResult<Projection<'_>> {
    Ok(match record {
        Record::TurnStarted { turn_id, prompt } => {
            require_id("turn_id", turn_id)?;
            Projection::TurnStarted {
                turn_id,
                prompt: prompt.as_deref(),
            }
        }
        Record::ItemCompleted { turn_id, item } => {
            let id = item_id(item).ok_or_else(|| PersistenceError::Invalid {
                what: "item",
                message: format!("an item of turn `{turn_id}` has no `id`"),
            })?;
            require_id("item id", id)?;
            let kind = item_kind(item);
            let text = item_text(item);
            let preview = (kind == "userMessage")
                .then(|| text.chars().take(PREVIEW_CHARS).collect::<String>());
            Projection::Item(ItemRow {
                turn_id,
                item_id: id,
                kind,
                text,
                raw: item.to_string(),
                message: is_message(kind),
                preview,
            })
        }
        Record::ServerRequest {
            turn_id,
            request_id,
            method,
            item_id,
            params,
        } => {
            require_id("request_id", request_id)?;
            Projection::ServerRequest {
                request_id,
                turn_id: turn_id.as_deref(),
                item_id: item_id.as_deref(),
                method,
                params: params.to_string(),
            }
        }
        Record::ServerRequestAnswered {
            request_id,
            answer,
            answered_by,
        } => Projection::ServerRequestAnswered {
            request_id,
            answer: answer.to_string(),
            answered_by,
        },
        Record::TurnCompleted {
            turn_id,
            status,
            error,
            usage,
        } => {
            require_id("turn_id", turn_id)?;
            Projection::TurnCompleted {
                turn_id,
                status: status.as_str(),
                error: json_text(error),
                usage: json_text(usage),
            }
        }
        Record::Deltas { .. } | Record::Error { .. } | Record::Lagged { .. } => {
            Projection::EventOnly
        }
    })
}
