//! One `allow_http` entry of a workflow file: a host, and optionally the only
//! port allowed; how it is written, and which requests it allows.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One entry of `allow_http`: a host, and optionally the only port allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpGrant {
    /// A lowercase DNS name (`api.example.com`), an IPv4 address (`127.0.0.1`), or
    /// an IPv6 address in brackets, in its canonical form (`[::1]`).
    pub host: String,
    /// `None` = any port.
    pub port: Option<u16>,
}

impl HttpGrant {
    /// Parses an `allow_http` entry: `host` or `host:port`, where host is a DNS
    /// name (lowercase letters, digits, '-', labels separated by '.'), an IPv4
    /// address, or an IPv6 address in brackets (`[::1]:8080`), and port is 1-65535.
    /// A URL (`http://x/path`) is an error that says what to write instead.
    pub fn parse(text: &str) -> Result<HttpGrant, String> {
        if text.is_empty() {
            return Err(
                "allow_http entry \"\" is empty; write a host such as \"api.example.com\" \
                 or \"127.0.0.1:8080\""
                    .to_owned(),
            );
        }
        if text.contains("://") || text.contains(['/', '?', '#', '@']) {
            let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
            let rest = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            return Err(match HttpGrant::parse_plain(rest) {
                Ok(grant) => format!(
                    "allow_http entry \"{text}\" must be a host and an optional port, not a URL: \
                     write \"{grant}\""
                ),
                Err(_) => format!(
                    "allow_http entry \"{text}\" must be a host and an optional port, not a URL, \
                     e.g. \"api.example.com\" or \"api.example.com:8443\""
                ),
            });
        }
        HttpGrant::parse_plain(text)
            .map_err(|why| format!("allow_http entry \"{text}\" is invalid: {why}"))
    }

    /// `host` or `host:port`, without the URL checks; the error says why, without
    /// naming the entry.
    fn parse_plain(text: &str) -> Result<HttpGrant, String> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((inside, after)) = rest.split_once(']') else {
                return Err("an IPv6 address needs a closing ']', e.g. \"[::1]:8080\"".to_owned());
            };
            let addr = inside
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("\"{inside}\" is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => {
                        return Err(
                            "after an IPv6 address in brackets, only \":port\" may follow"
                                .to_owned(),
                        );
                    }
                },
            };
            (format!("[{addr}]"), port)
        } else {
            let (host, port) = match text.split_once(':') {
                None => (text, None),
                Some((host, port)) => {
                    if port.contains(':') || host.parse::<Ipv6Addr>().is_ok() {
                        return Err(
                            "write an IPv6 address in brackets, e.g. \"[::1]\" or \"[::1]:8080\""
                                .to_owned(),
                        );
                    }
                    (host, Some(port))
                }
            };
            check_host(host)?;
            (host.to_owned(), port)
        };
        let port = match port {
            None => None,
            Some(port) => Some(
                (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| port.parse::<u16>().ok())
                    .flatten()
                    .filter(|&p| p >= 1)
                    .ok_or_else(|| format!("port \"{port}\" must be a number from 1 to 65535"))?,
            ),
        };
        Ok(HttpGrant { host, port })
    }

    /// Does this grant allow a request to `host:port`? Host names compare
    /// case-insensitively (no resolution: `localhost` does not allow `127.0.0.1`);
    /// an IPv6 grant matches the same address written in any form, with or without
    /// brackets. A grant without a port allows every port.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match self.ipv6() {
            Some(addr) => {
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                host.parse::<Ipv6Addr>().is_ok_and(|h| h == addr)
            }
            None => self.host.eq_ignore_ascii_case(host),
        }
    }

    /// The address of a bracketed IPv6 grant.
    fn ipv6(&self) -> Option<Ipv6Addr> {
        let inside = self.host.strip_prefix('[')?.strip_suffix(']')?;
        inside.parse().ok()
    }
}

impl fmt::Display for HttpGrant {
    /// `host` or `host:port`, as [`HttpGrant::parse`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A DNS name or an IPv4 address (no brackets, no port).
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is missing, e.g. \"127.0.0.1:8080\"".to_owned());
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match host.parse::<Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("\"{host}\" is not an IPv4 address")),
        };
    }
    let lower = host.to_ascii_lowercase();
    if lower != host
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    {
        return Err(format!("write the host in lowercase, \"{lower}\""));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
    {
        return Err(
            "a host may use only lowercase letters, digits, '.' and '-' (or be an IPv4 \
             address, or an IPv6 address in brackets)"
                .to_owned(),
        );
    }
    if host.len() > 253 {
        return Err("a host name is at most 253 characters".to_owned());
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(
                "a host name has no empty parts (no leading, trailing or double '.')".to_owned(),
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "\"{label}\": a part of a host name cannot start or end with '-'"
            ));
        }
        if label.len() > 63 {
            return Err("each part of a host name is at most 63 characters".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn grant(text: &str) -> HttpGrant {
        HttpGrant::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_grants() {
        let cases: [(&str, &str, Option<u16>); 9] = [
            ("127.0.0.1", "127.0.0.1", None),
            ("api.example.com:8443", "api.example.com", Some(8443)),
            ("localhost", "localhost", None),
            ("my-host.internal:1", "my-host.internal", Some(1)),
            ("x:65535", "x", Some(65535)),
            ("[::1]", "[::1]", None),
            ("[::1]:8080", "[::1]", Some(8080)),
            ("[0:0:0:0:0:0:0:1]:80", "[::1]", Some(80)),
            ("[2001:DB8::A]", "[2001:db8::a]", None),
        ];
        for (text, host, port) in cases {
            let g = grant(text);
            assert_eq!((g.host.as_str(), g.port), (host, port), "{text}");
            // Display round-trips through the canonical form.
            assert_eq!(grant(&g.to_string()), g);
        }
        assert_eq!(
            grant("api.example.com:8443").to_string(),
            "api.example.com:8443"
        );
        assert_eq!(grant("127.0.0.1").to_string(), "127.0.0.1");
        assert_eq!(grant("[0::1]:8080").to_string(), "[::1]:8080");
    }

    #[test]
    fn rejects_urls_and_says_what_to_write() {
        let cases = [
            ("http://x", "x"),
            (
                "https://api.example.com:8443/v1/items?q=1",
                "api.example.com:8443",
            ),
            ("http://[::1]:8080/", "[::1]:8080"),
            ("api.example.com/v1", "api.example.com"),
            ("http://user@x", "x"),
        ];
        for (text, write) in cases {
            assert_eq!(
                HttpGrant::parse(text).unwrap_err(),
                format!(
                    "allow_http entry \"{text}\" must be a host and an optional port, not a URL: write \"{write}\""
                )
            );
        }
        assert_eq!(
            HttpGrant::parse("http://").unwrap_err(),
            "allow_http entry \"http://\" must be a host and an optional port, not a URL, e.g. \"api.example.com\" or \"api.example.com:8443\""
        );
    }

    #[test]
    fn rejects_bad_grants() {
        let cases = [
            (
                "",
                "allow_http entry \"\" is empty; write a host such as \"api.example.com\" or \"127.0.0.1:8080\"",
            ),
            (
                "API.example.com",
                "allow_http entry \"API.example.com\" is invalid: write the host in lowercase, \"api.example.com\"",
            ),
            (
                "*.example.com",
                "allow_http entry \"*.example.com\" is invalid: a host may use only lowercase letters, digits, '.' and '-' (or be an IPv4 address, or an IPv6 address in brackets)",
            ),
            (
                "a_b",
                "allow_http entry \"a_b\" is invalid: a host may use only lowercase letters, digits, '.' and '-' (or be an IPv4 address, or an IPv6 address in brackets)",
            ),
            (
                "x y",
                "allow_http entry \"x y\" is invalid: a host may use only lowercase letters, digits, '.' and '-' (or be an IPv4 address, or an IPv6 address in brackets)",
            ),
            (
                "x:0",
                "allow_http entry \"x:0\" is invalid: port \"0\" must be a number from 1 to 65535",
            ),
            (
                "x:65536",
                "allow_http entry \"x:65536\" is invalid: port \"65536\" must be a number from 1 to 65535",
            ),
            (
                "x:",
                "allow_http entry \"x:\" is invalid: port \"\" must be a number from 1 to 65535",
            ),
            (
                "x:+80",
                "allow_http entry \"x:+80\" is invalid: port \"+80\" must be a number from 1 to 65535",
            ),
            (
                "x:http",
                "allow_http entry \"x:http\" is invalid: port \"http\" must be a number from 1 to 65535",
            ),
            (
                ":80",
                "allow_http entry \":80\" is invalid: the host is missing, e.g. \"127.0.0.1:8080\"",
            ),
            (
                "256.0.0.1",
                "allow_http entry \"256.0.0.1\" is invalid: \"256.0.0.1\" is not an IPv4 address",
            ),
            (
                "1.2.3",
                "allow_http entry \"1.2.3\" is invalid: \"1.2.3\" is not an IPv4 address",
            ),
            (
                "::1",
                "allow_http entry \"::1\" is invalid: write an IPv6 address in brackets, e.g. \"[::1]\" or \"[::1]:8080\"",
            ),
            (
                "fe80::1:8080",
                "allow_http entry \"fe80::1:8080\" is invalid: write an IPv6 address in brackets, e.g. \"[::1]\" or \"[::1]:8080\"",
            ),
            (
                "[::1",
                "allow_http entry \"[::1\" is invalid: an IPv6 address needs a closing ']', e.g. \"[::1]:8080\"",
            ),
            (
                "[x]",
                "allow_http entry \"[x]\" is invalid: \"x\" is not an IPv6 address",
            ),
            (
                "[127.0.0.1]",
                "allow_http entry \"[127.0.0.1]\" is invalid: \"127.0.0.1\" is not an IPv6 address",
            ),
            (
                "[::1]8080",
                "allow_http entry \"[::1]8080\" is invalid: after an IPv6 address in brackets, only \":port\" may follow",
            ),
            (
                "[::1]:0",
                "allow_http entry \"[::1]:0\" is invalid: port \"0\" must be a number from 1 to 65535",
            ),
            (
                "example..com",
                "allow_http entry \"example..com\" is invalid: a host name has no empty parts (no leading, trailing or double '.')",
            ),
            (
                "example.com.",
                "allow_http entry \"example.com.\" is invalid: a host name has no empty parts (no leading, trailing or double '.')",
            ),
            (
                "-x.com",
                "allow_http entry \"-x.com\" is invalid: \"-x\": a part of a host name cannot start or end with '-'",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(HttpGrant::parse(text).unwrap_err(), expected, "{text}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(
            HttpGrant::parse(&long_label)
                .unwrap_err()
                .ends_with("at most 63 characters")
        );
        let long_host = vec!["a".repeat(60); 5].join(".");
        assert!(
            HttpGrant::parse(&long_host)
                .unwrap_err()
                .ends_with("at most 253 characters")
        );
    }

    #[test]
    fn grant_allows() {
        let any_port = grant("api.example.com");
        assert!(any_port.allows("api.example.com", 443));
        assert!(any_port.allows("API.Example.COM", 8080));
        assert!(!any_port.allows("example.com", 443));
        assert!(!any_port.allows("api.example.com.evil.net", 443));
        assert!(!any_port.allows("evil-api.example.com", 443));

        let one_port = grant("api.example.com:8443");
        assert!(one_port.allows("api.example.com", 8443));
        assert!(one_port.allows("Api.Example.Com", 8443));
        assert!(!one_port.allows("api.example.com", 443));

        let ip = grant("127.0.0.1:8080");
        assert!(ip.allows("127.0.0.1", 8080));
        assert!(!ip.allows("127.0.0.1", 8081));
        assert!(!ip.allows("localhost", 8080), "no name resolution");

        let v6 = grant("[::1]:8080");
        assert!(v6.allows("[::1]", 8080));
        assert!(v6.allows("::1", 8080));
        assert!(v6.allows("[0:0:0:0:0:0:0:1]", 8080));
        assert!(!v6.allows("[::2]", 8080));
        assert!(!v6.allows("[::1]", 80));
        assert!(!v6.allows("[::1", 8080));
        assert!(!v6.allows("localhost", 8080));

        let limits = Limits {
            allow_http: vec![one_port, ip],
            ..Limits::default()
        };
        assert!(limits.allows_http("api.example.com", 8443));
        assert!(limits.allows_http("127.0.0.1", 8080));
        assert!(!limits.allows_http("127.0.0.1", 8443));
    }
}
