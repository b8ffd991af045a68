//! `zgoda`, the operator's command line. Every request is signed with the operator key
//! (docs/api.md §4). The endpoint and key come from flags, else the environment, else the local
//! stack's `.zgoda/local.env`, so after `make run` the commands just work.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::Value;
use zgoda_client::OperatorClient;
use zgoda_domain::address_change::AddressChangeView;
use zgoda_domain::audience::AudiencePage;
use zgoda_domain::breach::Party;
use zgoda_domain::changes::ChangePage;
use zgoda_domain::choices::{Objection, ObjectionAnswer};
use zgoda_domain::deadline::{Basis, DeadlineState, DeadlineStatus, SubjectsStatus};
use zgoda_domain::erasure::{ErasureAnswer, ErasureStatus};
use zgoda_domain::escalation::{EscalationProgress, EscalationStarted};
use zgoda_domain::form::FormView;
use zgoda_domain::ids::EscalationId;
use zgoda_domain::incidents::{Author, ChannelList, ChannelView, IncidentList, IncidentStatus, IncidentView, Triage};
use zgoda_domain::keys::SecretKey;
use zgoda_domain::links::IssuedLink;
use zgoda_domain::processors::{ProcessorList, ProcessorView};
use zgoda_domain::rectification::Rectified;
use zgoda_domain::register::{BreachList, BreachView};
use zgoda_domain::report;
use zgoda_domain::requests::{RequestList, RequestView};
use zgoda_domain::restriction::Restriction;
use zgoda_domain::service::SubjectView;
use zgoda_domain::timeline::{TimelineEvent, TimelineKind};
use zgoda_domain::webhooks::{DeliveryList, EndpointList, EndpointView};

#[derive(Parser)]
#[command(name = "zgoda", version, about = "Operate zgoda: forms, subjects and their consent proofs")]
struct Cli {
    /// Base URL of the zgoda API.
    #[arg(long, env = "ZGODA_URL", global = true)]
    url: Option<String>,
    /// Operator key id.
    #[arg(long, env = "ZGODA_OPERATOR_KID", global = true)]
    kid: Option<String>,
    /// Operator key, hex.
    #[arg(long, env = "ZGODA_OPERATOR_KEY", global = true, hide_env_values = true)]
    key: Option<String>,
    /// Read missing settings from this file (written by `make run`).
    #[arg(long, global = true, default_value = ".zgoda/local.env")]
    env_file: PathBuf,
    /// Print the raw JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Forms and their consent notices.
    Forms {
        #[command(subcommand)]
        command: FormsCommand,
    },
    /// Data subjects.
    Subjects {
        #[command(subcommand)]
        command: SubjectsCommand,
    },
    /// Who may be mailed for a purpose, with ready unsubscribe headers.
    Audience {
        #[command(subcommand)]
        command: AudienceCommand,
    },
    /// Signed links for a person (unsubscribe, access, erase, choices).
    Links {
        #[command(subcommand)]
        command: LinksCommand,
    },
    /// Requests from people (access, erasure, objection): due dates, extensions, closing (Art. 12(3)-(4)).
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// The processors the business entrusts data to (Art. 28(3)), their reporting links and webhook keys.
    Processors {
        #[command(subcommand)]
        command: ProcessorsCommand,
    },
    /// Webhook endpoints that tell the business's CRM or mailing tool each consent, withdrawal,
    /// objection, restriction, rectification and erasure (Art. 19), and their delivery log.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// The change feed after a cursor, for a tool that polls instead of receiving webhooks.
    Changes {
        /// A change id from the last page's `next`; empty for the start.
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Reporting links handed to staff and partners, to report a suspected incident.
    ReportingLinks {
        #[command(subcommand)]
        command: ReportingLinksCommand,
    },
    /// Reported incidents in triage: not a breach (with reasons), a question to the reporter, or a breach.
    Incidents {
        #[command(subcommand)]
        command: IncidentsCommand,
    },
    /// Personal data breaches: register, timeline, escalation, the PUODO draft.
    Breach {
        #[command(subcommand)]
        command: BreachCommand,
    },
    /// The record of processing activities (Art. 30(1)) from the forms and processors, in the
    /// columns of PUODO's template, as Markdown (`--json` for its data).
    Records {
        #[arg(long, default_value = "pl")]
        lang: String,
    },
    /// Check a running stack end to end: health, a signed request, a form post, a mail to SES's
    /// mailbox simulator, and its Send and Delivery events back through ses-events.
    Doctor {
        /// How long to wait for each of SES's events.
        #[arg(long, default_value_t = 90)]
        wait_secs: u64,
    },
}

#[derive(Subcommand)]
enum BreachCommand {
    /// Register a breach from a JSON file (see README, "Handling a breach").
    Create { file: PathBuf },
    /// Every breach with its deadline state (the register); `--drills` lists the drills instead.
    List {
        #[arg(long)]
        drills: bool,
    },
    /// One breach: facts, severity, the 72-hour countdown, timeline and escalations.
    Show { id: String },
    /// Append a timeline entry from a JSON file (`measure`, `facts`, `authority_notified`, `subjects_decision`;
    /// for a processor `controller_notified`, `controller_instruction`; for a drill `drill_ended`).
    Event { id: String, file: PathBuf },
    /// Notify the affected people (body from a JSON file) and follow the progress live.
    Escalate {
        id: String,
        file: PathBuf,
        /// Retry-safe key: the same key and file never send twice. Defaults to the file's SHA-256.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Return at once instead of following the progress.
        #[arg(long)]
        no_wait: bool,
    },
    /// The Art. 33(3) notification draft for PUODO.
    Report {
        id: String,
        #[arg(long, default_value = "pl")]
        lang: String,
        /// md or json.
        #[arg(long, default_value = "md")]
        format: String,
    },
    /// The breach register for the authority (Art. 33(5)): date and time, type, actions taken and
    /// every decision with its reasons, one row per breach (drills left out).
    Register {
        #[arg(long, default_value = "pl")]
        lang: String,
        /// csv or md.
        #[arg(long, default_value = "md")]
        format: String,
    },
}

#[derive(Subcommand)]
enum RequestsCommand {
    /// Open requests by due date (or, with --closed, the latest closed ones).
    List {
        /// Only those due within this time: `7d`, `30d` (days).
        #[arg(long, value_parser = days)]
        due_within: Option<u32>,
        #[arg(long, conflicts_with = "due_within")]
        closed: bool,
    },
    /// One request.
    Show { id: String },
    /// Extend a request once, within its first month, by 1 or 2 months; the person is mailed the reasons.
    Extend {
        id: String,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=2))]
        months: u32,
        #[arg(long)]
        reasons: String,
    },
    /// Close a request: `done`, or `refused` with --reasons (mailed to the person with their right to complain).
    Close {
        id: String,
        #[arg(value_parser = ["done", "refused"])]
        outcome: String,
        #[arg(long)]
        reasons: Option<String>,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Register an endpoint (its signing secret is printed once).
    Add {
        /// Where the receiver listens: `https://` to a public address. (Not `url`: that id is the
        /// global `--url` of the stack, which clap would fill with this.)
        #[arg(value_name = "URL")]
        endpoint_url: String,
        /// Who receives there (the access export names it to the person).
        #[arg(long)]
        description: String,
        /// The kinds it wants (`consent.withdrawn`, `subject.erased`, …; repeat or comma-separated); all if none.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// The forms it covers; all if neither forms nor purposes are given.
        #[arg(long, value_delimiter = ',')]
        forms: Vec<String>,
        /// The purposes it covers.
        #[arg(long, value_delimiter = ',')]
        purposes: Vec<String>,
    },
    /// Every endpoint, with where its delivery stands.
    List,
    /// Stop deliveries to an endpoint (the feed keeps what happens meanwhile).
    Disable { id: String },
    /// Resume deliveries from where they stopped.
    Enable { id: String },
    /// A new signing secret, printed once; the old one signs beside it for 24 hours.
    RotateSecret { id: String },
    /// The endpoint's delivery log, newest first.
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Replay the endpoint's feed from a change on, in order, under the same webhook-ids.
    Redeliver {
        id: String,
        #[arg(long)]
        change: String,
    },
}

#[derive(Subcommand)]
enum ProcessorsCommand {
    /// Register a processor, or update one (the webhook key is printed once, when it is created).
    Save {
        /// Its id: lower-case letters, digits, `-`, `_`.
        id: String,
        #[arg(long)]
        name: String,
        /// Its contact for data protection matters.
        #[arg(long)]
        email: String,
        /// What it processes.
        #[arg(long)]
        processes: String,
        /// The purposes it processes for (repeat, or comma-separated).
        #[arg(long, value_delimiter = ',')]
        purposes: Vec<String>,
        /// When the processing agreement was signed (YYYY-MM-DD).
        #[arg(long)]
        agreement_date: String,
    },
    /// Every processor, with its reporting link and webhook address.
    List,
    /// One processor.
    Show { id: String },
    /// A new webhook key (printed once); the old one verifies for 24 hours more.
    RotateSecret { id: String },
}

#[derive(Subcommand)]
enum ReportingLinksCommand {
    /// A channel for one team or partner, and its link.
    Add {
        /// The channel's id: lower-case letters, digits, `-`, `_`.
        id: String,
        /// Who holds the link (`Obsługa klienta`).
        name: String,
        #[arg(long, value_parser = ["pl", "en"])]
        lang: Option<String>,
    },
    /// Every channel with a working link.
    List,
    /// Withdraw every link of a channel handed out so far, and print its new one.
    Rotate { id: String },
}

#[derive(Subcommand)]
enum IncidentsCommand {
    /// Incidents in triage, oldest first (or `--status closed|all`).
    List {
        #[arg(long, value_parser = ["open", "closed", "all"], default_value = "open")]
        status: String,
    },
    /// One incident: the report, the exchanges with its reporter, the outcome.
    Show { id: String },
    /// Close it as not a personal data breach, with the reasons (kept in the register).
    Close {
        id: String,
        #[arg(long)]
        reasons: String,
    },
    /// Ask the reporter for more: they get a mail with a link to answer.
    Ask { id: String, question: String },
    /// Register it as a breach (a `POST /v1/breaches` body from a JSON file; `detected_at` defaults to the report's time).
    Breach { id: String, file: PathBuf },
}

/// `7d` (or `7`) as a number of days.
fn days(text: &str) -> Result<u32, String> {
    text.strip_suffix('d').unwrap_or(text).parse().map_err(|_| format!("`{text}` is not a number of days such as 7d"))
}

#[derive(Subcommand)]
enum AudienceCommand {
    /// Every subject whose consent for PURPOSE is currently given (all pages).
    Export {
        purpose: String,
        /// CSV on standard output (email, lang, given_at, unsubscribe_url, List-Unsubscribe, List-Unsubscribe-Post).
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Subcommand)]
enum LinksCommand {
    /// Create a link: ACTION is unsubscribe (with --purpose), access, erase or choices.
    Create {
        email: String,
        action: String,
        #[arg(long)]
        purpose: Option<String>,
    },
}

#[derive(Subcommand)]
enum FormsCommand {
    /// Create or update a form from a JSON file; the id is the file name without `.json` unless --id says otherwise.
    Put {
        file: PathBuf,
        #[arg(long)]
        id: Option<String>,
    },
    /// Show a form.
    Get { id: String },
}

#[derive(Subcommand)]
enum SubjectsCommand {
    /// Show a subject's address, submissions, consent state, history and proof check.
    Lookup {
        /// The person's address.
        #[arg(required_unless_present = "subject", conflicts_with = "subject")]
        email: Option<String>,
        /// Or their subject id, as a summary owner notification gives it.
        #[arg(long)]
        subject: Option<String>,
    },
    /// Erase a subject's personal data (Art. 17); keeps the PII-free proofs and a suppression entry.
    Erase {
        email: String,
        /// Why (kept out of logs; for your records).
        #[arg(long)]
        reason: String,
    },
    /// Correct what a person's form carried (Art. 16): `zgoda subjects rectify EMAIL --form kontakt
    /// name="Jan Kowalski"`; an empty value removes a field the form does not require.
    Rectify {
        email: String,
        /// The form whose fields to correct.
        #[arg(long)]
        form: String,
        /// FIELD=VALUE, one or more.
        #[arg(required = true, value_parser = field_value)]
        values: Vec<(String, String)>,
    },
    /// Record an objection the person made to you directly (Art. 21): direct marketing stops at
    /// once; any other legitimate interest is restricted until you close its request.
    Object { email: String, purpose: String },
    /// Restrict the use of a person's data (Art. 18(1)): only stored, not used, until you lift it.
    Restrict {
        email: String,
        /// accuracy (contested, while you check), unlawful (kept instead of erased) or
        /// legal_claims (you no longer need it; the person does).
        #[arg(long)]
        ground: String,
    },
    /// Lift a restriction; the person is mailed the reasons first (Art. 18(3)).
    LiftRestriction {
        email: String,
        #[arg(long)]
        reasons: String,
    },
}

/// `FIELD=VALUE`, as `rectify` takes it.
fn field_value(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("`{text}` is not FIELD=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// The operator API, as the CLI calls it: signed requests, answers read for people.
struct Api {
    url: String,
    http: reqwest::Client,
    client: OperatorClient,
}

mod doctor;

impl Api {
    fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let file = zgoda_env(&cli.env_file);
        let pick = |flag: &Option<String>, name: &str| flag.clone().or_else(|| file.get(name).cloned());
        let url = pick(&cli.url, "ZGODA_URL").context("no endpoint: pass --url or set ZGODA_URL (or run `make run`)")?;
        let kid = pick(&cli.kid, "ZGODA_OPERATOR_KID").context("no key id: pass --kid or set ZGODA_OPERATOR_KID")?;
        let key_hex = pick(&cli.key, "ZGODA_OPERATOR_KEY").context("no key: pass --key or set ZGODA_OPERATOR_KEY")?;
        let key = SecretKey::from_hex(&key_hex).map_err(|e| anyhow::anyhow!("the operator key is not usable: {e}"))?;
        let http = reqwest::Client::new();
        let client = OperatorClient::new(&url, kid, key, http.clone());
        Ok(Self { url: client.url().to_owned(), http, client })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<Value> {
        let text = self.call_text(method, path, body, None).await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A signed request; the answer's body as text (JSON, or Markdown for the report).
    async fn call_text(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<String> {
        let body = body.unwrap_or_default();
        // Signatures carry whole seconds, and the server refuses one it has seen: a random
        // parameter in the signed query keeps two identical commands in one second both valid.
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)?;
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = &format!("{path}{sep}_n={}", hex::encode(nonce));
        let req = self.client.request(method, path, body, idempotency_key);
        let resp = req.send().await.map_err(|e| anyhow::anyhow!("cannot reach {}: {e}. Is the stack running (`make run`)?", self.url))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.as_u16() == 401 {
            bail!("the server refused the request signature (401): check the key id and key, and this machine's clock");
        }
        if !status.is_success() {
            let code = value["error"]["code"].as_str().unwrap_or("error");
            let message = value["error"]["message"].as_str().unwrap_or("");
            let fields: Vec<String> = value["error"]["fields"]
                .as_array()
                .map(|f| {
                    f.iter().map(|x| format!("{}: {}", x["field"].as_str().unwrap_or("?"), x["code"].as_str().unwrap_or("?"))).collect()
                })
                .unwrap_or_default();
            let detail = if fields.is_empty() { String::new() } else { format!("\n  {}", fields.join("\n  ")) };
            bail!("{status} {code}: {message}{detail}");
        }
        Ok(text)
    }
}

fn zgoda_env(path: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect())
        .unwrap_or_default()
}

fn table(rows: Vec<Vec<String>>, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    t
}

fn print_form(v: &Value) {
    typed(v, |view: &FormView| {
        let f = &view.form;
        let version = view.notice.as_ref().map_or("—", |n| n.version.as_str());
        println!("{} ({})  notice {version}  default language {}", f.name, f.id, f.default_lang);
        println!("origins: {}", f.allowed_origins.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
        let rows = f
            .purposes
            .iter()
            .map(|p| vec![p.id.to_string(), p.lawful_basis.as_str().into(), p.required.to_string(), p.double_opt_in.to_string()])
            .collect();
        println!("{}", table(rows, &["purpose", "lawful basis", "required", "double opt-in"]));
        let rows = view
            .notices
            .iter()
            .flat_map(|n| n.sha256.iter().map(|(lang, sha)| vec![n.version.clone(), lang.to_string(), sha.clone(), n.retired.to_string()]))
            .collect();
        println!("{}", table(rows, &["notice", "lang", "sha256", "retired"]));
    })
}

fn print_subject(v: &Value) {
    typed(v, |p: &SubjectView| {
        println!("subject {}", p.subject_id);
        if let Some(email) = &p.email {
            println!("e-mail  {}", email.as_str());
        }
        match &p.address_change {
            Some(AddressChangeView::Leaving { to, new_email, expires_at }) => println!(
                "moving to {} (subject {to}): the link sent there is unused; it lapses at {}",
                new_email.as_str(),
                time(expires_at)
            ),
            Some(AddressChangeView::Arriving { from, expires_at }) => {
                println!(
                    "subject {from} asked to move to this address; nothing is held here until it is confirmed (by {})",
                    time(expires_at)
                )
            }
            Some(AddressChangeView::Moved { to, at }) => {
                println!("MOVED at {} to subject {to}: nothing personal is held here; look that subject up", time(at))
            }
            None => {}
        }
        for sub in &p.submissions {
            println!("submission {} to form {} at {} (kept until {})", sub.receipt_id, sub.form_id, time(&sub.at), time(&sub.kept_until));
            for (name, value) in &sub.fields {
                println!("  {name}: {value}");
            }
        }
        match (&p.proof.verified, &p.proof.broken_at) {
            (true, _) => println!("proof: verified ({} events, every seal and link intact)", p.proof.events),
            (false, at) => println!("proof: BROKEN at event {} ({} events read)", opt(at), p.proof.events),
        }
        println!(
            "{}",
            table(p.state.iter().map(|(purpose, st)| vec![purpose.to_string(), st.as_str().into()]).collect(), &["purpose", "state"])
        );
        let rows = p
            .events
            .iter()
            .map(|e| {
                let f = &e.facts;
                vec![
                    f.seq.to_string(),
                    time(&f.at),
                    opt(&f.purpose),
                    match &f.fields {
                        Some(fields) => format!("{} ({})", f.kind.as_str(), fields.join(", ")),
                        None => f.kind.as_str().into(),
                    },
                    f.lawful_basis.map_or_else(|| "—".into(), |b| b.as_str().into()),
                    opt(&f.notice_version),
                    f.channel.as_str().into(),
                    e.kid.to_string(),
                ]
            })
            .collect();
        println!("{}", table(rows, &["#", "at", "purpose", "event", "basis", "notice", "channel", "key"]));
    })
}

/// The printers for answers the domain has types for: they read the answer as that type, so a
/// change of shape is an error here rather than a blank in the output.
fn typed<T: serde::de::DeserializeOwned>(v: &Value, print: fn(&T)) {
    match zgoda_domain::from_value::<T>(v.clone()) {
        Ok(t) => print(&t),
        Err(e) => eprintln!("zgoda: the answer does not read as this version of the CLI expects ({}); `--json` shows it", e.field),
    }
}

fn time(t: &zgoda_domain::Time) -> String {
    zgoda_domain::proof::format_time(t)
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_else(|| "—".into())
}

fn print_breach(v: &Value) {
    typed(v, |b: &BreachView| {
        let sev = &b.breach.severity;
        let drill = if b.breach.is_drill() { "DRILL — " } else { "" };
        println!("{drill}{} — {}", b.breach.id, b.breach.title);
        println!("severity: {} (SE {}) — {}", sev.band, sev.score, sev.rule);
        let required = |r: bool| if r { "required" } else { "not required" };
        match &b.breach.processing_for {
            Some(p) if b.assessment.deadline.notify == Party::Controller => {
                let people = if b.assessment.controller_instruction {
                    "on the controller's instruction"
                } else {
                    "not without the controller's instruction"
                };
                println!(
                    "processor: tell the controller {} <{}> within {} h; notify the people: {people}",
                    p.name,
                    p.email.as_str(),
                    p.notify_within_hours
                );
                println!("controller clock: {}", clock(&b.assessment.deadline, true));
            }
            _ => {
                let a = &b.assessment;
                println!(
                    "notify the authority: {} ({})   notify the people: {} ({})",
                    required(a.authority_notification_required),
                    basis(a.authority_basis),
                    required(a.subjects_notification_required),
                    basis(a.subjects_basis)
                );
                println!("72-hour clock: {}", clock(&a.deadline, true));
            }
        }
        let s = &b.assessment.subjects;
        match s.status {
            SubjectsStatus::Open => println!(
                "people: NOT YET TOLD{} — required for {} h",
                if s.public_notice_required { " (public notice due, ground c)" } else { "" },
                opt(&s.open_for_hours)
            ),
            SubjectsStatus::Notified => println!("people: told {}", s.notified_at.as_ref().map(time).unwrap_or_default()),
            SubjectsStatus::NotRequired => {}
        }
        if !b.action_plan.is_empty() {
            let rows = b
                .action_plan
                .iter()
                .map(|p| {
                    let overdue = if p.overdue(chrono::Utc::now()) { " OVERDUE" } else { "" };
                    vec![
                        p.action_id.to_string(),
                        report::plan_line(p, zgoda_domain::lang::Lang::En),
                        format!("{}{overdue}", time(&p.action.due_at)),
                    ]
                })
                .collect();
            println!("{}", table(rows, &["action", "what", "due"]));
        }
        let rows = b.timeline.iter().map(|e| vec![e.seq.to_string(), time(&e.at), kind(e.entry.kind()), e.by.to_string()]).collect();
        println!("{}", table(rows, &["#", "at", "entry", "by"]));
        if !b.timeline_proof.verified {
            println!("TIMELINE SEAL BROKEN at {}", opt(&b.timeline_proof.broken_at));
        }
        for e in &b.escalations {
            println!(
                "escalation {}: {} sent, {} failed, {} pending of {} ({} erased, unreachable)",
                e.escalation_id, e.sent, e.failed, e.pending, e.total, e.unreachable_erased
            );
        }
        if let Some(review) = &b.drill_review {
            let rows =
                review.steps.iter().map(|s| vec![s.step.clone(), time(&s.at), format!("{:.1}", s.after_seconds as f64 / 3600.0)]).collect();
            println!("drill steps, from the report:\n{}", table(rows, &["step", "at", "hours"]));
            match &review.notes {
                Some(notes) => println!("drill ended: {notes}"),
                None => println!("drill still running: end it with an entry of type drill_ended and the team's notes"),
            }
        }
    })
}

fn basis(b: Basis) -> &'static str {
    match b {
        Basis::Band => "presumed from the band",
        Basis::Decision => "DPO's decision",
        Basis::Order => "authority's order",
        Basis::Instruction => "controller's instruction",
        Basis::Role => "processor's role",
    }
}

fn kind(k: TimelineKind) -> String {
    serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn clock(d: &DeadlineState, long: bool) -> String {
    let deadline = time(&d.due_at);
    match (d.status, long) {
        (DeadlineStatus::Open, true) => format!("{} h left (deadline {deadline})", opt(&d.hours_left)),
        (DeadlineStatus::Open, false) => format!("{} h left", opt(&d.hours_left)),
        (DeadlineStatus::Late, true) => format!("LATE by {} h (deadline was {deadline})", opt(&d.late_by)),
        (DeadlineStatus::Late, false) => format!("late {} h", opt(&d.late_by)),
        (DeadlineStatus::Notified, _) => format!("notified {}", d.notified_at.as_ref().map(time).unwrap_or_default()),
        (DeadlineStatus::NotifiedLate, _) => {
            format!("notified {} — {} h late", d.notified_at.as_ref().map(time).unwrap_or_default(), opt(&d.late_by))
        }
        (DeadlineStatus::NotRequired, _) => "no authority notification required".into(),
    }
}

fn print_breaches(v: &Value) {
    typed(v, |list: &BreachList| {
        let rows = list
            .items
            .iter()
            .map(|b| {
                vec![
                    b.breach.id.to_string(),
                    b.breach.title.clone(),
                    b.breach.severity.band.to_string(),
                    clock(&b.assessment.deadline, false),
                ]
            })
            .collect();
        println!("{}", table(rows, &["id", "title", "severity", "clock"]));
    })
}

fn print_event(v: &Value) {
    typed(v, |e: &TimelineEvent| println!("entry {} added ({}), sealed with key {}", e.seq, kind(e.entry.kind()), e.kid));
}

fn print_requests(v: &Value) {
    typed(v, |list: &RequestList| {
        let rows = list
            .items
            .iter()
            .map(|r| {
                let due = if r.overdue { format!("{} OVERDUE", time(&r.due_at)) } else { time(&r.due_at) };
                vec![r.request_id.to_string(), request_kind(r), r.status.as_str().into(), time(&r.received_at), due]
            })
            .collect();
        println!("{}", table(rows, &["request", "kind", "status", "received", "due"]));
    })
}

/// A request's kind, with the purpose an objection is about.
fn request_kind(r: &RequestView) -> String {
    match &r.purpose {
        Some(purpose) => format!("{} to {purpose}", r.kind.as_str()),
        None => r.kind.as_str().into(),
    }
}

fn print_processor(v: &Value) {
    typed(v, |p: &ProcessorView| {
        let r = &p.processor;
        println!("processor {} — {} <{}>", r.processor_id, r.name, r.contact_email.as_str());
        println!("processes: {}", r.processes);
        let purposes: Vec<&str> = r.purposes.iter().map(|p| p.as_str()).collect();
        println!(
            "for: {}; processing agreement of {}",
            if purposes.is_empty() { "—".into() } else { purposes.join(", ") },
            r.agreement_date
        );
        println!("reporting link: {}", p.reporting_url);
        println!("signed reports (Standard Webhooks): POST {}", p.webhook_url);
        if let Some(secret) = &p.webhook_secret {
            println!("webhook key (shown once; give it to the processor): {secret}");
        }
    })
}

fn print_processors(v: &Value) {
    typed(v, |list: &ProcessorList| {
        let rows = list
            .items
            .iter()
            .map(|p| {
                vec![
                    p.processor.processor_id.to_string(),
                    p.processor.name.clone(),
                    p.processor.agreement_date.to_string(),
                    p.reporting_url.clone(),
                ]
            })
            .collect();
        println!("{}", table(rows, &["id", "name", "agreement", "reporting link"]));
    })
}

fn print_endpoint(v: &Value) {
    typed(v, |e: &EndpointView| {
        let d = &e.delivery;
        let state = if e.endpoint.enabled { "enabled" } else { "disabled" };
        println!("endpoint {} ({state}): {}", e.endpoint.endpoint_id, e.endpoint.description);
        println!("  url      {}", e.endpoint.url.as_str());
        println!("  position {}", if d.position.is_empty() { "-" } else { &d.position });
        if e.failing + e.dead > 0 {
            println!("  recent   {} failing, {} given up (`zgoda webhooks deliveries {}`)", e.failing, e.dead, e.endpoint.endpoint_id);
        }
        if let Some(secret) = &e.secret {
            println!("signing secret (shown once; give it to the receiver): {secret}");
        }
    })
}

fn print_endpoints(v: &Value) {
    typed(v, |list: &EndpointList| {
        let rows = list
            .items
            .iter()
            .map(|e| {
                let kinds = if e.endpoint.events.is_empty() {
                    "all".to_owned()
                } else {
                    e.endpoint.events.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
                };
                let state = match (e.endpoint.enabled, e.failing, e.dead) {
                    (false, ..) => "disabled".to_owned(),
                    (true, 0, 0) => "ok".to_owned(),
                    (true, failing, dead) => format!("{failing} failing, {dead} given up"),
                };
                vec![e.endpoint.endpoint_id.to_string(), e.endpoint.description.clone(), e.endpoint.url.as_str().to_owned(), kinds, state]
            })
            .collect();
        println!("{}", table(rows, &["id", "description", "url", "events", "state"]));
    })
}

fn print_deliveries(v: &Value) {
    typed(v, |list: &DeliveryList| {
        let rows = list
            .items
            .iter()
            .map(|d| {
                let answer = d.response_status.map(|s| s.to_string()).or_else(|| d.error.clone()).unwrap_or_default();
                let status = serde_json::to_value(d.status).ok().and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
                vec![d.at.to_rfc3339(), d.change_id.clone(), d.kind.as_str().to_owned(), status, d.attempts.to_string(), answer]
            })
            .collect();
        println!("{}", table(rows, &["at", "change", "kind", "status", "attempts", "answer"]));
    })
}

fn print_changes(v: &Value) {
    typed(v, |page: &ChangePage| {
        let rows = page
            .items
            .iter()
            .map(|c| {
                let ch = &c.change;
                let purpose = ch.purpose.as_ref().map(|p| p.to_string()).unwrap_or_default();
                vec![ch.change_id.clone(), ch.at.to_rfc3339(), ch.kind.as_str().to_owned(), ch.subject_id.to_string(), purpose]
            })
            .collect();
        println!("{}", table(rows, &["change", "at", "kind", "subject", "purpose"]));
        println!("next: --after {}", page.next);
    })
}

fn print_channel(v: &Value) {
    typed(v, |c: &ChannelView| {
        println!("reporting link for {} ({}), generation {}:", c.channel.name, c.channel.channel_id, c.channel.generation);
        println!("{}", c.url);
    })
}

fn print_channels(v: &Value) {
    typed(v, |list: &ChannelList| {
        let rows = list
            .items
            .iter()
            .map(|c| vec![c.channel.channel_id.to_string(), c.channel.name.clone(), c.channel.generation.to_string(), c.url.clone()])
            .collect();
        println!("{}", table(rows, &["id", "holder", "gen", "link"]));
    })
}

fn incident_status(s: IncidentStatus) -> String {
    serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn print_incidents(v: &Value) {
    typed(v, |list: &IncidentList| {
        let rows = list
            .items
            .iter()
            .map(|i| {
                let what: String = i.incident.report.what.chars().take(60).collect();
                vec![
                    i.incident.incident_id.to_string(),
                    time(&i.incident.reported_at),
                    incident_status(i.status),
                    i.incident.channel_name.clone(),
                    what,
                ]
            })
            .collect();
        println!("{}", table(rows, &["id", "reported", "status", "channel", "what"]));
    })
}

fn print_incident(v: &Value) {
    typed(v, |i: &IncidentView| {
        let r = &i.incident.report;
        println!("incident {} — {} (through {})", i.incident.incident_id, incident_status(i.status), i.incident.channel_name);
        println!("reported {} (the detection time of a breach it becomes)", time(&i.incident.reported_at));
        println!("what: {}", r.what);
        println!("when: {}", opt(&r.when));
        println!("data: {}", opt(&r.data));
        println!(
            "noticed by {}; reach them at {}{}",
            r.noticed_by,
            r.contact_email.as_str(),
            r.contact_phone.as_ref().map(|p| format!(", {p}")).unwrap_or_default()
        );
        for e in &i.incident.exchanges {
            let who = match e.from {
                Author::Dpo => "question",
                Author::Reporter => "answer",
            };
            println!("{who} {}: {}", time(&e.at), e.text);
        }
        match &i.incident.triage {
            Some(Triage::NotABreach { reasons, at, by }) => println!("not a personal data breach ({by}, {}): {reasons}", time(at)),
            Some(Triage::Breach { breach_id, at, by }) => println!("registered as breach {breach_id} ({by}, {})", time(at)),
            None => println!("triage: zgoda incidents close ID --reasons …, ask ID \"…\", or breach ID FILE"),
        }
    })
}

fn print_request(v: &Value) {
    typed(v, |r: &RequestView| {
        println!("request {} ({}) from subject {}", r.request_id, request_kind(r), r.subject_id);
        if r.purpose.is_some() {
            println!("closing it done upholds the objection (the purpose stops); refused overrules it (reasons required, mailed)");
        }
        println!("received {}; answered on arrival: {}", time(&r.received_at), r.outcome);
        let overdue = if r.overdue { " — OVERDUE" } else { "" };
        println!("status {}; due {}{overdue} (first due {})", r.status.as_str(), time(&r.due_at), time(&r.first_due_at));
        if let Some(e) = &r.extension {
            println!("extended by {} at {}: {}", e.by, time(&e.at), e.reasons);
        }
        if let Some(c) = &r.closing {
            let by = c.by.as_ref().map_or_else(|| "the person, through their link".to_owned(), ToString::to_string);
            println!(
                "closed as {} by {by} at {}{}",
                c.outcome.as_str(),
                time(&c.at),
                c.reasons.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
            );
        }
    })
}

fn print_erased(v: &Value) {
    typed(v, |e: &ErasureAnswer| match e.status {
        ErasureStatus::AlreadyErased => println!("subject {} was already erased", e.subject_id),
        ErasureStatus::Erased => {
            println!("subject {} erased: personal data deleted; PII-free proofs and a suppression entry kept", e.subject_id)
        }
    })
}

fn print_rectified(v: &Value) {
    typed(v, |r: &Rectified| match r.changed.is_empty() {
        true => println!("subject {}: the values were already so; nothing recorded", r.subject_id),
        false => println!("subject {} rectified: {} (a sealed `rectified` event names them)", r.subject_id, r.changed.join(", ")),
    })
}

fn print_objection(v: &Value) {
    typed(v, |a: &ObjectionAnswer| match a.objection {
        Objection::Stopped { already } => {
            println!("{} for subject {}: stopped for good{}", a.purpose, a.subject_id, if already { " (already)" } else { "" })
        }
        Objection::Restricted { due_at, .. } => println!(
            "{} for subject {}: restricted; decide by {} with `zgoda requests close` (done upholds the objection, refused overrules it)",
            a.purpose,
            a.subject_id,
            time(&due_at)
        ),
    })
}

fn print_restricted(v: &Value) {
    typed(v, |r: &Restriction| match r.already {
        true => println!("subject {}: already restricted (or nothing in use); nothing changed", r.subject_id),
        false => println!("subject {} restricted (only stored, not used) for: {}", r.subject_id, names(&r.purposes)),
    })
}

fn print_lifted(v: &Value) {
    typed(v, |r: &Restriction| match r.already {
        true => println!(
            "subject {}: no restriction to lift (one awaiting an objection's decision is lifted by closing its request)",
            r.subject_id
        ),
        false => println!("subject {}: the person was told why; restriction lifted for: {}", r.subject_id, names(&r.purposes)),
    })
}

fn names(purposes: &[zgoda_domain::ids::PurposeId]) -> String {
    purposes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn print_link(v: &Value) {
    typed(v, |l: &IssuedLink| println!("{}\nvalid until {}", l.url, time(&l.expires_at)));
}

fn print_audience(v: &Value) {
    typed(v, |page: &AudiencePage| {
        let rows = page.items.iter().map(|i| vec![i.email.as_str().to_owned(), i.lang.to_string(), time(&i.given_at)]).collect();
        println!("{}", table(rows, &["email", "lang", "consent given at"]));
        println!("{} subjects; `--csv` adds each one's unsubscribe URL and List-Unsubscribe headers", page.items.len());
    })
}

fn write_csv(v: &Value) -> anyhow::Result<()> {
    let page: AudiencePage =
        zgoda_domain::from_value(v.clone()).map_err(|e| anyhow::anyhow!("the audience does not read ({})", e.field))?;
    let mut w = csv::Writer::from_writer(std::io::stdout());
    w.write_record(["email", "lang", "given_at", "unsubscribe_url", "List-Unsubscribe", "List-Unsubscribe-Post"])?;
    for i in &page.items {
        let given_at = time(&i.given_at);
        let lang = i.lang.to_string();
        w.write_record([
            i.email.as_str(),
            &lang,
            &given_at,
            &i.unsubscribe_url,
            &i.headers.list_unsubscribe,
            &i.headers.list_unsubscribe_post,
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

/// A live progress bar until every recipient is sent or failed.
async fn follow(api: &Api, breach: &str, escalation: &EscalationId, total: u64) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} notices sent ({per_sec}, {eta} left) {msg}").expect("valid template"),
    );
    loop {
        let answer = api.call(reqwest::Method::GET, &format!("/v1/breaches/{breach}/escalations/{escalation}"), None).await?;
        let p: EscalationProgress = serde_json::from_value(answer)?;
        bar.set_position(p.sent + p.failed);
        if p.failed > 0 {
            bar.set_message(format!("{} failed", p.failed));
        }
        if p.pending == 0 {
            bar.finish();
            println!("done at {}: {} sent, {} failed", p.finished_at.as_ref().map(time).unwrap_or_default(), p.sent, p.failed);
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("zgoda: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let api = Api::from_cli(&cli)?;
    let (value, printer): (Value, fn(&Value)) = match &cli.command {
        Command::Records { lang } => {
            let format = if cli.json { "json" } else { "md" };
            print!("{}", api.call_text(reqwest::Method::GET, &format!("/v1/admin/records?lang={lang}&format={format}"), None, None).await?);
            return Ok(());
        }
        Command::Doctor { wait_secs } => return doctor::run(&api, std::time::Duration::from_secs(*wait_secs)).await,
        Command::Forms { command: FormsCommand::Put { file, id } } => {
            let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let id = match id {
                Some(id) => id.clone(),
                None => {
                    file.file_stem().and_then(|s| s.to_str()).context("cannot take a form id from the file name; pass --id")?.to_owned()
                }
            };
            (api.call(reqwest::Method::PUT, &format!("/v1/admin/forms/{id}"), Some(body)).await?, print_form)
        }
        Command::Forms { command: FormsCommand::Get { id } } => {
            (api.call(reqwest::Method::GET, &format!("/v1/admin/forms/{id}"), None).await?, print_form)
        }
        Command::Subjects { command: SubjectsCommand::Erase { email, reason } } => {
            let body = serde_json::to_vec(&serde_json::json!({ "email": email, "reason": reason }))?;
            (api.call(reqwest::Method::POST, "/v1/admin/subjects/erase", Some(body)).await?, print_erased)
        }
        Command::Subjects { command: SubjectsCommand::Rectify { email, form, values } } => {
            let fields: serde_json::Map<String, Value> = values.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
            let body = serde_json::to_vec(&serde_json::json!({ "email": email, "form_id": form, "fields": fields }))?;
            (api.call(reqwest::Method::POST, "/v1/admin/subjects/rectify", Some(body)).await?, print_rectified)
        }
        Command::Subjects { command: SubjectsCommand::Object { email, purpose } } => {
            let body = serde_json::to_vec(&serde_json::json!({ "email": email, "purpose": purpose }))?;
            (api.call(reqwest::Method::POST, "/v1/admin/subjects/object", Some(body)).await?, print_objection)
        }
        Command::Subjects { command: SubjectsCommand::Restrict { email, ground } } => {
            let body = serde_json::to_vec(&serde_json::json!({ "email": email, "ground": ground }))?;
            (api.call(reqwest::Method::POST, "/v1/admin/subjects/restrict", Some(body)).await?, print_restricted)
        }
        Command::Subjects { command: SubjectsCommand::LiftRestriction { email, reasons } } => {
            let body = serde_json::to_vec(&serde_json::json!({ "email": email, "reasons": reasons }))?;
            (api.call(reqwest::Method::POST, "/v1/admin/subjects/lift-restriction", Some(body)).await?, print_lifted)
        }
        Command::Links { command: LinksCommand::Create { email, action, purpose } } => {
            let body = serde_json::to_vec(&serde_json::json!({ "email": email, "action": action, "purpose": purpose }))?;
            (api.call(reqwest::Method::POST, "/v1/admin/links", Some(body)).await?, print_link)
        }
        Command::Audience { command: AudienceCommand::Export { purpose, csv } } => {
            let mut items = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    None => format!("/v1/admin/audiences/{purpose}"),
                    Some(c) => format!("/v1/admin/audiences/{purpose}?cursor={c}"),
                };
                let page = api.call(reqwest::Method::GET, &path, None).await?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            let all = serde_json::json!({ "items": items });
            if *csv {
                write_csv(&all)?;
                return Ok(());
            }
            (all, print_audience)
        }
        Command::Requests { command } => match command {
            RequestsCommand::List { due_within, closed } => {
                let path = match (closed, due_within) {
                    (true, _) => "/v1/admin/requests?status=closed".to_owned(),
                    (false, Some(days)) => format!("/v1/admin/requests?due_within_days={days}"),
                    (false, None) => "/v1/admin/requests".to_owned(),
                };
                (api.call(reqwest::Method::GET, &path, None).await?, print_requests)
            }
            RequestsCommand::Show { id } => {
                (api.call(reqwest::Method::GET, &format!("/v1/admin/requests/{id}"), None).await?, print_request)
            }
            RequestsCommand::Extend { id, months, reasons } => {
                let body = serde_json::to_vec(&serde_json::json!({ "months": months, "reasons": reasons }))?;
                (api.call(reqwest::Method::POST, &format!("/v1/admin/requests/{id}/extend"), Some(body)).await?, print_request)
            }
            RequestsCommand::Close { id, outcome, reasons } => {
                let body = serde_json::to_vec(&serde_json::json!({ "outcome": outcome, "reasons": reasons }))?;
                (api.call(reqwest::Method::POST, &format!("/v1/admin/requests/{id}/close"), Some(body)).await?, print_request)
            }
        },
        Command::Processors { command } => match command {
            ProcessorsCommand::Save { id, name, email, processes, purposes, agreement_date } => {
                let body = serde_json::json!({ "name": name, "contact_email": email, "processes": processes, "purposes": purposes, "agreement_date": agreement_date });
                (
                    api.call(reqwest::Method::PUT, &format!("/v1/admin/processors/{id}"), Some(serde_json::to_vec(&body)?)).await?,
                    print_processor,
                )
            }
            ProcessorsCommand::List => (api.call(reqwest::Method::GET, "/v1/admin/processors", None).await?, print_processors),
            ProcessorsCommand::Show { id } => {
                (api.call(reqwest::Method::GET, &format!("/v1/admin/processors/{id}"), None).await?, print_processor)
            }
            ProcessorsCommand::RotateSecret { id } => {
                (api.call(reqwest::Method::POST, &format!("/v1/admin/processors/{id}/rotate-secret"), None).await?, print_processor)
            }
        },
        Command::Webhooks { command } => match command {
            WebhooksCommand::Add { endpoint_url, description, events, forms, purposes } => {
                let body = serde_json::json!({ "url": endpoint_url, "description": description, "events": events, "forms": forms, "purposes": purposes });
                (api.call(reqwest::Method::POST, "/v1/admin/webhooks", Some(serde_json::to_vec(&body)?)).await?, print_endpoint)
            }
            WebhooksCommand::List => (api.call(reqwest::Method::GET, "/v1/admin/webhooks", None).await?, print_endpoints),
            WebhooksCommand::Disable { id } => {
                (api.call(reqwest::Method::POST, &format!("/v1/admin/webhooks/{id}/disable"), None).await?, print_endpoint)
            }
            WebhooksCommand::Enable { id } => {
                (api.call(reqwest::Method::POST, &format!("/v1/admin/webhooks/{id}/enable"), None).await?, print_endpoint)
            }
            WebhooksCommand::RotateSecret { id } => {
                (api.call(reqwest::Method::POST, &format!("/v1/admin/webhooks/{id}/rotate-secret"), None).await?, print_endpoint)
            }
            WebhooksCommand::Deliveries { id, limit } => (
                api.call(reqwest::Method::GET, &format!("/v1/admin/webhooks/{id}/deliveries?limit={limit}"), None).await?,
                print_deliveries,
            ),
            WebhooksCommand::Redeliver { id, change } => {
                let body = serde_json::to_vec(&serde_json::json!({ "change_id": change }))?;
                (api.call(reqwest::Method::POST, &format!("/v1/admin/webhooks/{id}/redeliver"), Some(body)).await?, print_endpoint)
            }
        },
        Command::Changes { after, limit } => {
            let after = percent_encoding::utf8_percent_encode(after, percent_encoding::NON_ALPHANUMERIC).to_string();
            (api.call(reqwest::Method::GET, &format!("/v1/admin/changes?after={after}&limit={limit}"), None).await?, print_changes)
        }
        Command::ReportingLinks { command } => match command {
            ReportingLinksCommand::Add { id, name, lang } => {
                let body = serde_json::to_vec(&serde_json::json!({ "channel_id": id, "name": name, "lang": lang }))?;
                (api.call(reqwest::Method::POST, "/v1/admin/reporting-links", Some(body)).await?, print_channel)
            }
            ReportingLinksCommand::List => (api.call(reqwest::Method::GET, "/v1/admin/reporting-links", None).await?, print_channels),
            ReportingLinksCommand::Rotate { id } => {
                (api.call(reqwest::Method::POST, &format!("/v1/admin/reporting-links/{id}/rotate"), None).await?, print_channel)
            }
        },
        Command::Incidents { command } => match command {
            IncidentsCommand::List { status } => {
                (api.call(reqwest::Method::GET, &format!("/v1/incidents?status={status}"), None).await?, print_incidents)
            }
            IncidentsCommand::Show { id } => (api.call(reqwest::Method::GET, &format!("/v1/incidents/{id}"), None).await?, print_incident),
            IncidentsCommand::Close { id, reasons } => {
                let body = serde_json::to_vec(&serde_json::json!({ "reasons": reasons }))?;
                (api.call(reqwest::Method::POST, &format!("/v1/incidents/{id}/close"), Some(body)).await?, print_incident)
            }
            IncidentsCommand::Ask { id, question } => {
                let body = serde_json::to_vec(&serde_json::json!({ "question": question }))?;
                (api.call(reqwest::Method::POST, &format!("/v1/incidents/{id}/ask"), Some(body)).await?, print_incident)
            }
            IncidentsCommand::Breach { id, file } => {
                (api.call(reqwest::Method::POST, &format!("/v1/incidents/{id}/breach"), Some(read(file)?)).await?, print_breach)
            }
        },
        Command::Breach { command } => match command {
            BreachCommand::Create { file } => (api.call(reqwest::Method::POST, "/v1/breaches", Some(read(file)?)).await?, print_breach),
            BreachCommand::List { drills } => {
                let path = if *drills { "/v1/breaches?drills=true" } else { "/v1/breaches" };
                (api.call(reqwest::Method::GET, path, None).await?, print_breaches)
            }
            BreachCommand::Show { id } => (api.call(reqwest::Method::GET, &format!("/v1/breaches/{id}"), None).await?, print_breach),
            BreachCommand::Event { id, file } => {
                (api.call(reqwest::Method::POST, &format!("/v1/breaches/{id}/events"), Some(read(file)?)).await?, print_event)
            }
            BreachCommand::Register { lang, format } => {
                let lang: zgoda_domain::lang::Lang = lang.parse().map_err(|_| anyhow::anyhow!("--lang is pl or en"))?;
                let list: BreachList = zgoda_domain::from_value(api.call(reqwest::Method::GET, "/v1/breaches", None).await?)
                    .map_err(|e| anyhow::anyhow!("the register does not read ({})", e.field))?;
                let table = zgoda_domain::register_export::table(&list.items, lang);
                match format.as_str() {
                    "csv" => print!("{}", zgoda_domain::register_export::csv(&table)),
                    "md" => print!("{}", zgoda_domain::register_export::markdown(&table, lang)),
                    other => anyhow::bail!("--format is csv or md, not {other}"),
                }
                return Ok(());
            }
            BreachCommand::Report { id, lang, format } => {
                let text = api
                    .call_text(reqwest::Method::GET, &format!("/v1/breaches/{id}/report?lang={lang}&format={format}"), None, None)
                    .await?;
                print!("{text}");
                return Ok(());
            }
            BreachCommand::Escalate { id, file, idempotency_key, no_wait } => {
                let body = read(file)?;
                let key = idempotency_key.clone().unwrap_or_else(|| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)));
                let text = api.call_text(reqwest::Method::POST, &format!("/v1/breaches/{id}/escalations"), Some(body), Some(&key)).await?;
                if cli.json || *no_wait {
                    println!("{}", serde_json::to_string_pretty(&serde_json::from_str::<Value>(&text)?)?);
                    return Ok(());
                }
                let answer: EscalationStarted = serde_json::from_str(&text)?;
                println!(
                    "escalation {}: {} recipients, {} erased and unreachable",
                    answer.escalation_id, answer.recipients, answer.unreachable_erased
                );
                follow(&api, id, &answer.escalation_id, answer.recipients).await?;
                return Ok(());
            }
        },
        Command::Subjects { command: SubjectsCommand::Lookup { email, subject } } => {
            let body = match subject {
                Some(id) => serde_json::json!({ "subject_id": id }),
                None => serde_json::json!({ "email": email }),
            };
            let body = serde_json::to_vec(&body)?;
            (api.call(reqwest::Method::POST, "/v1/admin/subjects/lookup", Some(body)).await?, print_subject)
        }
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        printer(&value);
    }
    Ok(())
}
