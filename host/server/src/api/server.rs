//! The accept loop: HTTP/1.1 connections served by hyper with a header read timeout,
//! at most [`ApiConfig::max_connections`] at once, and a graceful shutdown.
//!
//! Against slow or idle clients (slowloris): hyper closes a connection whose
//! request head has not fully arrived within the header timeout, counted from when
//! the server starts waiting for it, so an idle connection (a fresh one, or a
//! keep-alive one between requests) is closed after it too; the body has its own
//! deadline (`guard::BodyDeadline`).
//!
//! Against clients that hold every slot (a keep-alive connection that sends a cheap
//! request now and then, clients that reconnect whenever they are closed): each
//! connection is *busy* from when its request head has arrived until its response
//! has been written (or dropped), and *idle* otherwise (between requests, or
//! still sending a head). At the limit, a new connection is accepted by closing the
//! oldest idle one; connections busy with a request are never closed for it. Only
//! when every connection is busy does a new one wait (in the kernel's accept queue,
//! in order) for one to end or become idle. So `/health` is answered as long as
//! fewer than `max_connections` connections are busy with requests. A connection
//! whose answer is an event stream counts as idle once the stream has started: it
//! may be closed for a newcomer, and its client reconnects with `Last-Event-ID`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tower::ServiceExt;

use super::error::HttpError;
use super::events::Closing;
use super::guard::{LocalAddr, PeerAddr};
use super::{ApiConfig, Backend, router};

/// How long to wait before accepting again after an error such as EMFILE (too many
/// open files): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// [`Activity`]'s value once the accept loop has chosen to close the connection.
const EVICTED: usize = usize::MAX;

/// How many requests of one connection are being handled (their responses not yet
/// written): 0 when idle, [`EVICTED`] once closed to make room.
#[derive(Debug, Default)]
struct Activity(AtomicUsize);

impl Activity {
    /// Marks a request as being handled; `false` when the connection is being evicted.
    fn begin(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != EVICTED).then(|| n + 1)
            })
            .is_ok()
    }

    fn end(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != EVICTED && n > 0).then(|| n - 1)
            });
    }

    /// Claims an idle connection for eviction; `false` when it is busy.
    fn evict(&self) -> bool {
        self.0
            .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// One request being handled: ends (and wakes an accept loop waiting for an idle
/// connection) when dropped, with the response body once written or with the
/// request if it is abandoned.
struct Busy {
    activity: Arc<Activity>,
    went_idle: Arc<Notify>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.activity.end();
        self.went_idle.notify_one();
    }
}

/// An open connection as the accept loop sees it.
struct Slot {
    activity: Arc<Activity>,
    /// Sent (or dropped) to close the connection at once.
    evict: oneshot::Sender<()>,
}

/// Serve until `shutdown` resolves; then stop accepting, close idle connections, let
/// the requests in flight finish, and return.
pub async fn serve(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(backend, listener.local_addr()?, &config);
    let limit = config.max_connections.max(1);
    let (closing, closing_rx) = watch::channel(false);
    let (ended, mut ended_rx) = mpsc::unbounded_channel::<u64>();
    let went_idle = Arc::new(Notify::new());
    // Oldest first: connection ids only grow.
    let mut open: BTreeMap<u64, Slot> = BTreeMap::new();
    let mut next_id = 0u64;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    'accept: loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            Some(id) = ended_rx.recv() => {
                open.remove(&id);
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !is_connection_error(&error) {
                        tracing::warn!("accepting an API connection failed: {error}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
        };
        // Make room for it: close the oldest idle connection, or wait for one to end
        // or become idle (the connections behind this one wait in the accept queue).
        while open.len() >= limit {
            if evict_oldest_idle(&mut open) {
                break;
            }
            tokio::select! {
                () = &mut shutdown => break 'accept,
                Some(id) = ended_rx.recv() => {
                    open.remove(&id);
                }
                () = went_idle.notified() => {}
            }
        }
        let id = next_id;
        next_id += 1;
        let activity = Arc::new(Activity::default());
        let (evict, evicted) = oneshot::channel();
        open.insert(
            id,
            Slot {
                activity: activity.clone(),
                evict,
            },
        );
        tokio::spawn(connection(
            &http,
            stream,
            app.clone(),
            Ended {
                id,
                ended: ended.clone(),
            },
            (activity, went_idle.clone()),
            evicted,
            closing_rx.clone(),
        ));
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection task says when it ends; evicted ones are already gone from
    // `open` and end at once.
    while !open.is_empty() {
        if let Some(id) = ended_rx.recv().await {
            open.remove(&id);
        }
    }
    Ok(())
}

/// Closes the oldest idle connection, if any; `true` when it did.
fn evict_oldest_idle(open: &mut BTreeMap<u64, Slot>) -> bool {
    let Some(id) = open
        .iter()
        .find(|(_, slot)| slot.activity.evict())
        .map(|(id, _)| *id)
    else {
        return false;
    };
    if let Some(slot) = open.remove(&id) {
        let _ = slot.evict.send(());
    }
    true
}

/// Tells the accept loop that connection `id` has ended, when dropped.
struct Ended {
    id: u64,
    ended: mpsc::UnboundedSender<u64>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.ended.send(self.id);
    }
}

/// Serve one connection; on shutdown, finish the request in flight (if any) and close;
/// when evicted (idle at the connection limit), close at once.
fn connection(
    http: &hyper::server::conn::http1::Builder,
    stream: TcpStream,
    app: Router,
    ended: Ended,
    (activity, went_idle): (Arc<Activity>, Arc<Notify>),
    evicted: oneshot::Receiver<()>,
    mut closing: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let peer = stream.peer_addr().ok();
    // The event streams end when the server shuts down (see `events`).
    let stream_closing = Closing(closing.clone());
    let service = tower::service_fn(move |mut req: Request<Incoming>| {
        // Called as soon as the request head has arrived: busy from here until the
        // response body is written or dropped.
        let busy = activity.begin().then(|| Busy {
            activity: activity.clone(),
            went_idle: went_idle.clone(),
        });
        let app = app.clone();
        let stream_closing = stream_closing.clone();
        async move {
            let Some(busy) = busy else {
                return Ok::<_, Infallible>(evicted_response());
            };
            if let Some(local) = local {
                req.extensions_mut().insert(LocalAddr(local));
            }
            if let Some(peer) = peer {
                req.extensions_mut().insert(PeerAddr(peer));
            }
            req.extensions_mut().insert(stream_closing);
            let response = app.oneshot(req).await?;
            // An event stream may last for hours: it does not keep its connection
            // busy, so at the limit it is closed like an idle one (the oldest first),
            // and its client reconnects with `Last-Event-ID` and misses nothing.
            // Else as many streams as the limit would hold every slot, and nothing,
            // `/health` included, would be answered any more.
            if is_event_stream(&response) {
                drop(busy);
                return Ok(response);
            }
            Ok(response.map(move |body| {
                Body::new(body.map_frame(move |frame| {
                    let _busy = &busy;
                    frame
                }))
            }))
        }
    });
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    async move {
        let _ended = ended;
        let mut conn = std::pin::pin!(conn);
        let mut evicted = std::pin::pin!(evicted);
        tokio::select! {
            // Errors are the client's (a reset, a header timeout): nothing to do.
            _ = conn.as_mut() => return,
            // Idle (nothing in flight, and no new request can start): drop it now.
            _ = evicted.as_mut() => return,
            _ = closing.wait_for(|closing| *closing) => {}
        }
        conn.as_mut().graceful_shutdown();
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = evicted.as_mut() => {}
        }
    }
}

/// Whether `response` is a Server-Sent Events stream.
fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

/// The answer to a request whose head arrived just as its connection was closed to
/// make room (the client rarely sees it).
fn evicted_response() -> Response {
    let mut response = HttpError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is at its connection limit and closed this idle connection: send the \
         request again",
    )
    .into_response();
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Errors of one connection that went away before it was accepted: accept again at once.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}
