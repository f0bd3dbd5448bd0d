//! The event routes: `GET /runs/{id}/events`, a run's events as Server-Sent Events, or
//! the JSON page of them when the client asks for one; and `GET /events?workflow=`,
//! every run's events as Server-Sent Events.
//!
//! A stream sends each [`StreamEvent`](super::StreamEvent) as `id:`, `event:` and one
//! `data:` line of JSON, and a `: keep-alive` comment every [`KEEP_ALIVE`] while nothing
//! happens (so that proxies and clients see a live connection). A client that
//! reconnects with `Last-Event-ID` gets exactly what came after that id. A stream ends
//! when the backend ends it (a run's, once the run has finished and all is sent) or
//! when the server shuts down.

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::error::{ApiError, HttpError};
use super::extract::{Params, path_thread};
use super::routes::{Backed, PathId, QueryPairs, streamed};
use super::{EVENTS_PAGE, EventStream, Subscribe};
use super::{openapi, shapes};

/// How often a stream that has nothing to send says it is alive.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Set by the server loop in every request's extensions: true once the server shuts
/// down, which ends the streams (a graceful shutdown waits for every response).
#[derive(Debug, Clone)]
pub(super) struct Closing(pub tokio::sync::watch::Receiver<bool>);

/// `GET /runs/{id}/events`: Server-Sent Events, or with `limit` or `cursor`, or
/// `Accept: application/json` without `text/event-stream`, a page of them
/// (`?limit=1000&cursor=C`).
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The run's thread id"),
        openapi::EventsQuery,
        openapi::RunLastEventId,
    ),
    responses((
        status = 200,
        description = "Server-Sent Events: the run's events and log lines as they are \
                       committed, until it has finished (`id:` \"E-L\", `event:` its name, \
                       `data:` the event as the page gives it, with `thread`); with `limit` \
                       or `cursor`, or `Accept: application/json` without \
                       `text/event-stream`, a page of the run's events, oldest first",
        content(
            (shapes::EventsPage = "application/json"),
            (shapes::StreamMessage = "text/event-stream"),
        ),
    )),
)]
pub(super) async fn run_events(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    headers: HeaderMap,
    closing: Option<axum::Extension<Closing>>,
) -> Result<Response, HttpError> {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    // Checked for a page too: nothing a client sends is ignored without a word.
    let last_event_id = last_event_id(&headers, Ids::RunStream)?;
    if params.has("limit") || params.has("cursor") || wants_json(&headers) {
        if last_event_id.is_some() {
            return Err(ApiError::usage(
                "header Last-Event-ID resumes a stream, not a page: a page goes on from \
                 its query parameter \"cursor\"",
            )
            .into());
        }
        let page = params.page(EVENTS_PAGE)?;
        params.finish()?;
        let pieces = backend.run_events(thread, page).await?;
        return Ok(streamed(pieces));
    }
    // Taken so that an unknown parameter's error names the two this route takes.
    params.page(EVENTS_PAGE)?;
    params.finish()?;
    let stream = backend
        .subscribe(Subscribe {
            thread: Some(thread),
            workflow: None,
            last_event_id,
        })
        .await?;
    Ok(sse(stream, closing))
}

/// `GET /events?workflow=NAME`: every run's events (of that workflow) as Server-Sent
/// Events, from now, or after `Last-Event-ID`.
#[utoipa::path(
    get,
    path = "/events",
    tag = "runs",
    params(openapi::AllEventsQuery, openapi::LastEventId),
    responses((
        status = 200,
        description = "Server-Sent Events, without end: every run's events (of the workflow) \
                       from now on, or after `Last-Event-ID` (`id:` the event's id, `event:` \
                       its name, `data:` the event with `thread`)",
        content_type = "text/event-stream",
        body = shapes::StreamMessage,
    )),
)]
pub(super) async fn all_events(
    State(backend): Backed,
    query: QueryPairs,
    headers: HeaderMap,
    closing: Option<axum::Extension<Closing>>,
) -> Result<Response, HttpError> {
    let mut params = Params::new(query)?;
    let workflow = params.workflow()?;
    params.finish()?;
    let last_event_id = last_event_id(&headers, Ids::EveryRun)?;
    let stream = backend
        .subscribe(Subscribe {
            thread: None,
            workflow,
            last_event_id,
        })
        .await?;
    Ok(sse(stream, closing))
}

/// Whether the client asked for JSON rather than a stream.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let types: Vec<&str> = accept
        .split(',')
        .map(|media| media.split(';').next().unwrap_or("").trim())
        .collect();
    types.contains(&"application/json") && !types.contains(&"text/event-stream")
}

/// The ids a stream sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// `"E-L"`: the last event id and log line id sent (a bare `"E"` is taken too).
    RunStream,
    /// `"E"`: the last event id sent.
    EveryRun,
}

/// The `Last-Event-ID` header, checked: 400 if it is not an id the stream sends.
fn last_event_id(headers: &HeaderMap, ids: Ids) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    let number = |digits: &str| !digits.is_empty() && digits.parse::<u64>().is_ok();
    let ok = match (ids, text.split_once('-')) {
        (Ids::RunStream, Some((event, log))) => number(event) && number(log),
        (_, None) => number(text),
        (Ids::EveryRun, Some(_)) => false,
    };
    if !ok {
        let expected = match ids {
            Ids::RunStream => "\"E-L\" (the id of an event of this stream)",
            Ids::EveryRun => "an event id (digits)",
        };
        return Err(ApiError::usage(format!(
            "header Last-Event-ID must be {expected}, not {:?}",
            String::from_utf8_lossy(value.as_bytes())
        )));
    }
    Ok(Some(text.to_owned()))
}

/// The stream as Server-Sent Events with keep-alive comments, ended when the server
/// shuts down. An error of the backend ends the stream (the client reconnects).
fn sse(stream: EventStream, closing: Option<axum::Extension<Closing>>) -> Response {
    let events = stream
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(|item| {
            std::future::ready(item.ok().map(|event| {
                Ok::<_, std::convert::Infallible>(
                    Event::default()
                        .id(event.id)
                        .event(event.name)
                        .data(&*event.data),
                )
            }))
        });
    let closed = async move {
        match closing {
            Some(axum::Extension(Closing(mut closing))) => {
                let _ = closing.wait_for(|closing| *closing).await;
            }
            None => std::future::pending().await,
        }
    };
    let events = events.take_until(Box::pin(closed));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response()
}
