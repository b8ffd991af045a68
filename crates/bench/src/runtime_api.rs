//! A minimal Lambda Runtime API on loopback: hands out one event a given number of times and
//! reports when each response (or error) comes back, the way the Lambda service would see it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

/// One invocation's end: when, and whether the function answered or reported an error.
pub struct Completion {
    pub at: Instant,
    pub error: Option<String>,
    /// The function's CPU time so far, for the first invocation and the last: read while the
    /// function waits for this answer, so nothing of its own is running. Only those two, as the
    /// read holds the function back by that long, which would lengthen every warm invocation.
    pub cpu: Option<Duration>,
}

struct State {
    event: Bytes,
    /// Text of the event replaced in each invocation by itself with the invocation's number
    /// appended, so warm invocations are distinct requests (a new subscriber each time).
    vary: Option<String>,
    remaining: AtomicU64,
    next_id: AtomicU64,
    invocations: u64,
    completed: AtomicU64,
    /// The function's process, once started (0 before).
    pid: Arc<AtomicU32>,
    done: mpsc::UnboundedSender<Completion>,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    pub completions: mpsc::UnboundedReceiver<Completion>,
    pid: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Serves `event` for `invocations` calls of `next`; after that `next` never answers, as an
    /// idle Lambda sandbox waits.
    pub async fn start(event: Vec<u8>, vary: Option<String>, invocations: u64) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?.to_string();
        let (done, completions) = mpsc::unbounded_channel();
        let pid = Arc::new(AtomicU32::new(0));
        let state = Arc::new(State {
            event: Bytes::from(event),
            vary,
            remaining: AtomicU64::new(invocations),
            next_id: AtomicU64::new(0),
            invocations,
            completed: AtomicU64::new(0),
            pid: pid.clone(),
            done,
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { address, completions, pid, task })
    }

    /// The process serving the invocations, whose CPU time the first and last completions carry.
    pub fn serving(&self, pid: u32) {
        self.pid.store(pid, Ordering::SeqCst);
    }
}

fn event_for(state: &State, id: u64) -> Bytes {
    match &state.vary {
        None => state.event.clone(),
        Some(needle) => {
            let text = String::from_utf8_lossy(&state.event).replace(needle.as_str(), &format!("{id}.{needle}"));
            Bytes::from(text)
        }
    }
}

async fn handle(state: Arc<State>, req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        let left = state.remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if left.is_err() {
            std::future::pending::<()>().await;
        }
        let id = state.next_id.fetch_add(1, Ordering::SeqCst);
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        let response = hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", format!("bench-{id}"))
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:eu-central-1:123456789012:function:bench")
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0")
            .header("content-type", "application/json")
            .body(Full::new(event_for(&state, id)))
            .expect("valid response");
        return Ok(response);
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let error = (path.ends_with("/error")).then(|| String::from_utf8_lossy(&body).into_owned());
    let at = Instant::now();
    let n = state.completed.fetch_add(1, Ordering::SeqCst) + 1;
    let pid = state.pid.load(Ordering::SeqCst);
    let cpu = (pid != 0 && (n == 1 || n == state.invocations)).then(|| crate::proc::cpu_time(pid).ok()).flatten();
    let _ = state.done.send(Completion { at, error, cpu });
    Ok(hyper::Response::builder().status(202).body(Full::new(Bytes::new())).expect("valid response"))
}
