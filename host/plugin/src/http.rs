//! The host side of `wasi:http/outgoing-handler`: a request goes out only
//! when the node's `allow_http` grants its host (and port), and while the
//! call's lease holds; anything else is refused with `HTTP-request-denied`,
//! an error the node sees as a value.

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::{HttpAllow, Lease};

/// The allow-list of one call, and the lease it runs under.
pub struct HttpGate {
    allow: Vec<HttpAllow>,
    lease: Option<Lease>,
}

impl HttpGate {
    pub fn new(allow: Vec<HttpAllow>) -> HttpGate {
        HttpGate { allow, lease: None }
    }

    /// The lease of the next call: no request goes out once it has expired
    /// (the run may be someone else's by then).
    pub fn set_lease(&mut self, lease: Option<Lease>) {
        self.lease = lease;
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        self.allow.iter().any(|grant| {
            grant
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .eq_ignore_ascii_case(host)
                && grant.port.is_none_or(|p| p == port)
        })
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let expired = self.lease.as_ref().is_some_and(Lease::expired);
        if expired || !self.allows(request.uri()) {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
