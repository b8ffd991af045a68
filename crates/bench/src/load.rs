//! A closed-loop load generator on loopback that reports the server process's CPU per request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::proc;

#[derive(Debug, Serialize)]
pub struct Run {
    pub requests: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub server_cpu_us_per_request: f64,
    pub requests_per_second: f64,
}

/// What a load run's CPU account covers after the last answer.
#[derive(Clone, Copy)]
pub enum Tail {
    /// Nothing: the requests leave no work behind (a page, a health check).
    None,
    /// The server's work on what the requests set going, until it is idle: a form post's mails
    /// come back as SES events, which the local stack handles as the ses-events function would.
    UntilIdle,
}

/// A window of the server's CPU below this is idle. An idle local stack still uses about 0.6 ms a
/// window (its runtime wakes ten times a second while the queue pollers' long polls wait); one SES
/// event handled takes more than this.
const IDLE_CPU_PER_WINDOW: Duration = Duration::from_millis(3);
const IDLE_WINDOW: Duration = Duration::from_millis(250);
/// A tail longer than this means the server is stuck, not finishing.
const MAX_TAIL: Duration = Duration::from_secs(30);

/// Sends `n` requests, `concurrency` at a time, built by `make(i)`; reads every body so the
/// connections are reused. The rate is over the requests alone; the CPU includes the `tail`.
pub async fn drive(pid: u32, n: u64, concurrency: usize, tail: Tail, make: impl Fn(u64) -> reqwest::RequestBuilder) -> anyhow::Result<Run> {
    let cpu_before = proc::cpu_time(pid)?;
    let started = Instant::now();
    let statuses: Vec<u16> = futures_util::stream::iter((0..n).map(&make))
        .map(|req| async move {
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let _ = resp.bytes().await;
                    status
                }
                Err(_) => 0,
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    if let Tail::UntilIdle = tail {
        wait_until_idle(pid).await?;
    }
    let cpu = proc::cpu_time(pid)? - cpu_before;
    let mut counts = BTreeMap::new();
    for s in statuses {
        *counts.entry(s).or_insert(0) += 1;
    }
    Ok(Run {
        requests: n,
        statuses: counts,
        server_cpu_us_per_request: cpu.as_secs_f64() * 1e6 / n as f64,
        requests_per_second: n as f64 / wall.as_secs_f64(),
    })
}

/// Waits until a window passes in which the server used next to no CPU.
async fn wait_until_idle(pid: u32) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut before = proc::cpu_time(pid)?;
    loop {
        tokio::time::sleep(IDLE_WINDOW).await;
        let now = proc::cpu_time(pid)?;
        if now.saturating_sub(before) < IDLE_CPU_PER_WINDOW {
            return Ok(());
        }
        if started.elapsed() > MAX_TAIL {
            anyhow::bail!("the server was still busy {MAX_TAIL:?} after the last answer");
        }
        before = now;
    }
}

#[derive(Debug, Serialize)]
pub struct Mixed {
    pub seconds: u64,
    pub requests: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub requests_per_second: f64,
    /// Mean resident memory over the first and the last ten seconds, KiB.
    pub rss_first_10s_kib: u64,
    pub rss_last_10s_kib: u64,
}

/// `concurrency` workers send requests built by `make(i)` until `seconds` have passed, while the
/// server's resident memory is sampled every second.
pub async fn mixed(
    pid: u32,
    seconds: u64,
    concurrency: usize,
    make: impl Fn(u64) -> reqwest::RequestBuilder + Sync,
) -> anyhow::Result<Mixed> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let deadline = Instant::now() + std::time::Duration::from_secs(seconds);
    let next = AtomicU64::new(0);
    let worker = || async {
        let mut statuses = Vec::new();
        while Instant::now() < deadline {
            let i = next.fetch_add(1, Ordering::Relaxed);
            statuses.push(match make(i).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let _ = resp.bytes().await;
                    status
                }
                Err(_) => 0,
            });
        }
        statuses
    };
    let sampler = async {
        let mut samples = Vec::new();
        while Instant::now() < deadline {
            samples.push(proc::rss_kib(pid).unwrap_or(0));
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        samples
    };
    let started = Instant::now();
    let (per_worker, samples) = tokio::join!(futures_util::future::join_all((0..concurrency).map(|_| worker())), sampler);
    let wall = started.elapsed();
    let mut statuses = BTreeMap::new();
    for s in per_worker.into_iter().flatten() {
        *statuses.entry(s).or_insert(0) += 1;
    }
    let requests = statuses.values().sum();
    let mean = |xs: &[u64]| if xs.is_empty() { 0 } else { xs.iter().sum::<u64>() / xs.len() as u64 };
    let window = samples.len().min(10);
    Ok(Mixed {
        seconds,
        requests,
        statuses,
        requests_per_second: requests as f64 / wall.as_secs_f64(),
        rss_first_10s_kib: mean(&samples[..window]),
        rss_last_10s_kib: mean(&samples[samples.len() - window..]),
    })
}
