//! Playing a [`Plan`](crate::plan::Plan)'s steps as a Server-Sent Events body, stalls included.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, watch};

use crate::plan::Step;
use crate::sse;
use crate::state::Shared;

/// SSE frames buffered per stream before the producer waits for the client.
const STREAM_BUFFER: usize = 32;

/// A `200 text/event-stream` response fed by a task that plays `steps`.
pub(crate) fn sse_response(shared: &Arc<Shared>, steps: Vec<Step>) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    tokio::spawn(produce(Arc::clone(shared), steps, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|err| {
            let message = format!("mock model: cannot build the stream response: {err}");
            tracing::warn!("{message}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(sse::error_body(&message, "mock_model_error")),
            )
                .into_response()
        })
}

/// Sends the steps of one stream; stops early when the client goes away or the server stops.
async fn produce(shared: Arc<Shared>, steps: Vec<Step>, tx: mpsc::Sender<Bytes>) {
    for step in steps {
        let keep_going = match step {
            Step::Event(event) => send(&shared, &tx, Bytes::from(sse::frame(&event))).await,
            Step::Sleep(delay) => tokio::select! {
                () = tokio::time::sleep(delay) => true,
                () = tx.closed() => false,
                () = shared.cancel.cancelled() => false,
            },
            Step::Stall => hold(&shared, &tx).await,
        };
        if !keep_going {
            tracing::debug!("mock model: stream ended early (client gone or server stopping)");
            if tx.is_closed() && !shared.cancel.is_cancelled() {
                shared
                    .streams_closed_by_client
                    .send_modify(|count| *count += 1);
            }
            return;
        }
    }
}

async fn send(shared: &Shared, tx: &mpsc::Sender<Bytes>, frame: Bytes) -> bool {
    tokio::select! {
        sent = tx.send(frame) => sent.is_ok(),
        () = shared.cancel.cancelled() => false,
    }
}

/// Holds a stalled stream, sending keepalives, until released; false when it must end instead.
async fn hold(shared: &Shared, tx: &mpsc::Sender<Bytes>) -> bool {
    struct Held<'a>(&'a watch::Sender<usize>);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.send_modify(|count| *count = count.saturating_sub(1));
        }
    }
    shared.stalls_held.send_modify(|count| *count += 1);
    let _held = Held(&shared.stalls_held);
    let mut keepalive = tokio::time::interval(shared.keepalive_interval);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keepalive.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            permit = shared.stall_releases.acquire() => {
                return match permit {
                    Ok(permit) => {
                        permit.forget();
                        true
                    }
                    Err(_) => false,
                };
            }
            _ = keepalive.tick() => {
                if !send(shared, tx, Bytes::from_static(sse::KEEPALIVE.as_bytes())).await {
                    return false;
                }
            }
            () = tx.closed() => return false,
            () = shared.cancel.cancelled() => return false,
        }
    }
}
