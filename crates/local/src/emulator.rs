//! The AWS emulator (moto server) as a child process on a free loopback port.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// moto's own `main`, after one repair of its DynamoDB.
const LAUNCHER: &str = include_str!("emulator.py");

/// A running emulator; killed when dropped.
pub struct Emulator {
    child: Child,
    pub endpoint: String,
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?.local_addr()?.port())
}

impl Emulator {
    /// Starts the moto server with the venv's `python` (see `emulator.py` for the one repair it
    /// makes) and waits until it answers.
    pub async fn start(python: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = Command::new(python)
            .arg("-c")
            .arg(LAUNCHER)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the emulator with {} (run `make venv` first)", python.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut emulator = Self { child, endpoint };
        emulator.wait_ready().await?;
        Ok(emulator)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait()? {
                bail!("the emulator exited at start ({status})");
            }
            if http.get(format!("{}/moto-api/", self.endpoint)).send().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the emulator did not answer within 30 s")
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
