//! `zgoda-local`: `run` starts the emulator, provisions it, seeds the demo form and serves every
//! route on loopback; `notifier` runs the notifier alone against a running stack (a process the
//! benchmarks can kill), `webhooks` webhook delivery (a process the tests kill); `with-emulator
//! -- CMD` runs a command (the test suite) beside one emulator.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use zgoda_aws::{Clients, Config, LocalEndpoints, Senders, Sending};
use zgoda_domain::mail::MailStream;
use zgoda_domain::origin::PublicUrl;
use zgoda_local::emulator::{Emulator, free_port};
use zgoda_local::server::{Apps, Local, serve};
use zgoda_local::{REGION, envfile, provision};

#[derive(Parser)]
#[command(name = "zgoda-local", about = "zgoda's local stack on loopback")]
struct Cli {
    /// The Python of the project's venv, which runs the emulator (moto server).
    #[arg(long, global = true, default_value = ".venv/bin/python")]
    python: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the emulator and the whole backend, seed the demo form, and serve until Ctrl-C.
    Run {
        /// Port on 127.0.0.1; a free one is chosen when it is taken.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where to write the environment for the CLI and tests.
        #[arg(long, default_value = ".zgoda/local.env")]
        env_file: PathBuf,
        /// Leave the notice queue to a separate `zgoda-local notifier` process.
        #[arg(long)]
        no_notifier: bool,
    },
    /// Run the notifier alone against the stack `run` started (found through its env file), until
    /// killed: as a Lambda would, it may die at any point and a new one picks up the queue.
    Notifier {
        #[arg(long, default_value = ".zgoda/local.env")]
        env_file: PathBuf,
    },
    /// Run webhook delivery alone against the stack `run` started (found through its env file),
    /// every second, until killed: the leases let it run beside `run`'s own worker, and a worker
    /// killed mid-batch is taken over once its lease lapses.
    Webhooks {
        #[arg(long, default_value = ".zgoda/local.env")]
        env_file: PathBuf,
    },
    /// Run a command with AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_DYNAMODB) pointing at a fresh
    /// emulator, then stop it.
    WithEmulator {
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

// One thread, as each function runs in Lambda (its `main.rs`): the local stack stands for them,
// and `make bench` measures its CPU per request.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { port, env_file, no_notifier } => run(&cli.python, port, &env_file, !no_notifier).await,
        Command::Notifier { env_file } => notifier(&env_file).await,
        Command::Webhooks { env_file } => webhooks(&env_file).await,
        Command::WithEmulator { command } => {
            let emulator = Emulator::start(&cli.python).await?;
            let status = tokio::process::Command::new(&command[0])
                .args(&command[1..])
                .envs(emulator.endpoints.env_vars())
                .env("AWS_REGION", REGION)
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .status()
                .await
                .with_context(|| format!("running {}", command[0]))?;
            emulator.stop().await;
            std::process::exit(status.code().unwrap_or(1));
        }
    }
}

/// The notifier's send pacing, as the Lambda reads it (`ZGODA_SEND_RATE`; a benchmark lifts it to
/// measure the notifier rather than the pacing).
fn send_rate() -> u32 {
    std::env::var("ZGODA_SEND_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(50)
}

async fn run(python: &std::path::Path, port: u16, env_file: &std::path::Path, with_notifier: bool) -> anyhow::Result<()> {
    zgoda_web::telemetry::init();
    let emulator = Emulator::start(python).await?;
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", free_port()?)).await?,
    };
    let url = format!("http://{}", listener.local_addr()?);
    let mut config = Config {
        table: "zgoda-local".into(),
        secrets_prefix: "zgoda-local/".into(),
        mail: Senders {
            public: Sending { from: zgoda_local::SENDER.into(), configuration_set: None },
            notices: Sending { from: zgoda_local::NOTICE_SENDER.into(), configuration_set: None },
        },
        queue_url: String::new(),
        webhook_queue_url: String::new(),
        webhook_dead_letter_url: String::new(),
        settings: zgoda_aws::config::settings_from_env(PublicUrl::parse(&url).context("the local URL")?, zgoda_local::demo_controller())?,
    };
    zgoda_local::webhooks_loop::local_settings(&mut config.settings);
    let clients = Clients::local(&emulator.endpoints, REGION).await;
    let operator = provision::provision(&clients, &mut config, provision::VISIBILITY_SECS).await?;
    let apps = Apps::build(&config, &emulator.endpoints, REGION).await.map_err(anyhow::Error::msg)?;
    provision::seed_demo(&apps.operator, chrono::Utc::now()).await?;

    let mut vars = envfile::stack_vars(&url, &config, &emulator.endpoints);
    vars.extend([("ZGODA_OPERATOR_KID".to_owned(), operator.kid.clone()), ("ZGODA_OPERATOR_KEY".to_owned(), operator.key_hex.clone())]);
    envfile::write(env_file, &vars)?;
    let local = Arc::new(Local { apps, emulator: Some(emulator.endpoints.other.clone()) });
    let server = tokio::spawn(serve(listener, local.clone()));
    // The same notifier the Lambda runs, fed from the emulator's queue.
    let notifier = with_notifier.then(|| zgoda_local::notifier_loop::spawn(local.clone(), (*clients.sqs).clone(), send_rate()));
    // SES's events (the emulator's Send events) to the ses-events handler, as SNS would hand them.
    let sets = MailStream::ALL.iter().filter_map(|m| config.mail.of(*m).configuration_set.clone()).collect();
    let ses_events = zgoda_local::ses_events_loop::spawn(local.clone(), (*clients.sqs).clone(), sets);
    // Webhook delivery, the deadline watch and the storage-limitation sweep, as their schedules
    // would run them.
    let webhooks = zgoda_local::webhooks_loop::spawn(local.clone());
    let schedules = zgoda_local::schedules::spawn(local);

    println!(
        "\nzgoda is running on {url}\n\n  demo form     {url}/dev/form\n  mailbox       {url}/dev/mailbox\n  console       {url}/console (sign in with the operator key below)\n  health        {url}/healthz\n  emulator      {} (DynamoDB {})\n\n  operator key  kid={} key={}\n  (written to {}; the CLI reads it)\n\n  try:          {cli} forms get demo\n                {cli} subjects lookup you@example.pl\n\nCtrl-C stops everything.\n",
        emulator.endpoints.other,
        emulator.endpoints.dynamodb,
        operator.kid,
        operator.key_hex,
        env_file.display(),
        cli = cli_path(),
    );
    tokio::signal::ctrl_c().await?;
    server.abort();
    ses_events.abort();
    schedules.abort();
    webhooks.abort();
    if let Some(n) = notifier {
        n.abort();
    }
    emulator.stop().await;
    println!("stopped");
    Ok(())
}

/// The operator CLI beside this binary (one `make` build makes both), as a path to type from here.
fn cli_path() -> String {
    let Ok(cli) = std::env::current_exe().map(|exe| exe.with_file_name("zgoda")) else { return "zgoda".into() };
    let here = std::env::current_dir().unwrap_or_default();
    cli.strip_prefix(&here).unwrap_or(&cli).display().to_string()
}

async fn notifier(env_file: &std::path::Path) -> anyhow::Result<()> {
    zgoda_web::telemetry::init();
    let (local, clients) = join(env_file, |_| {}).await?;
    zgoda_local::notifier_loop::spawn(local, (*clients.sqs).clone(), send_rate()).await?;
    Ok(())
}

async fn webhooks(env_file: &std::path::Path) -> anyhow::Result<()> {
    zgoda_web::telemetry::init();
    let (local, _) = join(env_file, zgoda_local::webhooks_loop::local_settings).await?;
    zgoda_local::webhooks_loop::spawn(local).await?;
    Ok(())
}

/// The apps of the stack an env file describes (`envfile::stack_vars`), with `adjust` applied to
/// the settings, and clients to its emulator.
async fn join(env_file: &std::path::Path, adjust: impl FnOnce(&mut zgoda_domain::Settings)) -> anyhow::Result<(Arc<Local>, Clients)> {
    let vars = envfile::read(env_file).with_context(|| format!("reading {} (is `zgoda-local run` up?)", env_file.display()))?;
    let var = |k: &str| vars.get(k).cloned().with_context(|| format!("{k} missing from {}", env_file.display()));
    let set = |k: &str| vars.get(k).filter(|c| !c.is_empty()).cloned();
    let mut config = Config {
        table: var("ZGODA_TABLE")?,
        secrets_prefix: var("ZGODA_SECRETS_PREFIX")?,
        mail: Senders {
            public: Sending { from: zgoda_local::SENDER.into(), configuration_set: set("ZGODA_SES_CONFIGURATION_SET") },
            notices: Sending { from: zgoda_local::NOTICE_SENDER.into(), configuration_set: set("ZGODA_SES_NOTICE_CONFIGURATION_SET") },
        },
        queue_url: var("ZGODA_QUEUE_URL")?,
        webhook_queue_url: var("ZGODA_WEBHOOK_QUEUE_URL")?,
        webhook_dead_letter_url: var("ZGODA_WEBHOOK_DEAD_LETTER_URL")?,
        settings: zgoda_aws::config::settings_from_env(
            PublicUrl::parse(&var("ZGODA_URL")?).context("ZGODA_URL is not a clean URL")?,
            zgoda_local::demo_controller(),
        )?,
    };
    let endpoints = LocalEndpoints::from_vars(|k| vars.get(k).cloned())
        .with_context(|| format!("{} missing from {}", LocalEndpoints::OTHER_VAR, env_file.display()))?;
    adjust(&mut config.settings);
    let clients = Clients::local(&endpoints, REGION).await;
    let apps = Apps::build(&config, &endpoints, REGION).await.map_err(anyhow::Error::msg)?;
    Ok((Arc::new(Local { apps, emulator: Some(endpoints.other) }), clients))
}
