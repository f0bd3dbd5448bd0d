//! `fetch`: one outgoing HTTP GET through `wasi:http/outgoing-handler`, so
//! the tests can check that the host lets a node reach only the hosts its
//! workflow grants, and that a refusal reaches the node as an error value.
//!
//! Config: `url` (required), an absolute `http://host:port/path` URL.
//!
//! Returns `{"status": <code>, "body": "<text>"}` when a response came back,
//! `{"http_error": "<what went wrong>"}` when the request failed (refused by
//! the host, connection error, ...). It never fails or traps on purpose.

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Value, json};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    url: String,
}

struct Fetch;

impl Node for Fetch {
    const NAME: &'static str = "fetch";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "GETs `url` over wasi:http and returns the status and body, or the error (a test node).";
    type Config = Config;
    type State = Value;

    fn run(ctx: &Context<Config>, _state: Value) -> Result<Outcome, Failure> {
        log::info!("{}: GET {}", ctx.node, ctx.config.url);
        Ok(Outcome::update(match get(&ctx.config.url) {
            Ok((status, body)) => json!({ "status": status, "body": body }),
            Err(error) => {
                log::warn!("{}: {error}", ctx.node);
                json!({ "http_error": error })
            }
        }))
    }
}

/// GET `url`; the status and the body as text, or the error as text.
fn get(url: &str) -> Result<(u16, String), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("not an absolute URL: {url}"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };

    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| "cannot set the method")?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "cannot set the scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| format!("bad authority {authority:?}"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| format!("bad path {path:?}"))?;
    let body = request
        .body()
        .map_err(|()| "cannot take the request body")?;

    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("the response never came")?
        .map_err(|()| "the response was already taken")?
        .map_err(|e| format!("{e:?}"))?;

    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| "cannot take the response body")?;
    let stream = incoming
        .stream()
        .map_err(|()| "cannot read the response body")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(stream);
    drop(IncomingBody::finish(incoming));
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

export_node!(Fetch);
