//! What the kernel knows about a process: CPU time used and peak resident memory.

use std::time::Duration;

use anyhow::Context;

/// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every architecture we run on.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of every thread the process has run, exited ones included.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc/<pid>/stat")?;
    // The command name may hold spaces; the fields after it start past its closing parenthesis.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, so 11 and 12 counted from the state (field 3).
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Peak resident set size (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).context("no value")?.parse()?)
}
