//! Idempotent provisioning of an emulator (or any account): the table, the four key families
//! and the SES sender identity; then the demo form.

use anyhow::Context;
use serde_json::json;
use zgoda_aws::{Clients, Config, SesTransport, secrets, table};
use zgoda_domain::Time;
use zgoda_domain::form::FormInput;
use zgoda_domain::ids::FormId;
use zgoda_domain::keys::SecretKey;
use zgoda_domain::origin::PublicUrl;

/// The operator key id `make run` creates.
pub const LOCAL_OPERATOR: &str = "local-operator";
/// The demo form's id.
pub const DEMO_FORM: &str = "demo";

/// The operator credentials that provisioning created or found.
#[derive(Debug, Clone)]
pub struct OperatorKey {
    pub kid: String,
    pub key_hex: String,
}

fn ring_json(kid: &str) -> String {
    json!({"current": kid, "keys": {kid: SecretKey::generate_hex()}}).to_string()
}

/// How long a received notifier job stays invisible before SQS offers it again. Longer than the
/// send lease: a job whose recipients a killed worker still holds then comes back after the lease
/// ran out, instead of finding them busy again and again and spending its five receives (the
/// deployed queue has 180 s for the same reason). Longer, too, than a batch of ten jobs takes
/// against the emulator.
pub const VISIBILITY_SECS: u32 = 90;
/// Deliveries of one job before SQS moves it to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// How long a received webhook message stays hidden before SQS offers it again when its worker
/// did not answer for it (a worker killed mid-delivery): longer than a delivery at its time limit.
/// Failed deliveries set their own backoff. The deployed queue has 360 s (six function timeouts).
pub const WEBHOOK_VISIBILITY_SECS: u32 = 6;
/// Receives of one webhook message before SQS moves it to the dead-letter queue by itself: more
/// than the backoff's tries over the give-up time, so it is the function, not the redrive, that
/// gives up (the redrive catches a message no worker can read).
pub const WEBHOOK_MAX_RECEIVES: u32 = 30;

/// Creates whatever is missing; never replaces an existing key. Fills in the queues' URLs.
pub async fn provision(clients: &Clients, config: &mut Config, visibility_secs: u32) -> anyhow::Result<OperatorKey> {
    // Queue and configuration set names are the table's, in the characters they allow.
    let stem = config.table.replace(['.', '/'], "-");
    config.queue_url = zgoda_aws::queue::ensure_queues(&clients.sqs, &format!("{stem}-notices"), visibility_secs, MAX_RECEIVES)
        .await
        .map_err(anyhow::Error::msg)?;
    (config.webhook_queue_url, config.webhook_dead_letter_url) =
        zgoda_aws::queue::ensure_fifo_queues(&clients.sqs, &format!("{stem}-webhooks"), WEBHOOK_VISIBILITY_SECS, WEBHOOK_MAX_RECEIVES)
            .await
            .map_err(anyhow::Error::msg)?;
    // Mail goes through a configuration set per stream, as deployed; the emulator puts SES's Send
    // events for each on `<name>-events` (crates/local/src/emulator.py), which `ses_events_loop`
    // consumes.
    for (sending, name) in [(&mut config.mail.public, format!("{stem}-mail")), (&mut config.mail.notices, format!("{stem}-notice-mail"))] {
        clients
            .sqs
            .create_queue()
            .queue_name(crate::ses_events_loop::queue_name(&name))
            .send()
            .await
            .context("creating the SES events queue")?;
        sending.configuration_set = Some(name);
    }
    table::ensure_table(&clients.dynamodb, &config.table).await.map_err(anyhow::Error::msg).context("creating the table")?;
    for family in ["links", "seals", "pepper"] {
        secrets::ensure_secret(&clients.secrets, &format!("{}{family}", config.secrets_prefix), &ring_json("k1"))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let operators = format!("{}operators", config.secrets_prefix);
    secrets::ensure_secret(&clients.secrets, &operators, &ring_json(LOCAL_OPERATOR)).await.map_err(anyhow::Error::msg)?;
    SesTransport::new(clients.ses.clone(), config.mail.clone()).ensure_identities().await.map_err(anyhow::Error::msg)?;

    let text = clients.secrets.get_secret_value().secret_id(&operators).send().await?.secret_string().unwrap_or_default().to_owned();
    let ring: serde_json::Value = serde_json::from_str(&text)?;
    let kid = ring["current"].as_str().unwrap_or(LOCAL_OPERATOR).to_owned();
    let key_hex = ring["keys"][&kid].as_str().context("operator key missing")?.to_owned();
    Ok(OperatorKey { kid, key_hex })
}

/// The demo form's configuration, with the local stack's origin allowed.
pub fn demo_form(public_url: &PublicUrl) -> FormInput {
    let mut input: FormInput = serde_json::from_str(include_str!("../assets/demo-form.json")).expect("demo form parses");
    let origin = public_url.origin().to_string();
    if !input.allowed_origins.contains(&origin) {
        input.allowed_origins.push(origin);
    }
    input
}

/// Stores the demo form (same notice version and text each time, so re-seeding is harmless).
pub async fn seed_demo(app: &zgoda_web::App, now: Time) -> anyhow::Result<()> {
    let id = FormId::parse(DEMO_FORM).expect("valid id");
    app.save_form(id, demo_form(&app.settings.public_url), now).await.map_err(|e| anyhow::anyhow!("seeding the demo form: {e}"))?;
    Ok(())
}
