//! Fan-out: breach notices to 10,000 people through the local stack (operator API → outbox → SQS
//! → the notifier → SES), beside the emulator's own rate for the same SDK calls issued directly at
//! the same concurrency (through the product's own store and mailer, `direct_rate`). The notifier runs as its own process (`zgoda-local notifier`), so its
//! memory is its own; then a second 10,000 go out while that process is killed (SIGKILL) at random
//! points and restarted, and the emulator's count of sent mail shows whether anyone got two.
//!
//! The 10,000 come as five escalations of 2,000 explicit addresses on one breach: the API's 64 KiB
//! body holds about 2,000 addresses, and selecting 10,000 by form would first need 10,000 subjects
//! captured, which at the emulator's tens of form posts a second would take longer than the
//! fan-out itself. The notifier's work per recipient is the same either way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::{Value, json};
use zgoda_client::OperatorClient;
use zgoda_domain::breach::ContactPoint;
use zgoda_domain::email::EmailAddress;
use zgoda_domain::feedback::SesMail;
use zgoda_domain::ids::{BreachId, EscalationId, SubjectId};
use zgoda_domain::keys::SecretKey;
use zgoda_domain::mail::{Mailer, Message};
use zgoda_domain::store::{BreachStore, Claim, Delivery, Job};

use crate::proc;

/// How the recipients are split into escalations (see the module comment).
const PER_ESCALATION: usize = 2_000;
/// Recipients of the direct baseline: enough for a steady rate.
const DIRECT_RECIPIENTS: usize = 2_000;
/// The notifier's shape: up to 10 messages a poll, 50 recipients a message, 10 of them at once.
const MESSAGES_PER_POLL: i32 = 10;
const RECIPIENTS_PER_MESSAGE: usize = 50;
const RECIPIENTS_AT_ONCE: usize = 10;
/// Outbox writes in flight while an escalation is created (as the operator function does).
const WRITE_CONCURRENCY: usize = 16;

#[derive(Debug, Serialize)]
pub struct FanOut {
    pub recipients: usize,
    pub escalations: usize,
    pub seconds: f64,
    pub recipients_per_second: f64,
    pub sent: u64,
    pub failed: u64,
    /// Recipients still pending when the wait gave up (15 minutes); 0 when all finished.
    pub pending: u64,
    /// The notifier process's peak resident memory (VmHWM), KiB.
    pub notifier_peak_rss_kib: u64,
    /// The notifier process's CPU over the measured fan-out, per recipient (µs).
    pub notifier_cpu_us_per_notice: f64,
    /// Every call the emulator answered during the measured fan-out, by operation: the
    /// escalations', the notifier's and ses-events' together.
    pub calls: BTreeMap<String, u64>,
    pub direct: Direct,
    pub kill_run: KillRun,
}

/// A fan-out with the notifier killed at random points and restarted each time.
#[derive(Debug, Serialize)]
pub struct KillRun {
    pub recipients: usize,
    pub kills: usize,
    pub seconds: f64,
    /// Recorded outcomes; `pending` is what was left when the wait gave up (10 minutes).
    pub progress: Progress,
    /// Mails the emulator accepted during the run.
    pub mails: u64,
}

/// Starts `zgoda-local notifier` processes against the running stack.
pub struct NotifierCommand {
    pub program: std::path::PathBuf,
    pub python: std::path::PathBuf,
    pub env_file: std::path::PathBuf,
    pub log: std::path::PathBuf,
}

impl NotifierCommand {
    fn spawn(&self) -> anyhow::Result<tokio::process::Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        tokio::process::Command::new(&self.program)
            .arg("--python")
            .arg(&self.python)
            .arg("notifier")
            .arg("--env-file")
            .arg(&self.env_file)
            .env("ZGODA_SEND_RATE", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(log)
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting zgoda-local notifier")
    }
}

#[derive(Debug, Serialize)]
pub struct Direct {
    pub recipients: usize,
    pub seconds: f64,
    pub recipients_per_second: f64,
    /// How many addresses the emulator counts for one mail (see `mails_sent`).
    pub addresses_per_mail: u64,
}

/// Signs and sends operator requests.
struct Operator {
    client: OperatorClient,
}

impl Operator {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>, idempotency_key: Option<&str>) -> anyhow::Result<(u16, Value)> {
        let bytes = body.map(serde_json::to_vec).transpose()?.unwrap_or_default();
        let resp = self.client.request(method.parse()?, path, bytes, idempotency_key).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }
}

/// Fans out to `recipients` (a multiple of 2,000) twice: measured, then with the notifier killed.
pub async fn measure(
    client: &reqwest::Client,
    vars: &BTreeMap<String, String>,
    notifier_command: &NotifierCommand,
    recipients: usize,
) -> anyhow::Result<FanOut> {
    let var = |k: &str| vars.get(k).with_context(|| format!("{k} missing from the env file")).cloned();
    let endpoints = zgoda_aws::LocalEndpoints::from_vars(|k| vars.get(k).cloned()).context("no emulator endpoint in the env file")?;
    let clients = zgoda_aws::Clients::local(&endpoints, &var("AWS_REGION")?).await;
    eprintln!("fan-out: the emulator's direct rate for {DIRECT_RECIPIENTS} recipients");
    let set = var("ZGODA_SES_NOTICE_CONFIGURATION_SET")?;
    let direct = direct_rate(&clients, &var("ZGODA_TABLE")?, &set, client, &endpoints.other).await?;

    let url = var("ZGODA_URL")?;
    let key = SecretKey::from_hex(&var("ZGODA_OPERATOR_KEY")?).map_err(|e| anyhow!("{e:?}"))?;
    let op = Operator { client: OperatorClient::new(&url, var("ZGODA_OPERATOR_KID")?, key, client.clone()) };
    let (status, breach) = op.call("POST", "/v1/breaches", Some(&breach_body(recipients)), None).await?;
    if status != 201 {
        bail!("registering the benchmark breach: {status} {breach}");
    }
    let id = breach["id"].as_str().context("breach id")?.to_owned();

    eprintln!("fan-out: {recipients} recipients");
    let mails = MailCount { client, endpoint: &endpoints.other, per_notice: direct.addresses_per_mail.max(1) };
    let mut notifier = notifier_command.spawn()?;
    let notifier_pid = notifier.id().context("notifier pid")?;
    let mails_before = mails.addresses().await?;
    let calls_before = crate::emulator_calls(client, vars).await?;
    let started = Instant::now();
    let escalations = escalate_all(&op, &id, "f", recipients).await?;
    let fanned = wait_all(&op, &id, escalations, &mails, mails_before, Duration::from_secs(900), || Ok(())).await?;
    let seconds = started.elapsed().as_secs_f64();
    let notifier_peak_rss_kib = proc::peak_rss_kib(notifier_pid)?;
    let notifier_cpu_us_per_notice = proc::cpu_time(notifier_pid)?.as_secs_f64() * 1e6 / recipients as f64;
    let mut calls = crate::emulator_calls(client, vars).await?;
    for (operation, n) in calls.iter_mut() {
        *n -= calls_before.get(operation).copied().unwrap_or(0);
    }
    calls.retain(|_, n| *n > 0);
    notifier.kill().await?;

    eprintln!("fan-out: {recipients} recipients, the notifier killed at random points");
    let mails_before = mails.addresses().await?;
    let kill_started = Instant::now();
    let escalations = escalate_all(&op, &id, "k", recipients).await?;
    let mut notifier = notifier_command.spawn()?;
    let (mut kills, mut next_kill) = (0, random_between(Duration::from_secs(3), Duration::from_secs(12)));
    let killed = wait_all(&op, &id, escalations, &mails, mails_before, Duration::from_secs(600), || {
        if kills < MAX_KILLS && kill_started.elapsed() >= next_kill {
            // SIGKILL, as a Lambda dies: no cleanup, whatever it had claimed stays claimed.
            notifier.start_kill()?;
            notifier = notifier_command.spawn()?;
            kills += 1;
            next_kill = kill_started.elapsed() + random_between(Duration::from_secs(5), Duration::from_secs(15));
        }
        Ok(())
    })
    .await?;
    let kill_seconds = kill_started.elapsed().as_secs_f64();
    notifier.kill().await?;
    let mails = (mails.addresses().await? - mails_before) / mails.per_notice;
    Ok(FanOut {
        recipients,
        escalations: recipients.div_ceil(PER_ESCALATION),
        seconds,
        recipients_per_second: recipients as f64 / seconds,
        sent: fanned.sent,
        failed: fanned.failed,
        pending: fanned.pending,
        notifier_peak_rss_kib,
        notifier_cpu_us_per_notice,
        calls,
        direct,
        kill_run: KillRun { recipients, kills, seconds: kill_seconds, progress: killed, mails },
    })
}

/// Kills of the notifier in the kill run: each strands what it had claimed until the lease runs
/// out, and each redelivery counts against the queue's five receives.
const MAX_KILLS: usize = 4;

fn random_between(low: Duration, high: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    low + Duration::from_millis(u64::from_le_bytes(bytes) % (high - low).as_millis().max(1) as u64)
}

/// `recipients` as escalations of up to PER_ESCALATION explicit addresses, `prefix` keeping each run's own.
/// Each escalation's id and how many people it mails.
async fn escalate_all(op: &Operator, breach: &str, prefix: &str, recipients: usize) -> anyhow::Result<Vec<(String, usize)>> {
    let mut escalations = Vec::new();
    for part in 0..recipients.div_ceil(PER_ESCALATION) {
        let count = PER_ESCALATION.min(recipients - part * PER_ESCALATION);
        let emails: Vec<String> = (0..count).map(|i| format!("{prefix}{part}x{i}@odbiorca.example.pl")).collect();
        let body = json!({"subjects": {"emails": emails}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});
        let key = format!("bench-{prefix}-{part}");
        let (status, answer) = op.call("POST", &format!("/v1/breaches/{breach}/escalations"), Some(&body), Some(key.as_str())).await?;
        if status != 202 {
            bail!("escalation {prefix}{part}: {status} {answer}");
        }
        escalations.push((answer["escalation_id"].as_str().context("escalation id")?.to_owned(), count));
    }
    Ok(escalations)
}

/// Where a set of escalations stands.
#[derive(Debug, Default, Serialize)]
pub struct Progress {
    pub sent: u64,
    pub failed: u64,
    /// Recipients still pending when the wait ended (0 when every escalation finished).
    pub pending: u64,
}

/// Waits until every escalation has no recipient pending, or `limit` passes; `tick` runs twice a
/// second meanwhile.
///
/// A progress read counts an escalation's whole outbox (16 queries over every recipient). Read
/// every few seconds, that was a quarter of the time of the emulator the notifier shares
/// (py-spy): the observer slowed what it measured, and only on the product's side, as the
/// baseline counts its own work. So an escalation's progress is read only once the emulator's
/// count of mail sent (one cheap call, `MailCount`) says all its notices have left, or every
/// `PROGRESS_FALLBACK` in case some fail without a mail; from then on twice a second, to the last
/// recipient recorded.
async fn wait_all(
    op: &Operator,
    breach: &str,
    escalations: Vec<(String, usize)>,
    mails: &MailCount<'_>,
    mails_before: u64,
    limit: Duration,
    mut tick: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Progress> {
    let started = Instant::now();
    let mut done = Progress::default();
    // The queue serves the escalations roughly in order: wait for the oldest unfinished one.
    let mut unfinished = escalations.into_iter().peekable();
    let mut notices_before_it = 0;
    let mut last_read: Option<Instant> = None;
    while let Some((esc, count)) = unfinished.peek() {
        let all_mailed = mails.addresses().await? >= mails_before + (notices_before_it + *count as u64) * mails.per_notice;
        if all_mailed || last_read.is_none_or(|at| at.elapsed() >= PROGRESS_FALLBACK) {
            last_read = Some(Instant::now());
            let p = progress(op, breach, esc, started).await?;
            if p.pending == 0 {
                done.sent += p.sent;
                done.failed += p.failed;
                notices_before_it += *count as u64;
                unfinished.next();
                continue;
            }
        }
        if started.elapsed() > limit {
            // Count what the unfinished ones hold, and report rather than fail the whole benchmark.
            for (esc, _) in unfinished {
                let p = progress(op, breach, &esc, started).await?;
                done.sent += p.sent;
                done.failed += p.failed;
                done.pending += p.pending;
            }
            return Ok(done);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        tick()?;
    }
    Ok(done)
}

/// How often an escalation's progress is read while its notices are still leaving.
const PROGRESS_FALLBACK: Duration = Duration::from_secs(30);

async fn progress(op: &Operator, breach: &str, esc: &str, started: Instant) -> anyhow::Result<Progress> {
    // A query of its own makes each signature distinct, so none is refused as a replay.
    let path = format!("/v1/breaches/{breach}/escalations/{esc}?at={}", started.elapsed().as_micros());
    let (status, p) = op.call("GET", &path, None, None).await?;
    if status != 200 {
        bail!("progress: {status} {p}");
    }
    let count = |k: &str| p[k].as_u64().with_context(|| format!("no {k} in {p}"));
    Ok(Progress { sent: count("sent")?, failed: count("failed")?, pending: count("pending")? })
}

/// The emulator's count of mail sent. It counts every address of a mail, envelope and header, so
/// a notice counts as many as one of the baseline's mails (`per_notice`).
struct MailCount<'a> {
    client: &'a reqwest::Client,
    endpoint: &'a str,
    per_notice: u64,
}

impl MailCount<'_> {
    async fn addresses(&self) -> anyhow::Result<u64> {
        mails_sent(self.client, self.endpoint).await
    }
}

/// The emulator's count of addresses mailed so far (SES v1 `GetSendQuota`, which moto answers
/// from a counter, without checking the signature).
async fn mails_sent(client: &reqwest::Client, endpoint: &str) -> anyhow::Result<u64> {
    let answer = client
        .post(format!("{endpoint}/"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/eu-central-1/ses/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=GetSendQuota&Version=2010-12-01")
        .send()
        .await?
        .text()
        .await?;
    let count = answer
        .split("<SentLast24Hours>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .with_context(|| format!("no SentLast24Hours in {answer}"))?;
    Ok(count.parse::<f64>()? as u64)
}

fn breach_body(recipients: usize) -> Value {
    let aware = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    json!({
        "title": "Benchmark", "nature": "Kopia bazy adresów była publicznie dostępna.",
        "cia": {"confidentiality": true, "integrity": false, "availability": false},
        "occurred_at": aware, "detected_at": aware, "aware_at": aware,
        "data_categories": ["adres e-mail"], "subject_categories": ["klienci"],
        "approx_subjects": recipients, "approx_records": recipients,
        "likely_consequences": "Możliwy phishing.", "measures": "Usunięto kopię.",
        "contact_point": {"name": "IOD", "email": "iod@sklep.example.pl"},
        "role": "controller",
        "severity_inputs": {"dpc": 3, "ei": 0.75, "cb": {"confidentiality": 0.5, "integrity": 0, "availability": 0, "malicious": true}}
    })
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The notifier's SDK calls for `DIRECT_RECIPIENTS` people, issued straight at the emulator in the
/// same shape and through the product's own adapters, so the calls cannot drift from the
/// notifier's: outbox items as an escalation writes them (25 a call, 16 calls at once); one SQS
/// message per 50; then polls of 10 messages, 10 recipients of each at once: the store's claim,
/// contact read and finish, and the mailer's rendered, tagged notice sent through the
/// configuration set; the finished messages deleted. Meanwhile SES's Send events are consumed as
/// ses-events does: polls of 10, the store's `record_accepted` each, a batch delete. What the
/// notifier adds is only its own work: the SQS event handling, pacing, and its process.
/// Also how many addresses the emulator counts per mail (`http` and `endpoint` reach its count).
async fn direct_rate(
    clients: &zgoda_aws::Clients,
    table: &str,
    configuration_set: &str,
    http: &reqwest::Client,
    endpoint: &str,
) -> anyhow::Result<Direct> {
    let store = zgoda_aws::DynamoStore::new(clients.dynamodb.clone(), table);
    let notices = zgoda_aws::Sending { from: zgoda_local::NOTICE_SENDER.to_owned(), configuration_set: Some(configuration_set.to_owned()) };
    let public = zgoda_aws::Sending { from: zgoda_local::SENDER.to_owned(), configuration_set: None };
    let mailer = zgoda_web::mailer::TemplatedMailer::new(
        zgoda_aws::SesTransport::new(clients.ses.clone(), zgoda_aws::Senders { public, notices }),
        zgoda_domain::controller::ControllerProfile::example(),
    );
    let queue = clients.sqs.create_queue().queue_name("zgoda-bench-direct").send().await?.queue_url.context("queue url")?;
    let events = clients
        .sqs
        .get_queue_url()
        .queue_name(zgoda_local::ses_events_loop::queue_name(configuration_set))
        .send()
        .await?
        .queue_url
        .context("events queue url")?;
    let consuming = tokio::spawn({
        let (store, clients, events) = (store.clone(), clients.clone(), events.clone());
        async move {
            futures_util::future::join_all((0..zgoda_local::ses_events_loop::POLLERS).map(|_| consume_events(&store, &clients, &events)))
                .await
        }
    });
    let mails_before = mails_sent(http, endpoint).await?;
    let started = Instant::now();
    let items: Vec<WriteRequest> = (0..DIRECT_RECIPIENTS)
        .map(|i| {
            let item = [
                ("pk", s(format!("OUTBOX#{DIRECT_ESCALATION}#{:x}", i % 16))),
                ("sk", s(format!("R#{}", direct_subject(i).as_str()))),
                ("breach_id", s(DIRECT_BREACH)),
                ("email", s(direct_address(i))),
                ("lang", s("pl")),
                ("status", s("pending")),
            ];
            let put = PutRequest::builder().set_item(Some(item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())).build();
            Ok::<_, anyhow::Error>(WriteRequest::builder().put_request(put?).build())
        })
        .collect::<Result<_, _>>()?;
    stream::iter(items.chunks(25).map(|c| c.to_vec()))
        .map(|chunk| async move {
            clients
                .dynamodb
                .batch_write_item()
                .request_items(table, chunk)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| anyhow!(zgoda_aws::describe(&e)))
        })
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let messages = DIRECT_RECIPIENTS.div_ceil(RECIPIENTS_PER_MESSAGE);
    stream::iter(0..messages)
        .map(|m| {
            let queue = &queue;
            async move { clients.sqs.send_message().queue_url(queue).message_body(m.to_string()).send().await.map(|_| ()) }
        })
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let mut done = 0;
    while done < messages {
        let polled = clients.sqs.receive_message().queue_url(&queue).max_number_of_messages(MESSAGES_PER_POLL).send().await?;
        let polled = polled.messages.unwrap_or_default();
        futures_util::future::try_join_all(polled.iter().map(|m| async {
            let first: usize = m.body().unwrap_or("0").parse::<usize>()? * RECIPIENTS_PER_MESSAGE;
            let last = (first + RECIPIENTS_PER_MESSAGE).min(DIRECT_RECIPIENTS);
            stream::iter(first..last)
                .map(|i| deliver(&store, &mailer, i))
                .buffer_unordered(RECIPIENTS_AT_ONCE)
                .try_collect::<Vec<()>>()
                .await?;
            clients.sqs.delete_message().queue_url(&queue).set_receipt_handle(m.receipt_handle.clone()).send().await?;
            Ok::<_, anyhow::Error>(())
        }))
        .await?;
        done += polled.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    consuming.abort();
    let addresses_per_mail = (mails_sent(http, endpoint).await? - mails_before) / DIRECT_RECIPIENTS as u64;
    Ok(Direct { recipients: DIRECT_RECIPIENTS, seconds, recipients_per_second: DIRECT_RECIPIENTS as f64 / seconds, addresses_per_mail })
}

const DIRECT_BREACH: &str = "BENCHDIRECT";
const DIRECT_ESCALATION: &str = "benchdirect";

/// A subject id for direct recipient `i`, spread over the outbox's 16 shards as hashed ids are.
fn direct_subject(i: usize) -> SubjectId {
    SubjectId::parse(&format!("{:x}{i:063x}", i % 16)).expect("64 hex digits")
}

fn direct_address(i: usize) -> String {
    format!("d{i}@odbiorca.example.pl")
}

/// ses-events' calls for the Send events: poll 10, record each with the store (a read, which
/// mostly finds the recipient recorded sent, as in the product, and otherwise the conditional
/// write), delete them in one batch.
async fn consume_events(store: &zgoda_aws::DynamoStore, clients: &zgoda_aws::Clients, queue: &str) {
    loop {
        let Ok(polled) = clients.sqs.receive_message().queue_url(queue).max_number_of_messages(10).wait_time_seconds(1).send().await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let messages = polled.messages.unwrap_or_default();
        futures_util::future::join_all(messages.iter().map(|m| async move {
            let event: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            let Ok(mail) = serde_json::from_value::<SesMail>(event["mail"].clone()) else { return };
            let Some(job) = mail.delivery() else { return };
            let _ = store.record_accepted(&job, &mail.message_id, chrono::Utc::now()).await;
        }))
        .await;
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter_map(|(n, m)| {
                DeleteMessageBatchRequestEntry::builder().id(n.to_string()).set_receipt_handle(m.receipt_handle.clone()).build().ok()
            })
            .collect();
        if !entries.is_empty() {
            let _ = clients.sqs.delete_message_batch().queue_url(queue).set_entries(Some(entries)).send().await;
        }
    }
}

/// One recipient, as the notifier delivers it (`Zgoda::deliver` without its rarer branches).
async fn deliver(store: &zgoda_aws::DynamoStore, mailer: &impl Mailer, i: usize) -> anyhow::Result<()> {
    let breach_id = BreachId::parse(DIRECT_BREACH).expect("an id");
    let escalation_id = EscalationId::parse(DIRECT_ESCALATION).expect("an id");
    let job = Job { breach_id: breach_id.clone(), escalation_id, subject: direct_subject(i) };
    let now = chrono::Utc::now();
    let recipient = match store.claim(&job, now, now + chrono::Duration::seconds(60)).await? {
        Claim::Claimed(recipient) => recipient,
        other => bail!("direct recipient {i} not claimable: {other:?}"),
    };
    store.contacts(std::slice::from_ref(&job.subject)).await?;
    let message = Message::BreachNotice {
        to: recipient.email.clone(),
        lang: recipient.lang,
        delivery: job.clone(),
        breach_id,
        nature: "Kopia bazy adresów była publicznie dostępna.".into(),
        likely_consequences: Some("Możliwy phishing.".into()),
        measures: Some("Usunięto kopię.".into()),
        advice: "Zmień hasło.".into(),
        contact: ContactPoint { name: "IOD".into(), email: EmailAddress::parse("iod@sklep.example.pl")?, phone: None },
        drill: false,
    };
    let message_id = mailer.send(&message).await.map_err(|e| anyhow!(e.reason))?;
    // The Send event may get there first, as it can in the product; the store then records nothing.
    store.finish_recipient(&job, &Delivery::Sent { message_id }, now).await?;
    Ok(())
}
