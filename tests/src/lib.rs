//! Test support: `TestEnv::spawn()` gives each test its own table, keys and server inside the one
//! emulator that `make test` starts, and helpers to sign operator requests, read the table back
//! and read the mail the emulator's SES accepted.

pub mod browser;
pub mod fault;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use zgoda_aws::{Clients, Config, LocalEndpoints, Senders, Sending, item};
use zgoda_domain::keys::SecretKey;
use zgoda_domain::origin::PublicUrl;
use zgoda_domain::{Settings, operator_sig};
use zgoda_local::provision::{self, OperatorKey};
use zgoda_local::server::{Apps, Local, serve};

pub use zgoda_local::REGION;
pub const ORIGIN: &str = "https://sklep.example.pl";

/// Every log line any test's server writes, for the leak checks.
pub fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        zgoda_web::telemetry::init_with_writer(move || LogWriter(writer.clone()));
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn emulator_endpoints() -> LocalEndpoints {
    LocalEndpoints::from_vars(|k| std::env::var(k).ok()).expect("integration tests need the emulator: run them with `make test`")
}

/// A unique lower-case suffix for names.
pub fn unique() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

/// A unique address on a domain of our own, so mailbox reads never see another test's mail.
pub fn address(tag: &str) -> String {
    format!("{tag}.{}@klient.example.pl", unique())
}

/// Waits, when fewer than `needed` remain, for the next clock hour. Rate limits and the public
/// mail budget count in fixed hourly windows; a test that counts hits across the turn of an hour
/// sees its counters restart half-way (a CI run at 15:59:58 did).
pub async fn within_one_clock_hour(needed: std::time::Duration) {
    let now = chrono::Utc::now();
    let into_hour = std::time::Duration::from_millis((now.timestamp_millis() % 3_600_000) as u64);
    let left = std::time::Duration::from_secs(3600).saturating_sub(into_hour);
    if left < needed {
        tokio::time::sleep(left + std::time::Duration::from_millis(200)).await;
    }
}

/// The proof of work the tests' stacks ask for: a few milliseconds of the tests' CPU.
pub const EASY_PROOF_OF_WORK: zgoda_domain::proof_of_work::ProofOfWork =
    zgoda_domain::proof_of_work::ProofOfWork { cost: 2, max_counter: 50, ttl: chrono::Duration::hours(1) };

pub struct TestEnv {
    pub url: String,
    pub config: Config,
    /// Straight to the emulator: the tests' own reads and writes.
    pub clients: Clients,
    /// What the app uses: the same emulator, or the fault proxy in front of it.
    app_clients: Clients,
    /// Present when the app reaches the emulator through a proxy that can cut it off.
    pub faults: Option<fault::FaultProxy>,
    pub operator: OperatorKey,
    pub http: reqwest::Client,
    pub local: Arc<Local>,
    server: tokio::task::JoinHandle<()>,
    notifier: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Webhook delivery workers started by the test, stopped with the environment.
    webhook_workers: Mutex<Vec<tokio::task::AbortHandle>>,
    /// The last signature timestamp used: each request gets a later one, so two identical requests
    /// in the same second are not mistaken for a replay (which the server rightly refuses).
    last_ts: Mutex<i64>,
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.server.abort();
        self.stop_notifier();
        self.webhook_workers.lock().unwrap().iter().for_each(tokio::task::AbortHandle::abort);
        // A call AWS would refuse fails the test that made it, even where the code went on.
        let refused = self.local.apps.refusals();
        if !refused.is_empty() && !std::thread::panicking() {
            panic!("calls the deployed policies would refuse:\n{}", refused.join("\n"));
        }
    }
}

impl TestEnv {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with an adjusted configuration (rate limits, expiry, sender).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_inner(adjust, false).await
    }

    /// Spawns an app that reaches the emulator only through a [`fault::FaultProxy`] (`env.faults`).
    pub async fn spawn_with_faults(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_inner(adjust, true).await
    }

    async fn spawn_inner(adjust: impl FnOnce(&mut Config), with_faults: bool) -> Self {
        captured_logs();
        let id = unique();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config {
            table: format!("zgoda-test-{id}"),
            secrets_prefix: format!("zgoda-test-{id}/"),
            mail: Senders {
                public: Sending { from: zgoda_local::SENDER.into(), configuration_set: None },
                notices: Sending { from: zgoda_local::NOTICE_SENDER.into(), configuration_set: None },
            },
            queue_url: String::new(),
            webhook_queue_url: String::new(),
            webhook_dead_letter_url: String::new(),
            // An easy proof of work: the tests solve one for each privacy request (the browser
            // test keeps the real one).
            settings: Settings {
                public_url: PublicUrl::parse(&url).unwrap(),
                privacy_proof_of_work: EASY_PROOF_OF_WORK,
                ..Settings::default()
            },
        };
        zgoda_local::webhooks_loop::local_settings(&mut config.settings);
        adjust(&mut config);
        let endpoints = emulator_endpoints();
        let clients = Clients::local(&endpoints, REGION).await;
        // A short visibility timeout, so a job whose worker was killed comes back within seconds.
        let operator = provision::provision(&clients, &mut config, 3).await.expect("provisioning");
        let faults = if with_faults { Some(fault::FaultProxy::start(&endpoints).await) } else { None };
        let app_clients = match &faults {
            Some(proxy) => Clients::local(&LocalEndpoints::single(&proxy.url), REGION).await,
            None => clients.clone(),
        };
        let app_endpoints = match &faults {
            Some(proxy) => LocalEndpoints::single(&proxy.url),
            None => endpoints.clone(),
        };
        let apps = Apps::build(&config, &app_endpoints, REGION).await.expect("apps build");
        let local = Arc::new(Local { apps, emulator: Some(endpoints.other) });
        let server = tokio::spawn(serve(listener, local.clone()));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self {
            url,
            config,
            clients,
            app_clients,
            faults,
            operator,
            http,
            local,
            server,
            notifier: Mutex::new(None),
            webhook_workers: Mutex::new(Vec::new()),
            last_ts: Mutex::new(0),
        }
    }

    /// A new app over the same table and secrets, as after a cold start (key rotation tests).
    pub async fn restart(mut self) -> Self {
        self.server.abort();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        self.url = format!("http://{}", listener.local_addr().unwrap());
        self.config.settings.public_url = PublicUrl::parse(&self.url).unwrap();
        let apps = Apps::build(&self.config, &self.app_endpoints(), REGION).await.expect("apps build");
        self.local = Arc::new(Local { apps, emulator: Some(emulator_endpoints().other) });
        self.server = tokio::spawn(serve(listener, self.local.clone()));
        self
    }

    /// Where the apps reach the emulator: straight, or through the fault proxy.
    fn app_endpoints(&self) -> LocalEndpoints {
        match &self.faults {
            Some(proxy) => LocalEndpoints::single(&proxy.url),
            None => emulator_endpoints(),
        }
    }

    /// Starts the notifier (as the Lambda's event source would run it) at `rate` mails a second.
    pub fn start_notifier(&self, rate: u32) {
        let handle = zgoda_local::notifier_loop::spawn(self.local.clone(), (*self.app_clients.sqs).clone(), rate);
        if let Some(old) = self.notifier.lock().unwrap().replace(handle) {
            old.abort();
        }
    }

    /// Hands SES's events (the emulator's Send events for this environment's mail) to the
    /// ses-events handler, as the deployed SNS subscription does, until the environment is dropped.
    pub fn start_ses_events(&self) -> tokio::task::AbortHandle {
        let sets =
            [&self.config.mail.public, &self.config.mail.notices].map(|m| m.configuration_set.clone().expect("provisioned")).to_vec();
        zgoda_local::ses_events_loop::spawn(self.local.clone(), (*self.app_clients.sqs).clone(), sets).abort_handle()
    }

    /// Runs webhook delivery (as its schedule would, every second) until the handle is aborted
    /// (a killed worker) or the environment dropped.
    pub fn start_webhooks(&self) -> tokio::task::AbortHandle {
        let handle = zgoda_local::webhooks_loop::spawn(self.local.clone()).abort_handle();
        self.webhook_workers.lock().unwrap().push(handle.clone());
        handle
    }

    /// Writes what a second process needs to join this environment's stack
    /// (`zgoda-local webhooks --env-file <it>`), and says where.
    pub fn env_file(&self) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("zgoda-test-{}", unique())).join("local.env");
        let vars = zgoda_local::envfile::stack_vars(&self.url, &self.config, &self.app_endpoints());
        zgoda_local::envfile::write(&path, &vars).unwrap();
        path
    }

    /// Kills the notifier wherever it is, as a crashed Lambda would stop.
    pub fn stop_notifier(&self) {
        if let Some(h) = self.notifier.lock().unwrap().take() {
            h.abort();
        }
    }

    /// Every key ring of this environment, as the functions load them.
    pub async fn keys(&self) -> zgoda_domain::keys::Keys {
        let families = zgoda_domain::keys::KeyFamily::ALL;
        zgoda_aws::secrets::load_keys(&self.clients.secrets, &self.config.secrets_prefix, &families).await.unwrap()
    }

    /// Signs a link token exactly as the app would, for tokens the API would not hand out
    /// (already expired, other purposes).
    pub async fn token(&self, claims: &zgoda_domain::token::LinkClaims) -> String {
        zgoda_domain::token::sign(self.keys().await.links(), claims)
    }

    pub async fn subject_id(&self, email: &str) -> zgoda_domain::ids::SubjectId {
        let email = zgoda_domain::email::EmailAddress::parse(email).unwrap();
        zgoda_domain::subject::subject_id(self.keys().await.pepper(), &email)
    }

    /// Signs and sends an operator request.
    pub async fn operator(&self, method: &str, path: &str, body: Option<&Value>) -> reqwest::Response {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        self.operator_client().request_at(method.parse().unwrap(), path, bytes, None, self.next_ts()).send().await.unwrap()
    }

    /// The operator API's client, as the CLI has it, with this env's key.
    pub fn operator_client(&self) -> zgoda_client::OperatorClient {
        let key = SecretKey::from_hex(&self.operator.key_hex).unwrap();
        zgoda_client::OperatorClient::new(&self.url, self.operator.kid.clone(), key, self.http.clone())
    }

    /// A signature timestamp later than every one this env used before: identical requests sent
    /// within a second still get distinct signatures (the server refuses a repeated one).
    pub fn next_ts(&self) -> i64 {
        let mut last = self.last_ts.lock().unwrap();
        *last = (*last + 1).max(chrono::Utc::now().timestamp());
        *last
    }

    pub fn sign(&self, method: &str, path: &str, body: &[u8], ts: i64) -> String {
        self.sign_idempotent(method, path, body, ts, None)
    }

    /// [`Self::sign`] for a request that carries an `Idempotency-Key`.
    pub fn sign_idempotent(&self, method: &str, path: &str, body: &[u8], ts: i64, idempotency_key: Option<&str>) -> String {
        let key = SecretKey::from_hex(&self.operator.key_hex).unwrap();
        let request = operator_sig::SignedRequest::to(method, &self.url, path, body).with_idempotency_key(idempotency_key);
        operator_sig::authorization(&self.operator.kid, &key, ts, &request)
    }

    pub async fn raw_operator(&self, method: &str, path: &str, body: Vec<u8>, authorization: &str) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .header("authorization", authorization)
            .header("accept", "application/json");
        if !body.is_empty() {
            req = req.header("content-type", "application/json").body(body);
        }
        req.send().await.unwrap()
    }

    /// Stores a form through the operator API and returns its JSON.
    pub async fn put_form(&self, id: &str, form: &Value) -> Value {
        let resp = self.operator("PUT", &format!("/v1/admin/forms/{id}"), Some(form)).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "PUT form: {body}");
        body
    }

    /// Posts JSON to a form from the allowed origin.
    pub async fn submit_json(&self, form: &str, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}/v1/forms/{form}/submissions", self.url)).header("origin", ORIGIN).json(body).send().await.unwrap()
    }

    /// A privacy request (`access`, `erasure`, `objection`, `rectification` or `restriction`) in English, from the stack's own privacy page.
    pub async fn privacy_request(&self, email: &str, kind: &str) -> reqwest::Response {
        let body = json!({"email": email, "kind": kind, "lang": "en", "altcha": self.proof_of_work().await});
        self.http.post(format!("{}/v1/privacy/requests", self.url)).header("origin", &self.url).json(&body).send().await.unwrap()
    }

    /// A solved proof-of-work challenge from the privacy page's route, as its script sends it.
    pub async fn proof_of_work(&self) -> String {
        let challenge = self.http.get(format!("{}/v1/privacy/challenge", self.url)).send().await.unwrap().json().await.unwrap();
        zgoda_domain::proof_of_work::solve(&challenge)
    }

    pub async fn lookup(&self, email: &str) -> (u16, Value) {
        let resp = self.operator("POST", "/v1/admin/subjects/lookup", Some(&json!({ "email": email }))).await;
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    /// Every item in this test's table, as JSON objects sorted by key.
    /// The table without the erasures' changes, which tell recipients the erased address for a
    /// week before the sweep forgets it (Art. 19; `changes::ERASED_ADDRESS_KEPT`): what must hold
    /// no trace of an erased person.
    pub async fn scan_but_erasure_changes(&self) -> Vec<Value> {
        self.scan().await.into_iter().filter(|i| !(i["pk"] == "CHANGES" && i["kind"] == "subject.erased")).collect()
    }

    pub async fn scan(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .clients
                .dynamodb
                .scan()
                .table_name(&self.config.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for i in page.items() {
                out.push(Value::Object(i.iter().map(|(k, v)| (k.clone(), item::from_attr(v))).collect()));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by_key(|v| (v["pk"].as_str().unwrap_or("").to_owned(), v["sk"].as_str().unwrap_or("").to_owned()));
        out
    }

    /// The table without the short-lived guards (rate counters, replay markers) that any request
    /// may touch: what "nothing was written" is compared on.
    pub async fn state(&self) -> Vec<Value> {
        self.scan().await.into_iter().filter(|i| !i["pk"].as_str().unwrap_or("").starts_with("GUARD#")).collect()
    }

    /// Items whose key starts with `pk_prefix`.
    pub async fn items(&self, pk_prefix: &str) -> Vec<Value> {
        self.scan().await.into_iter().filter(|i| i["pk"].as_str().unwrap_or("").starts_with(pk_prefix)).collect()
    }

    pub async fn set_attribute(&self, pk: &str, sk: &str, name: &str, value: AttributeValue) {
        self.clients
            .dynamodb
            .update_item()
            .table_name(&self.config.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", name)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }

    pub async fn delete_item(&self, pk: &str, sk: &str) {
        self.clients
            .dynamodb
            .delete_item()
            .table_name(&self.config.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .send()
            .await
            .unwrap();
    }
}

/// A mail read back from the emulator.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub raw: String,
}

impl Mail {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(self.raw.as_bytes()).expect("MIME parses")
    }
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or("").to_owned()
    }
    pub fn text(&self) -> String {
        self.parsed().body_text(0).map(|b| b.into_owned()).unwrap_or_default()
    }
    /// Every link to our API in the text body (a person's links, and an incident reporter's).
    pub fn links(&self) -> Vec<String> {
        let ours = |w: &&str| w.starts_with("http") && (w.contains("/v1/links/") || w.contains("/v1/report/"));
        self.text().split_whitespace().filter(ours).map(str::to_owned).collect()
    }
}

/// Mails the emulator accepted for `to`, oldest first.
pub async fn mails_to(to: &str) -> Vec<Mail> {
    all_mails().await.into_iter().filter(|m| m.to.iter().any(|x| x == to)).collect()
}

/// The whole state of the emulator process that serves SES (where its mail is). Under load its
/// dump endpoint sometimes answers with an error page instead of JSON (it serializes state that
/// other requests are changing); a read is retried.
async fn emulator_state() -> Value {
    let url = format!("{}/moto-api/data.json", emulator_endpoints().other);
    let mut last = String::new();
    for attempt in 1..=10u64 {
        match reqwest::get(&url).await {
            Ok(resp) => match resp.text().await.map(|t| serde_json::from_str::<Value>(&t)) {
                Ok(Ok(v)) => return v,
                Ok(Err(e)) => last = e.to_string(),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
    }
    panic!("the emulator's state could not be read: {last}")
}

/// Every mail the emulator accepted, oldest first.
pub async fn all_mails() -> Vec<Mail> {
    let data = emulator_state().await;
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| Mail {
            // The emulator lists a raw message's recipient once per header and envelope; dedupe.
            to: {
                let mut to: Vec<String> =
                    m["destinations"].as_array().unwrap().iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
                to.sort();
                to.dedup();
                to
            },
            raw: m["raw_data"].as_str().unwrap_or("").to_owned(),
        })
        .collect()
}

/// The docs/api.md example form, with a unique owner address so its notifications can be found.
pub fn contact_form(owner: &str) -> Value {
    json!({
        "name": "Newsletter", "allowed_origins": [ORIGIN],
        "success_url": null, "error_url": null, "default_lang": "pl",
        "fields": [{"name": "name", "kind": "text", "required": false, "max_len": 100},
                   {"name": "message", "kind": "textarea", "required": false, "max_len": 4000}],
        "purposes": [{"id": "newsletter", "lawful_basis": "consent", "required": false, "double_opt_in": true},
                     {"id": "contact_reply", "lawful_basis": "contract", "required": true, "double_opt_in": false}],
        "notify": [owner], "retention_days": 365,
        "notice": {"version": "2026-11", "texts": {"pl": "Treść zgody", "en": "Consent text"}}
    })
}

/// Groups a full scan by item kind (the sort key's prefix), for compact assertions.
pub fn kinds(items: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in items {
        let sk = i["sk"].as_str().unwrap_or("");
        *out.entry(sk.split('#').next().unwrap_or("").to_owned()).or_insert(0) += 1;
    }
    out
}
