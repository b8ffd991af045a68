//! The composition of a running zgoda: clients, configuration and keys, built once per cold start
//! and shared by every request.

use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use zgoda_aws::access::Access;
use zgoda_aws::secrets::SecretRings;
use zgoda_aws::{Clients, Config, DynamoStore, SesTransport, SqsQueue};
use zgoda_domain::keys::{KeyFamily, Keys};

use crate::mailer::TemplatedMailer;

pub use zgoda_domain::Zgoda;

/// zgoda on AWS: DynamoDB for storage, SES (through the templates) for mail, SQS for fan-out.
pub type App = Zgoda<DynamoStore, TemplatedMailer<SesTransport>, SqsQueue>;

/// Builds one function's app from configuration, with the key rings its `access` names; fails
/// when one of them cannot be loaded.
pub async fn build(config: &Config, clients: &Clients, access: &Access) -> Result<App, String> {
    let keys = read_rings(config, clients, access).await?;
    Ok(assemble(config, clients, access, keys))
}

async fn read_rings(config: &Config, clients: &Clients, access: &Access) -> Result<Keys, String> {
    zgoda_aws::secrets::load_keys(&clients.secrets, &config.secrets_prefix, access.key_rings).await
}

fn assemble(config: &Config, clients: &Clients, access: &Access, mut keys: Keys) -> App {
    if access.key_rings.contains(&KeyFamily::Operators) {
        let source = SecretRings { client: clients.secrets.clone(), prefix: config.secrets_prefix.clone() };
        keys = keys.refresh_operators(Arc::new(source), config.settings.operator_ring_max_age, chrono::Utc::now());
    }
    let transport = SesTransport::new(clients.ses.clone(), config.mail.clone());
    Zgoda {
        store: DynamoStore::new(clients.dynamodb.clone(), config.table.clone()),
        mailer: TemplatedMailer::new(transport, config.settings.controller.clone()),
        queue: SqsQueue::new(clients.sqs.clone(), config.queue_url.clone()),
        keys,
        names: Default::default(),
        forms: Default::default(),
        mail_budget: Default::default(),
        settings: config.settings.clone(),
    }
}

/// A key ring a function needs could not be read (named, with Secrets Manager's reason). It goes
/// to the log and to Lambda, never to an HTTP caller, who gets a 503.
#[derive(Debug, Clone, thiserror::Error)]
#[error("key rings not read: {0}")]
pub struct RingsUnreadable(pub String);

/// When a deployed function reads its key rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRings {
    /// As it starts, so the read runs while the runtime starts and fetches the first event: for a
    /// function whose every event, or nearly, needs a key.
    AtStart,
    /// When the first event that needs the app arrives: for a function whose common event needs
    /// no key (ses-events' deliveries), which then never waits for, nor holds, a key it does not
    /// use, and spends no Secrets Manager call on an instance that never needs one.
    WhenNeeded,
}

/// A deployed function's app from its first moment: the key rings' read is sent off as the
/// function starts ([`ReadRings::AtStart`]; with [`ReadRings::WhenNeeded`], by the first event
/// that needs the app) and the app is assembled when the first event needs it, so the read runs
/// while the Lambda runtime starts and fetches that event instead of before it (the cold-start
/// benchmark: the runtime's start and first poll, about half a millisecond against the emulator;
/// in AWS the read is a round trip and a TLS handshake, milliseconds). A read that fails answers
/// that event with the failure (an HTTP function's 503, an event function's error, which Lambda
/// retries) and the next event reads again: a function never serves without a key it needs, and
/// recovers without a redeploy once the ring is readable.
pub struct Starting {
    config: Config,
    clients: Clients,
    access: &'static Access,
    /// The read sent off at start, until the first event takes it.
    first_read: Mutex<Option<JoinHandle<Result<Keys, String>>>>,
    app: OnceCell<App>,
}

impl Starting {
    /// Sends the rings' read off at once when `read` says so (a function with no ring has nothing
    /// to wait for). Must be called within the Tokio runtime, which runs the read whenever the
    /// caller waits.
    pub fn new(config: Config, clients: Clients, access: &'static Access, read: ReadRings) -> Self {
        let first_read = (read == ReadRings::AtStart && !access.key_rings.is_empty()).then(|| {
            let (config, clients) = (config.clone(), clients.clone());
            tokio::spawn(async move {
                // The runtime's poll for the first event goes first: on the one thread, the read's
                // own work (the Secrets Manager client's first call, about a millisecond) would
                // otherwise come before it, so against a fast Secrets Manager (the emulator) the
                // rings were in before the event arrived, and its keyless work (intake's form
                // read) followed them instead of overlapping them. The read starts a poll later.
                tokio::task::yield_now().await;
                read_rings(&config, &clients, access).await
            })
        });
        Self { config, clients, access, first_read: Mutex::new(first_read), app: OnceCell::new() }
    }

    /// The app, once its rings are in: the first call waits for the read sent at start, or reads
    /// them ([`ReadRings::WhenNeeded`]); after a failed read, each call reads again until one
    /// succeeds.
    pub async fn app(&self) -> Result<&App, RingsUnreadable> {
        self.app
            .get_or_try_init(|| async {
                let sent = self.first_read.lock().expect("not poisoned").take();
                let keys = match sent {
                    Some(read) => {
                        self.build_clients_named(&read);
                        read.await.map_err(|e| format!("key rings: {e}")).and_then(|read| read)
                    }
                    None => read_rings(&self.config, &self.clients, self.access).await,
                };
                keys.map(|keys| assemble(&self.config, &self.clients, self.access, keys)).map_err(RingsUnreadable)
            })
            .await
    }

    /// An HTTP function's answer: `handle`'s, with the app, or a 503 (the log names the ring).
    pub async fn answer<'a, F>(&'a self, handle: impl FnOnce(&'a App) -> F) -> lambda_http::Response<lambda_http::Body>
    where
        F: Future<Output = lambda_http::Response<lambda_http::Body>> + 'a,
    {
        self.answer_reading_early(|_| async { None::<()> }, |app, _| handle(app)).await
    }

    /// As [`Self::answer`], and while the app waits for its key rings (an instance's first event),
    /// `early` reads from the store what the event will need and no key guards, and `handle` gets
    /// what it read: the read's round trip overlaps the rings' instead of following it. Once the
    /// app is whole, `early` is not run and `handle` gets `None`.
    pub async fn answer_reading_early<'a, T, E, F>(
        &'a self,
        early: impl FnOnce(DynamoStore) -> E,
        handle: impl FnOnce(&'a App, Option<T>) -> F,
    ) -> lambda_http::Response<lambda_http::Body>
    where
        E: Future<Output = Option<T>>,
        F: Future<Output = lambda_http::Response<lambda_http::Body>> + 'a,
    {
        let early = async {
            if self.app.initialized() {
                return None;
            }
            early(self.store()).await
        };
        match tokio::join!(self.app(), early) {
            (Ok(app), read) => handle(app, read).await,
            (Err(RingsUnreadable(detail)), _) => {
                crate::error::ApiError::Domain(zgoda_domain::Error::Unavailable(detail)).to_json_response()
            }
        }
    }

    /// The function's settings, at hand before its key rings: for a page made from them alone.
    pub fn settings(&self) -> &zgoda_domain::service::Settings {
        &self.config.settings
    }

    /// The function's table, at hand before its key rings: for what an event needs from the store
    /// and no key guards.
    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.clients.dynamodb.clone(), self.config.table.clone())
    }

    /// Builds the clients the function's `access` names while the first event waits for its
    /// rings, rather than on their first call after it: one at a time, and none once the read is
    /// in. A client costs a few hundred microseconds to build (BENCHMARKS.md), so built after
    /// the rings have arrived it would only delay an event that may not use it (links' privacy
    /// page uses none); such a client is built on its first call instead.
    fn build_clients_named(&self, read: &JoinHandle<Result<Keys, String>>) {
        let access = self.access;
        let clients: [(bool, &dyn Fn()); 3] = [
            (!access.table.is_empty(), &|| self.clients.dynamodb.build()),
            (!access.mail.is_empty() || access.suppression_list, &|| self.clients.ses.build()),
            (!access.notice_queue.is_empty() || !access.webhook_queue.is_empty(), &|| self.clients.sqs.build()),
        ];
        for (named, build) in clients {
            if read.is_finished() {
                return;
            }
            if named {
                build();
            }
        }
    }
}

/// What a Lambda `main` does first: configuration from the environment, the SDK's clients, and
/// the key rings its `access` names read as `read` says ([`Starting`]). Fails only on
/// configuration.
pub async fn start(access: &'static Access, read: ReadRings) -> Result<Starting, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let clients = Clients::from_env().await;
    Ok(Starting::new(config, clients, access, read))
}

/// An app whole before the runtime starts, for a function that hands it on at start (the
/// notifier gives it to its pacer) and reads no key ring, so has no read to overlap.
pub async fn from_env(access: &Access) -> Result<App, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let clients = Clients::from_env().await;
    build(&config, &clients, access).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use zgoda_aws::access::Access;
    use zgoda_aws::{Clients, Config, LazyClient, LocalEndpoints, Senders, Sending};

    use super::{ReadRings, Starting};

    fn config() -> Config {
        let sending = Sending { from: "zgoda@sklep.example.pl".into(), configuration_set: None };
        Config {
            table: "t".into(),
            secrets_prefix: "p/".into(),
            mail: Senders { public: sending.clone(), notices: sending },
            queue_url: "http://127.0.0.1:9/q".into(),
            webhook_queue_url: String::new(),
            webhook_dead_letter_url: String::new(),
            settings: Default::default(),
        }
    }

    /// Issue 26 (start-up): a function that holds no key ring (the deadline watch) assembles its
    /// app without building a Secrets Manager client it never calls: a client costs about a
    /// quarter of a millisecond of a cold start (BENCHMARKS.md).
    #[tokio::test(flavor = "current_thread")]
    async fn an_app_with_no_key_ring_builds_no_secrets_manager_client() {
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        static NO_RINGS: Access = Access { table: &["dynamodb:Query"], ..Access::NONE };
        // Nothing listens there: the test fails, rather than hangs, on any call.
        let mut clients = Clients::local(&LocalEndpoints::single("http://127.0.0.1:9"), "eu-central-1").await;
        let secrets = clients.secrets.clone();
        clients.secrets = LazyClient::new(move || {
            BUILT.fetch_add(1, Ordering::SeqCst);
            (*secrets).clone()
        });
        for read in [ReadRings::AtStart, ReadRings::WhenNeeded] {
            let starting = Starting::new(config(), clients.clone(), &NO_RINGS, read);
            assert!(starting.app().await.is_ok(), "{read:?}");
        }
        assert_eq!(BUILT.load(Ordering::SeqCst), 0, "the Secrets Manager client was built");
    }
}
