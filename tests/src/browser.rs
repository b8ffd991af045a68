//! A small W3C WebDriver client over reqwest, for the browser tests: Debian's chromium driven by
//! chromedriver, headless, on loopback. (fantoccini's rustls feature would pull aws-lc-sys into
//! the whole workspace through feature unification, which the build rules forbid.)

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    _driver: Child,
    _profile: TempDir,
    /// chromedriver's address (`127.0.0.1:<port>`) and the session's path on it.
    driver: String,
    session: String,
    base: String,
    http: reqwest::Client,
}

/// Ends the session however the test ends (a failed assertion, a forgotten `quit`): killing
/// chromedriver, which `_driver` does, leaves the Chromium it started running.
impl Drop for Browser {
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(&self.driver) else { return };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request =
            format!("DELETE {} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.session, self.driver);
        if stream.write_all(request.as_bytes()).is_ok() {
            // chromedriver answers once the browser has closed.
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

/// A throwaway Chromium profile directory.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session in `lang`.
    pub async fn start(lang: &str) -> Self {
        let port = zgoda_local::emulator::free_port().unwrap();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; `make test` installs it)");
        let root = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{root}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = TempDir(std::env::temp_dir().join(format!("zgoda-chromium-{}", crate::unique())));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=420,900",
                     format!("--lang={lang}"), format!("--user-data-dir={}", profile.0.display())],
            "prefs": {"intl.accept_languages": lang}
        }}}});
        let resp: Value = http.post(format!("{root}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {resp}")).to_owned();
        Self {
            _driver: driver,
            _profile: profile,
            driver: format!("127.0.0.1:{port}"),
            session: format!("/session/{session}"),
            base: format!("{root}/session/{session}"),
            http,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req.send().await.unwrap().json().await.unwrap();
        if resp["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", resp["value"]);
        }
        resp["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// The browser's Reload button: the page loads again from the server (a `goto` to the same
    /// address with a fragment would only move within the page).
    pub async fn reload(&self) {
        self.call(reqwest::Method::POST, "/refresh", Some(json!({}))).await;
    }

    /// The browser's Back button.
    pub async fn back(&self) {
        self.call(reqwest::Method::POST, "/back", Some(json!({}))).await;
    }

    async fn element(&self, css: &str) -> String {
        let v = self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        match v[ELEMENT].as_str() {
            Some(id) => id.to_owned(),
            None => panic!("no element {css} ({v}) on {}:\n{}", self.url().await, self.source().await),
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// Empties a text field.
    pub async fn clear(&self, css: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
    }

    pub async fn text_of(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None).await.as_str().unwrap_or("").to_owned()
    }

    /// Waits (up to 15 s) until the page holds `needle`: a click that submits a form may return
    /// before the next page has loaded.
    pub async fn wait_for(&self, needle: &str) {
        let start = std::time::Instant::now();
        loop {
            let source = self.source().await;
            if source.contains(needle) {
                return;
            }
            if start.elapsed() > Duration::from_secs(15) {
                panic!("{needle:?} never appeared on {}:\n{source}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or("").to_owned()
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or("").to_owned()
    }

    /// Saves a PNG under `artifacts/screenshots/` for people to look at.
    pub async fn screenshot(&self, name: &str) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = BASE64.decode(data.as_str().unwrap()).unwrap();
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Closes the browser (as dropping it does).
    pub async fn quit(self) {
        drop(self);
    }
}
