//! What the kernel knows about a process: CPU time used and peak resident memory.

use std::time::Duration;

use anyhow::Context;

/// CPU time of the process's live threads, to the nanosecond (the scheduler's own account in
/// /proc/<pid>/task/*/schedstat). Threads that have exited are not in it; a tokio server's workers
/// live as long as the process, so a difference over a load run is exact where /proc/<pid>/stat
/// would round to 10 ms.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).context("reading /proc/<pid>/task")? {
        let path = task?.path().join("schedstat");
        // A thread may exit between listing and reading.
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text.split_whitespace().next().context("empty schedstat")?.parse::<u64>()?;
        }
    }
    Ok(Duration::from_nanos(total))
}

/// Peak resident set size (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// Resident set size now (VmRSS), in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
    let line = status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field}"))?;
    Ok(line.split_whitespace().nth(1).context("no value")?.parse()?)
}
