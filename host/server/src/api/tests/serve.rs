//! A real server on a loopback port: answers, a chunked body over the limit, and a
//! graceful shutdown.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::FakeBackend;
use crate::api::{ApiConfig, serve};

/// Sends one HTTP/1.1 request over a plain socket and returns the whole response.
async fn raw_request(addr: std::net::SocketAddr, head_and_body: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may answer (and close) before reading a large body: ignore write
        // errors and read what came back.
        let _ = stream.write_all(&head_and_body);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn serve_answers_then_shuts_down_gracefully() {
    let gate = Arc::new(Notify::new());
    let backend = Arc::new(FakeBackend {
        plugins_gate: Some(gate.clone()),
        ..FakeBackend::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        backend.clone(),
        ApiConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let health = raw_request(
        addr,
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes(),
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(health.ends_with(r#"{"status":"ok"}"#), "{health}");

    // A chunked body (no Content-Length) over the limit is refused too.
    let mut chunked = format!(
        "POST /runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend(std::iter::repeat_n(b' ', 64 * 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let too_large = raw_request(addr, chunked).await;
    assert!(
        too_large.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{too_large}"
    );
    assert!(too_large.contains("request body is larger than the limit of 1 MiB"));

    // A request in flight when shutdown begins still gets its answer.
    let in_flight = tokio::spawn(raw_request(
        addr,
        format!("GET /plugins HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes(),
    ));
    wait_for_call(&backend, "plugins").await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !server.is_finished(),
        "the server waits for the request in flight"
    );
    gate.notify_one();
    let plugins = in_flight.await.unwrap();
    assert!(plugins.starts_with("HTTP/1.1 200 OK\r\n"), "{plugins}");
    assert!(plugins.contains(r#""name":"upper""#), "{plugins}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops after shutdown")
        .unwrap()
        .unwrap();
}

/// Wait (up to 5 s) until `backend` has been asked for `route`.
async fn wait_for_call(backend: &FakeBackend, route: &str) {
    for _ in 0..500 {
        if backend
            .calls
            .lock()
            .unwrap()
            .iter()
            .any(|call| call == route)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A server with `config` on a free loopback port; dropping the sender stops it.
async fn start(config: ApiConfig) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        Arc::new(FakeBackend::default()),
        config,
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

#[tokio::test]
async fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let (addr, _stop) = start(ApiConfig {
        header_timeout: Duration::from_millis(200),
        ..ApiConfig::default()
    })
    .await;
    let half = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&half).unwrap();
        let mut rest = Vec::new();
        // Ok: the server closed the connection (a timeout would be an error).
        stream.read_to_end(&mut rest).map(|_| rest)
    })
    .await
    .unwrap();
    assert_eq!(closed.unwrap(), b"", "closed without an answer");
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_idle_ones_to_time_out() {
    let (addr, _stop) = start(ApiConfig {
        header_timeout: Duration::from_millis(300),
        max_connections: 2,
        ..ApiConfig::default()
    })
    .await;
    // Five idle connections, more than the limit, that never send a byte.
    let idle: Vec<std::net::TcpStream> = (0..5)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let health = raw_request(
        addr,
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes(),
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    drop(idle);
}

/// Reads one response on a keep-alive connection: the head, then a body of
/// `Content-Length` bytes. Empty when the server closed the connection instead.
fn read_response(stream: &mut std::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => return String::from_utf8_lossy(&bytes).into_owned(),
            Ok(_) => bytes.push(byte[0]),
            Err(error) => panic!("reading a response: {error}"),
        }
    }
    let head = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    bytes.extend(body);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A keep-alive connection that has had one /health answered and is now idle.
fn idle_keep_alive(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let answer = read_response(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    stream
}

/// Whether the server has closed `stream` (it reads the end, or a reset).
fn is_closed(stream: &mut std::net::TcpStream) -> bool {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[tokio::test]
async fn at_the_limit_the_oldest_idle_connection_makes_room() {
    // The header timeout is far beyond the clients' read timeout (10 s): a newcomer
    // that had to wait for it would fail.
    let (addr, _stop) = start(ApiConfig {
        header_timeout: Duration::from_secs(3600),
        max_connections: 4,
        ..ApiConfig::default()
    })
    .await;
    tokio::task::spawn_blocking(move || {
        // Two keep-alive connections between requests, two that are still sending
        // their heads: the limit is full, and nobody is being answered.
        let mut oldest = idle_keep_alive(addr);
        let mut second = idle_keep_alive(addr);
        let mut half_sent: Vec<std::net::TcpStream> = (0..2)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream
                    .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
                    .unwrap();
                stream
            })
            .collect();
        // Each newcomer closes the oldest idle connection, in order.
        let mut newcomer = idle_keep_alive(addr);
        assert!(is_closed(&mut oldest), "the oldest was closed");
        let _next = idle_keep_alive(addr);
        assert!(is_closed(&mut second), "then the second oldest");
        let _again = idle_keep_alive(addr);
        assert!(is_closed(&mut half_sent[0]), "then a half-sent one");
        // The newcomer's connection keeps working while it is not the oldest idle one.
        newcomer
            .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .unwrap();
        let answer = read_response(&mut newcomer);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_connection_busy_with_a_request_is_not_evicted() {
    let gate = Arc::new(Notify::new());
    let backend = Arc::new(FakeBackend {
        plugins_gate: Some(gate.clone()),
        ..FakeBackend::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        backend.clone(),
        ApiConfig {
            header_timeout: Duration::from_secs(3600),
            max_connections: 1,
            ..ApiConfig::default()
        },
        async {
            let _ = stopped.await;
        },
    ));
    // The only slot is busy: /plugins waits at the gate.
    let busy = tokio::spawn(raw_request(
        addr,
        format!("GET /plugins HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes(),
    ));
    wait_for_call(&backend, "plugins").await;
    // A newcomer waits for it instead of cutting it short: it is connected (in the
    // accept queue) and has sent its request before the busy one may finish.
    let mut newcomer = std::net::TcpStream::connect(addr).unwrap();
    newcomer
        .write_all(
            format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let health = tokio::task::spawn_blocking(move || {
        newcomer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut response = Vec::new();
        let _ = newcomer.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    });
    gate.notify_one();
    let plugins = busy.await.unwrap();
    assert!(plugins.starts_with("HTTP/1.1 200 OK\r\n"), "{plugins}");
    assert!(plugins.contains(r#""name":"upper""#), "{plugins}");
    let health = health.await.unwrap();
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
}

#[tokio::test]
async fn a_refused_client_is_disconnected() {
    let (addr, _stop) = start(ApiConfig {
        header_timeout: Duration::from_secs(3600),
        token: Some("0123456789abcdef-token".parse().unwrap()),
        ..ApiConfig::default()
    })
    .await;
    // Keep-alive requests (no `Connection: close`) refused for who sent them: the
    // server answers and closes, so the whole answer reads to the end.
    for head in [
        format!("GET /runs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer wrong\r\n\r\n"),
        format!("GET /runs HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        format!(
            "GET /health HTTP/1.1\r\nHost: evil.example:{}\r\n\r\n",
            addr.port()
        ),
        "GET /health HTTP/1.1\r\n\r\n".to_string(),
    ] {
        let answer = raw_request(addr, head.into_bytes()).await;
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(answer.ends_with("\"details\":null}}"), "{answer}");
    }
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_413_at_once() {
    // The body timeout is far beyond the client's read timeout (10 s): waiting for the
    // announced body would fail.
    let (addr, _stop) = start(ApiConfig {
        body_timeout: Duration::from_secs(3600),
        ..ApiConfig::default()
    })
    .await;
    let answer = raw_request(
        addr,
        format!(
            "POST /runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 100000000\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            r#"{"error":{"code":"usage","message":"request body is larger than the limit of 1 MiB (1048576 bytes)","details":null}}"#
        ),
        "{answer}"
    );
}
