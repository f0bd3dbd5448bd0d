//! The accept loop: HTTP/1.1 connections served by hyper with a header read timeout,
//! at most [`ApiConfig::max_connections`] at once, and a graceful shutdown.
//!
//! Against slow or idle clients (slowloris): hyper closes a connection whose
//! request head has not fully arrived within the header timeout, counted from when
//! the server starts waiting for it, so an idle connection (a fresh one, or a
//! keep-alive one between requests) is closed after it too; the body has its own
//! deadline (`guard::BodyDeadline`). Past the connection limit, new connections
//! wait in the kernel's accept queue, in order, for a connection to end: file
//! descriptors never run out, and a client such as a health check gets its turn
//! within one header timeout of the slow ones ahead of it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use super::guard::LocalAddr;
use super::{ApiConfig, Backend, router};

/// How long to wait before accepting again after an error such as EMFILE (too many
/// open files): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// Serve until `shutdown` resolves; then stop accepting, close idle connections, let
/// the requests in flight finish, and return.
pub async fn serve(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(backend, listener.local_addr()?, &config);
    let limit = config.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(limit));
    let (closing, closing_rx) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => {
                permit.expect("the connection semaphore is never closed")
            }
        };
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !is_connection_error(&error) {
                        eprintln!("savepoint serve: accepting an API connection failed: {error}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            &http,
            stream,
            app.clone(),
            permit,
            closing_rx.clone(),
        ));
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it ends.
    let _all_ended = permits.acquire_many(limit as u32).await;
    Ok(())
}

/// Serve one connection; on shutdown, finish the request in flight (if any) and close.
fn connection(
    http: &hyper::server::conn::http1::Builder,
    stream: TcpStream,
    app: Router,
    permit: OwnedSemaphorePermit,
    mut closing: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let service = app.map_request(move |mut req: Request<Incoming>| {
        if let Some(local) = local {
            req.extensions_mut().insert(LocalAddr(local));
        }
        req
    });
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    async move {
        let _permit = permit;
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            // Errors are the client's (a reset, a header timeout): nothing to do.
            _ = conn.as_mut() => return,
            _ = closing.wait_for(|closing| *closing) => {}
        }
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// Errors of one connection that went away before it was accepted: accept again at once.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}
