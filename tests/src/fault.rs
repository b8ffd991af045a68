//! A proxy between the app and the emulator that can be told to stop answering, as if the
//! emulator (or AWS) went away: after a budget of requests every further request has its
//! connection dropped without a response, which the SDK sees as a transport failure, retries,
//! and finally reports. It can also throttle: answer the next requests with AWS's
//! `ThrottlingException`, which the SDK must classify as retryable and retry with backoff. And it
//! can hold one operation's requests until released, recording what arrives meanwhile: which of an
//! app's calls wait for which.
//! The tests' own reads go to the emulator directly and are never cut.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use zgoda_aws::LocalEndpoints;

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fault proxy dropped this request")
    }
}

impl std::error::Error for Dropped {}

struct State {
    upstream: LocalEndpoints,
    client: reqwest::Client,
    /// Requests still forwarded before the outage starts; never negative in effect.
    budget: AtomicI64,
    /// Requests still to be answered with a throttling error.
    throttle: AtomicI64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    /// A path part: once a request to it has been answered, the outage starts.
    cut_after: std::sync::Mutex<Option<String>>,
    /// An operation (path part or `X-Amz-Target`): the next such request reaches the emulator,
    /// and its answer is lost on the way back.
    lose_answer: std::sync::Mutex<Option<(String, usize)>>,
    throttled: AtomicU64,
    /// Until then, every SES send is refused with SES's own throttling answer.
    mail_throttled_until: std::sync::Mutex<Option<std::time::Instant>>,
    mail_throttled: AtomicU64,
    /// An operation (path part or `X-Amz-Target`) whose requests wait here until it is cleared.
    held: tokio::sync::watch::Sender<Option<String>>,
    /// Every request's operation, in the order they arrived (held ones included).
    arrived: std::sync::Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    state: Arc<State>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl FaultProxy {
    /// A proxy in front of both emulator processes: each request goes on to the one that serves
    /// its service, so the app behind it needs only the proxy's address.
    pub async fn start(upstream: &LocalEndpoints) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.clone(),
            client: reqwest::Client::new(),
            budget: AtomicI64::new(i64::MAX),
            throttle: AtomicI64::new(0),
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            cut_after: std::sync::Mutex::new(None),
            lose_answer: std::sync::Mutex::new(None),
            throttled: AtomicU64::new(0),
            mail_throttled_until: std::sync::Mutex::new(None),
            mail_throttled: AtomicU64::new(0),
            held: tokio::sync::watch::Sender::new(None),
            arrived: std::sync::Mutex::new(Vec::new()),
        });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| forward(state.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { url, state, task: Arc::new(task) }
    }

    /// Everything passes (the emulator is back).
    pub fn heal(&self) {
        self.state.budget.store(i64::MAX, Ordering::SeqCst);
        self.state.throttle.store(0, Ordering::SeqCst);
        *self.state.cut_after.lock().unwrap() = None;
        *self.state.mail_throttled_until.lock().unwrap() = None;
    }

    /// The next `n` requests are refused as throttled, then requests pass again.
    pub fn throttle(&self, n: u64) {
        self.state.throttle.store(n as i64, Ordering::SeqCst);
    }

    pub fn throttled(&self) -> u64 {
        self.state.throttled.load(Ordering::SeqCst)
    }

    /// For `how_long` from now, SES refuses every send with `TooManyRequestsException` (HTTP 429,
    /// "Maximum sending rate exceeded"), as it does past the account's rate; then sends pass.
    pub fn throttle_mail_for(&self, how_long: std::time::Duration) {
        *self.state.mail_throttled_until.lock().unwrap() = Some(std::time::Instant::now() + how_long);
    }

    /// How many sends were refused so.
    pub fn mail_throttled(&self) -> u64 {
        self.state.mail_throttled.load(Ordering::SeqCst)
    }

    /// The next `n` requests pass, then the emulator is gone.
    pub fn fail_after(&self, n: u64) {
        self.state.budget.store(n as i64, Ordering::SeqCst);
    }

    /// The outage starts right after the next request whose path contains `path_part` has been
    /// answered: the call succeeded, and whatever the app does next fails.
    pub fn fail_after_call_to(&self, path_part: &str) {
        *self.state.cut_after.lock().unwrap() = Some(path_part.to_owned());
    }

    /// After `skip` requests for `operation` (e.g. `DynamoDB_20120810.PutItem`) pass, the next one
    /// is carried out by the emulator but the connection drops before its answer arrives: the SDK
    /// retries a call that already took effect.
    pub fn lose_answer_to(&self, operation: &str, skip: usize) {
        *self.state.lose_answer.lock().unwrap() = Some((operation.to_owned(), skip));
    }

    /// Requests for `operation` (e.g. `secretsmanager.BatchGetSecretValue`) wait, unanswered,
    /// until [`Self::release`]; the others pass.
    pub fn hold(&self, operation: &str) {
        self.state.held.send_replace(Some(operation.to_owned()));
    }

    /// The held requests go on to the emulator.
    pub fn release(&self) {
        self.state.held.send_replace(None);
    }

    /// The operations requested so far, in order of arrival.
    pub fn arrived(&self) -> Vec<String> {
        self.state.arrived.lock().unwrap().clone()
    }

    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::SeqCst)
    }
}

async fn forward(state: Arc<State>, req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    if state.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
        state.dropped.fetch_add(1, Ordering::SeqCst);
        // An error from the service makes hyper close the connection without answering.
        return Err(Dropped);
    }
    if state.throttle.fetch_sub(1, Ordering::SeqCst) > 0 {
        state.throttled.fetch_add(1, Ordering::SeqCst);
        // The JSON protocols' error shape: the code in a header and in `__type`.
        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        return Ok(hyper::Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-errortype", "ThrottlingException")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("valid response"));
    }
    let until = *state.mail_throttled_until.lock().unwrap();
    if until.is_some_and(|t| std::time::Instant::now() < t) && req.uri().path().contains("/v2/email/outbound-emails") {
        state.mail_throttled.fetch_add(1, Ordering::SeqCst);
        // SES v2 is a REST-JSON API: the code in a header, the status 429.
        let body = r#"{"message":"Maximum sending rate exceeded."}"#;
        return Ok(hyper::Response::builder()
            .status(429)
            .header("content-type", "application/json")
            .header("x-amzn-errortype", "TooManyRequestsException")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("valid response"));
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    // Only DynamoDB's protocol names its operations `DynamoDB_<version>.<Operation>`.
    let emulator = if target.is_some_and(|t| t.starts_with("DynamoDB_")) { &state.upstream.dynamodb } else { &state.upstream.other };
    let operation = target.unwrap_or(path).to_owned();
    state.arrived.lock().unwrap().push(operation.clone());
    let _ = state.held.subscribe().wait_for(|held| !held.as_deref().is_some_and(|op| operation.contains(op))).await;
    let mut upstream = state.client.request(parts.method, format!("{}{path}", emulator.trim_end_matches('/'))).body(body);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.map_err(|_| Dropped)?;
    let mut response = hyper::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.map_err(|_| Dropped)?;
    state.forwarded.fetch_add(1, Ordering::SeqCst);
    {
        let mut lose = state.lose_answer.lock().unwrap();
        if let Some((op, skip)) = lose.as_mut()
            && operation.contains(op.as_str())
        {
            if *skip == 0 {
                *lose = None;
                state.dropped.fetch_add(1, Ordering::SeqCst);
                return Err(Dropped);
            }
            *skip -= 1;
        }
    }
    let mut cut_after = state.cut_after.lock().unwrap();
    if cut_after.as_deref().is_some_and(|part| path.contains(part)) {
        *cut_after = None;
        state.budget.store(0, Ordering::SeqCst);
    }
    drop(cut_after);
    Ok(response.body(Full::new(bytes)).expect("valid response"))
}
