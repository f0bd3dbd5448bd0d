//! Slow, idle and keep-alive clients: timeouts and the connection limit keep
//! the daemon answering.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::json;

use super::send_and_read;
use crate::fixtures::{DEADLINE, Env, http};

#[test]
fn a_slow_client_is_disconnected_after_the_timeouts() {
    let env = Env::new(&[]);
    let daemon = env.serve(&["--header-timeout", "1s", "--body-timeout", "1s"]);
    let addr = daemon.addr();

    // Half the headers, then nothing: closed without an answer (before the fix,
    // held for good; the read then fails after DEADLINE).
    let half = format!("POST /runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n");
    let answer = send_and_read(addr, half.as_bytes()).expect("the server closes the connection");
    assert_eq!(String::from_utf8_lossy(&answer), "");

    // Nothing at all: closed too.
    let answer = send_and_read(addr, b"").expect("the server closes an idle connection");
    assert_eq!(String::from_utf8_lossy(&answer), "");

    // All the headers, half the body: 408, and closed.
    let head = format!(
        "POST /runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 40\r\n\r\n{{\"workflow\": "
    );
    let answer = send_and_read(addr, head.as_bytes()).expect("the server answers and closes");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            r#"{"error":{"code":"usage","message":"the request body did not arrive within 1s (the server's body timeout)","details":null}}"#
        ),
        "{answer}"
    );
    assert_eq!(
        daemon.get("/runs").json(),
        json!({"runs": [], "next_cursor": null})
    );
}

#[test]
fn many_idle_connections_do_not_starve_health() {
    let env = Env::new(&[]);
    // The daemon gets 128 file descriptors and 200 connections that never send a
    // byte: without a connection limit and a header timeout, it runs out of
    // descriptors and never accepts the health check behind them.
    let daemon = env.serve_with(
        &["--header-timeout", "1s", "--max-connections", "32"],
        |command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; called in the child before exec.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit {
                        rlim_cur: 128,
                        rlim_max: 128,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        },
    );
    let addr = daemon.addr();
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(addr).expect("connect an idle client"))
        .collect();
    let health = http(addr, "GET", "/health", None);
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.json()["status"], "ok");
    drop(idle);
}

/// Reads one response of a keep-alive connection (head, then `Content-Length` bytes).
fn read_one_response(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => bytes.push(byte[0]),
            other => panic!("the connection ended before a whole head: {other:?}, {bytes:?}"),
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

/// The outside tester's attack: with `--max-connections 4` and a token, four
/// clients hold every slot with keep-alive connections (some idle between
/// requests, some still sending their headers). A fifth client's /health must
/// still be answered at once: the header timeout (10 minutes) is far beyond the
/// test's DEADLINE, so waiting for it would fail. Clients refused for who they
/// are (a wrong token, a foreign Host) are disconnected.
#[test]
fn idle_and_refused_connections_cannot_hold_every_slot() {
    let env = Env::new(&[]);
    let token = "e2e-token-4f1c9a-holders";
    let daemon = env.serve_with(
        &["--max-connections", "4", "--header-timeout", "600s"],
        |command| {
            command.env("SAVEPOINT_TOKEN", token);
        },
    );
    let addr = daemon.addr();
    let connect = || {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
    };

    // Refused for who they are: answered, then closed (read to the end).
    let wrong_token =
        format!("GET /runs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer nope\r\n\r\n");
    let foreign_host = format!(
        "GET /health HTTP/1.1\r\nHost: evil.com:{}\r\n\r\n",
        addr.port()
    );
    for (request, status) in [(wrong_token, "401"), (foreign_host, "421")] {
        let answer = send_and_read(addr, request.as_bytes()).expect("answered and closed");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    }

    // Two keep-alive holders between requests, two still sending their heads.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = connect();
        let request =
            format!("GET /runs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let answer = read_one_response(&mut stream);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        holders.push(stream);
    }
    for _ in 0..2 {
        let mut stream = connect();
        stream
            .write_all(format!("GET /runs HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
            .unwrap();
        holders.push(stream);
    }

    // The limit is full: a newcomer closes the oldest idle holder instead of waiting.
    let health = http(addr, "GET", "/health", None);
    assert_eq!(health.status, 200, "{health:?}");
    let mut rest = Vec::new();
    holders[0]
        .read_to_end(&mut rest)
        .expect("the oldest holder is closed");
    // Again and again: each newcomer gets in.
    for _ in 0..8 {
        assert_eq!(http(addr, "GET", "/health", None).status, 200);
    }
    drop(holders);
}

/// The outside tester's attack on #16: as many event streams as the connection
/// limit. A stream does not hold its slot: a newcomer closes the oldest stream
/// (its client would reconnect with `Last-Event-ID`), and `/health` is answered.
#[test]
fn event_streams_cannot_hold_every_slot() {
    let env = Env::new(&[]);
    let daemon = env.serve(&["--max-connections", "4"]);
    let addr = daemon.addr();
    let mut streams = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let request =
            format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        // The head of the answer: the stream has started.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("the stream's head");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("text/event-stream"), "{head}");
        streams.push(stream);
    }
    for _ in 0..3 {
        let health = http(addr, "GET", "/health", None);
        assert_eq!(health.status, 200, "{health:?}");
    }
    // The oldest stream was closed to make room: its read ends.
    let mut rest = Vec::new();
    streams[0]
        .read_to_end(&mut rest)
        .expect("the oldest stream is closed");
}
