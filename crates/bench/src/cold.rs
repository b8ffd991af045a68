//! Cold start: exec of a function binary to its first completed invocation against the local
//! Runtime API, then a run of warm invocations and the process's peak memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::proc;
use crate::runtime_api::RuntimeApi;

pub struct Target {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// A sample event from `events/`, delivered exactly as Lambda would.
    pub event: PathBuf,
    /// Text in the event made distinct per invocation (see `RuntimeApi::start`).
    pub vary: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Measured {
    pub name: String,
    pub event: String,
    pub cold_ms: Vec<f64>,
    pub warm_us: Vec<f64>,
    /// The process's CPU time from exec to its first invocation's answer, and per warm
    /// invocation: the start-up without the emulator's waits, which are in the wall-clock times.
    pub cold_cpu_ms: Vec<f64>,
    pub warm_cpu_us: Vec<f64>,
    pub peak_rss_kib: Vec<u64>,
}

/// The variables the Lambda service sets in every sandbox (lambda_runtime reads them at start).
fn sandbox_env(name: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Copies of the binaries, each written in one go as Lambda unpacks a function's zip, in a
/// directory removed when the run ends. Started from the file the linker has just written, every
/// binary (hello too) took 0.1–0.2 ms longer to start on this machine than a copy of it did; the
/// copies measure what a deployed function starts from.
struct Unpacked {
    dir: PathBuf,
    programs: Vec<PathBuf>,
}

impl Unpacked {
    fn new(targets: &[Target]) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("zgoda-bench-unpacked-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut unpacked = Self { dir, programs: Vec::new() };
        for (i, target) in targets.iter().enumerate() {
            let program = unpacked.copy(i, &target.program)?;
            unpacked.programs.push(program);
        }
        Ok(unpacked)
    }

    fn copy(&self, i: usize, program: &Path) -> anyhow::Result<PathBuf> {
        let to = self.dir.join(format!("{i}-{}", program.file_name().unwrap_or_default().to_string_lossy()));
        std::fs::write(&to, std::fs::read(program).with_context(|| format!("reading {}", program.display()))?)?;
        std::fs::set_permissions(&to, std::fs::metadata(program)?.permissions())?;
        Ok(to)
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Each target started `rounds` times, a round starting every target once in turn: each round's
/// ratio of a function to the baseline (the report takes their median) then compares starts taken
/// moments apart, where the shared machine's speed drifts over the run.
pub async fn measure_rounds(targets: &[Target], env: &[(String, String)], rounds: usize, warm: u64) -> anyhow::Result<Vec<Measured>> {
    let unpacked = Unpacked::new(targets)?;
    let mut measured = Vec::new();
    let mut events = Vec::new();
    for target in targets {
        events.push(std::fs::read(&target.event).with_context(|| format!("reading {}", target.event.display()))?);
        measured.push(Measured {
            name: target.name.clone(),
            event: target.event.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            cold_ms: Vec::new(),
            warm_us: Vec::new(),
            cold_cpu_ms: Vec::new(),
            warm_cpu_us: Vec::new(),
            peak_rss_kib: Vec::new(),
        });
    }
    for round in 0..rounds {
        eprintln!("cold start: round {} of {rounds}", round + 1);
        for (((target, program), event), out) in targets.iter().zip(&unpacked.programs).zip(&events).zip(&mut measured) {
            start_once(target, program, event, env, warm, out).await?;
        }
    }
    Ok(measured)
}

/// One fresh process of `target`: its first invocation's time from exec, then `warm` more.
async fn start_once(
    target: &Target,
    program: &Path,
    event: &[u8],
    env: &[(String, String)],
    warm: u64,
    out: &mut Measured,
) -> anyhow::Result<()> {
    let mut api = RuntimeApi::start(event.to_vec(), target.vary.clone(), 1 + warm).await?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(&target.args)
        .envs(env.iter().cloned())
        .envs(sandbox_env(&target.name))
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", target.program.display()))?;
    let pid = child.id().context("no pid")?;
    api.serving(pid);
    let mut next = async || tokio::time::timeout(Duration::from_secs(60), api.completions.recv()).await.ok().flatten();
    let first = next().await.with_context(|| format!("{}: no first invocation", target.name))?;
    if let Some(e) = first.error {
        bail!("{} failed its first invocation: {e}", target.name);
    }
    let (mut last, mut last_cpu) = (first.at, first.cpu);
    for _ in 0..warm {
        let c = next().await.with_context(|| format!("{}: a warm invocation never ended", target.name))?;
        if let Some(e) = c.error {
            bail!("{} failed a warm invocation: {e}", target.name);
        }
        (last, last_cpu) = (c.at, c.cpu);
    }
    out.cold_ms.push((first.at - started).as_secs_f64() * 1000.0);
    let first_cpu = first.cpu.with_context(|| format!("{}: no CPU time at its first answer", target.name))?;
    out.cold_cpu_ms.push(first_cpu.as_secs_f64() * 1000.0);
    if warm > 0 {
        out.warm_us.push((last - first.at).as_secs_f64() * 1e6 / warm as f64);
        let last_cpu = last_cpu.with_context(|| format!("{}: no CPU time at its last answer", target.name))?;
        out.warm_cpu_us.push((last_cpu - first_cpu).as_secs_f64() * 1e6 / warm as f64);
    }
    out.peak_rss_kib.push(proc::peak_rss_kib(pid)?);
    child.kill().await.ok();
    Ok(())
}
