//! The network side of webhook delivery, guarded against server-side request forgery (OWASP
//! ASVS 5.0 V1.3.6; the SSRF rules): an endpoint's URL is the operator's, but a name in it
//! can come to point anywhere, so every attempt
//! - resolves the name itself ([`Resolve`]) and refuses the lot unless every address is public
//!   (`zgoda_domain::net::is_public`: no loopback, private, link-local or metadata range), so a
//!   name that answers with one private address among public ones is refused too;
//! - connects only to an address it judged ([`Dial`]), so no later lookup can swap it;
//! - speaks HTTPS (certificates checked against the system's roots), plain HTTP only to loopback
//!   and only in the local stack;
//! - follows no redirect (a 3xx is an answer, and a failed delivery);
//! - gives up on connecting after [`Limits::connect`], on the whole exchange after
//!   [`Limits::total`], and reads at most [`Limits::response`] bytes of the answer.
//!
//! Resolver and dialer are traits so that the tests run every refusal against a stub resolver and
//! a dialer that fails the test if it is ever asked for anything but loopback.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use zgoda_domain::net::is_public;
use zgoda_domain::webhooks::{Attempt, SignedRequest, WebhookSender};

/// Turns a host name into addresses.
pub trait Resolve: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
}

/// Opens a TCP connection to one judged address.
pub trait Dial: Send + Sync {
    fn dial(&self, addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> + Send;
}

/// The system's resolver.
pub struct SystemResolver;

impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// The local stack's resolver: `localhost` only. A name anywhere else is not looked up at all, so
/// an endpoint registered against the local stack (by a test, or a fuzzer) sends nothing off the
/// machine, not even a DNS query.
pub struct LocalResolver;

impl Resolve for LocalResolver {
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match host {
            "localhost" => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "the local stack resolves localhost only")),
        }
    }
}

/// Plain TCP.
pub struct TcpDialer;

impl Dial for TcpDialer {
    async fn dial(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect(addr).await
    }
}

/// How long and how much.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect: Duration,
    pub total: Duration,
    pub response: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { connect: Duration::from_secs(3), total: Duration::from_secs(10), response: 64 * 1024 }
    }
}

/// Posts signed webhooks through the guard.
pub struct GuardedSender<R: Resolve = SystemResolver, D: Dial = TcpDialer> {
    resolver: R,
    dialer: D,
    tls: tokio_rustls::TlsConnector,
    /// The local stack: loopback only (plain HTTP allowed), nothing else. Never set in a deployed
    /// stack, which reaches public addresses only.
    loopback_allowed: bool,
    limits: Limits,
}

/// The system's certificate roots, with ring's cryptography (the SDK's provider).
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::error!("no TLS roots found; HTTPS webhooks will fail");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

impl GuardedSender {
    /// The deployed sender: the system's resolver and roots, HTTPS to public addresses only.
    pub fn deployed() -> Self {
        Self::with(SystemResolver, TcpDialer, tls_config(), false, Limits::default())
    }
}

impl GuardedSender<LocalResolver, TcpDialer> {
    /// The local stack's sender: this machine's loopback only, plain HTTP allowed.
    pub fn local() -> Self {
        Self::with(LocalResolver, TcpDialer, tls_config(), true, Limits::default())
    }
}

impl<R: Resolve, D: Dial> GuardedSender<R, D> {
    pub fn with(resolver: R, dialer: D, tls: Arc<rustls::ClientConfig>, loopback_allowed: bool, limits: Limits) -> Self {
        Self { resolver, dialer, tls: tokio_rustls::TlsConnector::from(tls), loopback_allowed, limits }
    }

    /// Whether an address may be connected to.
    fn allowed(&self, ip: IpAddr) -> bool {
        if self.loopback_allowed { ip.is_loopback() } else { is_public(ip) }
    }

    async fn attempt(&self, request: &SignedRequest<'_>) -> Attempt {
        let Ok(url) = url::Url::parse(request.url.as_str()) else { return Attempt::Failed("invalid_url") };
        let https = match url.scheme() {
            "https" => true,
            "http" if self.loopback_allowed => false,
            _ => return Attempt::Failed("not_https"),
        };
        let Some(port) = url.port_or_known_default() else { return Attempt::Failed("invalid_url") };
        let addrs = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => match self.resolver.resolve(name, port).await {
                Ok(addrs) if !addrs.is_empty() => addrs,
                _ => return Attempt::Failed("dns"),
            },
            None => return Attempt::Failed("invalid_url"),
        };
        // Every answer judged, not just the one used: a name that mixes in a private address is
        // someone's attempt to reach it.
        if !addrs.iter().all(|a| self.allowed(a.ip())) {
            return Attempt::Failed("not_public");
        }
        if !https && !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Attempt::Failed("not_https");
        }
        let mut stream = None;
        for addr in &addrs {
            if let Ok(Ok(s)) = tokio::time::timeout(self.limits.connect, self.dialer.dial(*addr)).await {
                stream = Some(s);
                break;
            }
        }
        let Some(stream) = stream else { return Attempt::Failed("connect") };
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        if https {
            let Ok(name) = rustls::pki_types::ServerName::try_from(host) else { return Attempt::Failed("tls") };
            match self.tls.connect(name, stream).await {
                Ok(tls) => self.exchange(tls, &authority, &path, request).await,
                Err(_) => Attempt::Failed("tls"),
            }
        } else {
            self.exchange(stream, &authority, &path, request).await
        }
    }

    /// One HTTP/1.1 POST on an open connection; the answer's status, its body read up to the limit.
    async fn exchange<IO>(&self, io: IO, authority: &str, path: &str, request: &SignedRequest<'_>) -> Attempt
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Ok((mut send, conn)) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io)).await else {
            return Attempt::Failed("connect");
        };
        let conn = tokio::spawn(conn);
        let mut builder = http::Request::post(path)
            .header(http::header::HOST, authority)
            .header(http::header::USER_AGENT, "zgoda-webhooks/1")
            .header(http::header::CONTENT_LENGTH, request.body.len());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let Ok(req) = builder.body(Full::new(Bytes::from(request.body.clone()))) else { return Attempt::Failed("invalid_request") };
        let attempt = match send.send_request(req).await {
            Ok(response) => {
                let status = response.status().as_u16();
                // The answer's body is read (bounded) so the receiver is not cut off mid-write;
                // what it says is not kept.
                match Limited::new(response.into_body(), self.limits.response).collect().await {
                    Ok(_) => Attempt::Answered(status),
                    Err(_) => Attempt::Failed("too_large"),
                }
            }
            Err(_) => Attempt::Failed("connect"),
        };
        conn.abort();
        attempt
    }
}

impl<R: Resolve, D: Dial> WebhookSender for GuardedSender<R, D> {
    async fn post(&self, request: &SignedRequest<'_>) -> Attempt {
        match tokio::time::timeout(self.limits.total, self.attempt(request)).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Failed("timeout"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use zgoda_domain::webhooks::WebhookUrl;

    /// Names resolve only from this table: no query ever leaves the machine.
    struct StubResolver(HashMap<&'static str, Vec<IpAddr>>);

    impl Resolve for StubResolver {
        async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            let ips = self.0.get(host).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))?;
            Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
        }
    }

    /// Connects to loopback only, and records any other address it was asked for: a test that
    /// finds one there failed (the guard let it through), without a packet sent.
    #[derive(Default)]
    struct LoopbackOnly {
        asked_elsewhere: Mutex<Vec<SocketAddr>>,
    }

    impl Dial for &LoopbackOnly {
        async fn dial(&self, addr: SocketAddr) -> io::Result<TcpStream> {
            if !addr.ip().is_loopback() {
                self.asked_elsewhere.lock().unwrap().push(addr);
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, "the test dialer connects to loopback only"));
            }
            TcpStream::connect(addr).await
        }
    }

    fn resolver() -> StubResolver {
        StubResolver(HashMap::from([
            ("crm.example.com", vec!["10.1.2.3".parse().unwrap()]),
            ("mixed.example.com", vec!["93.184.215.14".parse().unwrap(), "192.168.0.10".parse().unwrap()]),
            ("receiver.test", vec!["127.0.0.1".parse().unwrap()]),
        ]))
    }

    fn sender(dialer: &LoopbackOnly, local: bool) -> GuardedSender<StubResolver, &LoopbackOnly> {
        let limits = Limits { connect: Duration::from_secs(2), total: Duration::from_secs(5), response: 1024 };
        GuardedSender::with(resolver(), dialer, tls_config(), local, limits)
    }

    async fn post(sender: &GuardedSender<StubResolver, &LoopbackOnly>, url: &str) -> Attempt {
        // URLs as stored may have been judged under other rules; the sender judges again.
        let url: WebhookUrl = serde_json::from_value(serde_json::json!(url)).unwrap();
        let request = SignedRequest { url: &url, headers: vec![("webhook-id", "msg_1".into())], body: b"{}".to_vec() };
        sender.post(&request).await
    }

    /// A receiver on loopback that answers each connection with `answer`, and counts them.
    async fn receiver(answer: &'static str) -> (u16, Arc<Mutex<usize>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                *count.lock().unwrap() += 1;
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn ssrf_loopback_is_refused_outside_the_local_stack_without_a_connection() {
        let (port, seen) = receiver("HTTP/1.1 204 No Content\r\n\r\n").await;
        let dialer = LoopbackOnly::default();
        for url in
            [format!("https://127.0.0.1:{port}/hook"), format!("https://[::1]:{port}/hook"), format!("https://receiver.test:{port}/")]
        {
            assert_eq!(post(&sender(&dialer, false), &url).await, Attempt::Failed("not_public"), "{url}");
        }
        assert_eq!(post(&sender(&dialer, false), &format!("http://127.0.0.1:{port}/hook")).await, Attempt::Failed("not_https"));
        assert_eq!(*seen.lock().unwrap(), 0, "nothing reached the receiver");
        // In the local stack the same receiver is reached, over plain HTTP.
        assert_eq!(post(&sender(&dialer, true), &format!("http://receiver.test:{port}/hook")).await, Attempt::Answered(204));
        assert_eq!(*seen.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn ssrf_private_link_local_and_metadata_addresses_are_refused_before_any_connection() {
        let dialer = LoopbackOnly::default();
        for url in [
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/latest/meta-data/",
            "https://[::ffff:10.0.0.1]/hook",
            "https://crm.example.com/hook",
            "https://mixed.example.com/hook",
        ] {
            for local in [false, true] {
                let got = post(&sender(&dialer, local), url).await;
                assert_eq!(got, Attempt::Failed("not_public"), "{url} (local: {local})");
            }
        }
        assert_eq!(post(&sender(&dialer, true), "http://10.0.0.1/hook").await, Attempt::Failed("not_public"));
        assert_eq!(post(&sender(&dialer, false), "http://10.0.0.1/hook").await, Attempt::Failed("not_https"));
        assert_eq!(*dialer.asked_elsewhere.lock().unwrap(), [], "the dialer was asked for a non-loopback address");
    }

    #[tokio::test]
    async fn ssrf_a_redirect_to_a_private_address_is_an_answer_not_followed() {
        let (port, seen) = receiver("HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/internal\r\nContent-Length: 0\r\n\r\n").await;
        let dialer = LoopbackOnly::default();
        let got = post(&sender(&dialer, true), &format!("http://127.0.0.1:{port}/hook")).await;
        assert_eq!(got, Attempt::Answered(302));
        assert_eq!(*seen.lock().unwrap(), 1);
        assert_eq!(*dialer.asked_elsewhere.lock().unwrap(), [], "the redirect was followed");
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_or_answers_too_much_fails_in_bounded_time_and_size() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let dialer = LoopbackOnly::default();
        let limits = Limits { connect: Duration::from_secs(1), total: Duration::from_millis(300), response: 1024 };
        let slow = GuardedSender::with(resolver(), &dialer, tls_config(), true, limits);
        assert_eq!(post(&slow, &format!("http://127.0.0.1:{port}/")).await, Attempt::Failed("timeout"));
        let big: &'static str = Box::leak(format!("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n{}", "x".repeat(5000)).into_boxed_str());
        let (port, _) = receiver(big).await;
        assert_eq!(post(&sender(&dialer, true), &format!("http://127.0.0.1:{port}/")).await, Attempt::Failed("too_large"));
    }
}
