//! The AWS emulator (moto server) as two child processes on free loopback ports: one for DynamoDB,
//! one for every other service (see [`LocalEndpoints`] for why two).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use zgoda_aws::LocalEndpoints;

/// moto's own `main`, after the repairs `emulator.py` lists. Its output goes to
/// `.zgoda/emulator-<port>.log` (code review W9: a repair that breaks shows its traceback there,
/// not only as the SDK's 500s).
const LAUNCHER: &str = include_str!("emulator.py");

/// A running emulator; its processes are killed when it is dropped.
pub struct Emulator {
    dynamodb: Child,
    other: Child,
    pub endpoints: LocalEndpoints,
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(any_loopback_port()?.local_addr()?.port())
}

fn any_loopback_port() -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
}

impl Emulator {
    /// Starts both moto servers with the venv's `python` and waits until each answers.
    pub async fn start(python: &Path) -> anyhow::Result<Self> {
        // Both ports are picked while both are held, so the two cannot be handed the same one.
        let picks = [any_loopback_port()?, any_loopback_port()?];
        let [dynamodb_port, other_port] = [picks[0].local_addr()?.port(), picks[1].local_addr()?.port()];
        drop(picks);
        let (mut dynamodb, dynamodb_url) = spawn(python, dynamodb_port)?;
        let (mut other, other_url) = spawn(python, other_port)?;
        let (a, b) = tokio::join!(wait_ready(&mut dynamodb, &dynamodb_url), wait_ready(&mut other, &other_url));
        a.and(b)?;
        Ok(Self { dynamodb, other, endpoints: LocalEndpoints { dynamodb: dynamodb_url, other: other_url } })
    }

    pub async fn stop(mut self) {
        let _ = self.dynamodb.kill().await;
        let _ = self.other.kill().await;
    }
}

/// Where the emulator's script and logs go, beside the local stack's other state.
const STATE_DIR: &str = ".zgoda";

fn log_path(port: u16) -> PathBuf {
    Path::new(STATE_DIR).join(format!("emulator-{port}.log"))
}

/// Writes the script where its tracebacks can name it (written whole, then renamed, so a second
/// emulator starting at the same moment never runs half a file).
fn script() -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(STATE_DIR).with_context(|| format!("creating {STATE_DIR}"))?;
    let path = Path::new(STATE_DIR).join("emulator.py");
    let partial = Path::new(STATE_DIR).join(format!("emulator.py.{}", std::process::id()));
    std::fs::write(&partial, LAUNCHER)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

fn spawn(python: &Path, port: u16) -> anyhow::Result<(Child, String)> {
    let script = script()?;
    let log = std::fs::File::create(log_path(port)).with_context(|| format!("creating {}", log_path(port).display()))?;
    let child = Command::new(python)
        .arg(&script)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting the emulator with {} (run `make venv` first)", python.display()))?;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

async fn wait_ready(child: &mut Child, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_default();
    for _ in 0..300 {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log_path(port)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
            bail!("the emulator exited at start ({status}); {}:\n{}", log_path(port).display(), tail.join("\n"));
        }
        if http.get(format!("{url}/moto-api/")).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the emulator did not answer within 30 s")
}
