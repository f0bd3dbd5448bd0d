//! Nodes that snoop on files, the environment and the network see only
//! refusals; a secret from the environment reaches the node and is never stored.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::{Value, json};

use super::{Arena, hostile};
use crate::fixtures::{DEADLINE, Env, Messages, POLL};

#[test]
fn reading_etc_passwd_is_denied() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "snoop",
        &hostile("read_passwd", ""),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "snoop");
    assert!(
        state.get("read").is_none(),
        "the node read the file: {state}"
    );
    assert!(state["denied"].is_string(), "{state}");
}

#[test]
fn listing_the_root_folder_is_denied() {
    let arena = Arena::new(&["counter", "hostile"], "lister", &hostile("list_root", ""));
    let status = arena.play();
    let state = arena.assert_completed(&status, "lister");
    assert!(state.get("listed").is_none(), "the node listed /: {state}");
    assert!(state["denied"].is_string(), "{state}");
}

#[test]
fn no_environment_variable_is_visible() {
    let arena = Arena::new(&["counter", "hostile"], "nosy", &hostile("env", ""));
    let status = arena.play();
    let state = arena.assert_completed(&status, "nosy");
    assert_eq!(state["home"], Value::Null, "$HOME is visible: {state}");
    assert_eq!(
        state["vars"], 0,
        "environment variables are visible: {state}"
    );
    assert_eq!(
        state["args"], 0,
        "the host's arguments are visible: {state}"
    );
}

#[test]
fn a_socket_to_a_local_listener_is_denied() {
    let listener = Untouched::bind();
    let arena = Arena::new(
        &["counter", "hostile"],
        "dialer",
        &format!(
            "plugin = \"hostile\"\nconfig = {{ mode = \"socket\", port = {} }}\ntimeout = \"10s\"",
            listener.addr.port()
        ),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "dialer");
    assert!(
        state.get("connected").is_none(),
        "the node connected: {state}"
    );
    assert!(state["denied"].is_string(), "{state}");
    listener.assert_untouched();
}

#[test]
fn http_to_a_host_not_allowed_is_denied_and_the_node_sees_it() {
    let forbidden = Untouched::bind();
    let allowed = Untouched::bind();
    let arena = Arena::new(
        &["counter", "fetch"],
        "peeker",
        &format!(
            "plugin = \"fetch\"\nconfig = {{ url = \"http://{}/secret\" }}\n\
             allow_http = [\"{}\"]\ntimeout = \"10s\"",
            forbidden.addr, allowed.addr
        ),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "peeker");
    let error = state["http_error"]
        .as_str()
        .unwrap_or_else(|| panic!("the node sees an error value: {state}"));
    assert!(
        error.to_ascii_lowercase().contains("denied"),
        "the error says the request was denied: {error}"
    );
    forbidden.assert_untouched();
    allowed.assert_untouched();
}

#[test]
fn http_to_an_allowed_host_succeeds() {
    let server = OneShotServer::start("hello from the test server");
    let arena = Arena::new(
        &["counter", "fetch"],
        "caller",
        &format!(
            "plugin = \"fetch\"\nconfig = {{ url = \"http://{}/hello?x=1\" }}\n\
             allow_http = [\"{}\"]\ntimeout = \"10s\"",
            server.addr, server.addr
        ),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "caller");
    assert_eq!(
        (&state["status"], &state["body"]),
        (&json!(200), &json!("hello from the test server")),
        "{state}"
    );
    let request = server.request();
    assert!(
        request.starts_with("GET /hello?x=1 HTTP/1.1\r\n"),
        "the server got: {request:?}"
    );
}

/// A loopback listener that nobody should reach: it is never accepted from,
/// and [`Untouched::assert_untouched`] checks that no connection came.
struct Untouched {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Untouched {
    fn bind() -> Untouched {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        Untouched { listener, addr }
    }

    fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{peer} connected to {}", self.addr),
            Err(e) => panic!("accept on {}: {e}", self.addr),
        }
    }
}

/// An HTTP server on a loopback port that answers one request with 200 and
/// a text body, then stops; it gives up after [`DEADLINE`].
struct OneShotServer {
    addr: SocketAddr,
    thread: JoinHandle<Result<String, String>>,
}

impl OneShotServer {
    fn start(body: &'static str) -> OneShotServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if started.elapsed() > DEADLINE {
                            return Err("no request came".to_string());
                        }
                        std::thread::sleep(POLL);
                    }
                    Err(e) => return Err(format!("accept: {e}")),
                }
            };
            stream.set_nonblocking(false).map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(DEADLINE))
                .map_err(|e| e.to_string())?;
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            stream
                .write_all(response.as_bytes())
                .map_err(|e| format!("write: {e}"))?;
            Ok(String::from_utf8_lossy(&head).into_owned())
        });
        OneShotServer { addr, thread }
    }

    /// The head of the request it answered.
    fn request(self) -> String {
        self.thread
            .join()
            .expect("the server thread panicked")
            .unwrap_or_else(|e| panic!("the test server on {}: {e}", self.addr))
    }
}

/// `${env:NAME}` in a config is resolved when the node is called; the value
/// never reaches the database (failure messages and logs are redacted).
#[test]
fn secrets_from_the_environment_are_resolved_and_never_stored() {
    let env = Env::new(&["counter"]);
    let secret = "s3cr3t-7f1c2a";
    let workflow = env.workflow(
        "secret.toml",
        "name = \"secret\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\n\
         config = { mode = \"fatal\", message = \"token ${env:SP_TEST_SECRET} rejected\" }\nnext = \"end\"\n",
    );
    let output = env
        .command(&["run", &workflow, "--thread", "s"])
        .env("SP_TEST_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let status = env.status("s");
    let mut said = Messages::new();
    said.add("the secret set", status["error"].as_str().unwrap());
    assert!(!env.db_holds(secret), "the database holds the secret");

    // Without the variable, the node is not called and the error says why.
    env.exits(1, &["run", &workflow, "--thread", "unset"]);
    said.add(
        "the secret unset",
        env.status("unset")["error"].as_str().unwrap(),
    );
    said.check("secret-in-config.txt");
}
