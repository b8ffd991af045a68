//! A closed-loop load generator on loopback that reports the server process's CPU per request.

use std::collections::BTreeMap;
use std::time::Instant;

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

/// Sends `n` requests, `concurrency` at a time, built by `make(i)`; reads every body so the
/// connections are reused.
pub async fn drive(pid: u32, n: u64, concurrency: usize, make: impl Fn(u64) -> reqwest::RequestBuilder) -> anyhow::Result<Run> {
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
