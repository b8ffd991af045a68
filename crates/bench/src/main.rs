//! `zgoda-bench`: the benchmarks `make bench` runs.
//!
//! - crypto (`zgoda-bench crypto`): criterion's link token and seal benchmarks (`crypto.rs`);
//! - cold start: each function binary, exec to first completed invocation against a minimal
//!   Runtime API on loopback, beside a hello-world `lambda_http` binary; then warm invocations and
//!   the process's peak RSS;
//! - request cost: the local stack (optimized) under a closed-loop load, the server's CPU per
//!   request for a link page GET, a health check (one SDK call) and a 1 KB urlencoded form POST,
//!   beside a bare hyper "hello" server;
//! - a minute of mixed traffic: 5xx count, rate, memory first vs last ten seconds;
//! - fan-out: breach notices to 10,000 people, beside the emulator's direct rate (`fanout.rs`).
//!
//! Everything runs on 127.0.0.1 against one emulator that the local stack starts. The figures go
//! to a JSON file that `scripts/bench_report.py` turns into BENCHMARKS.md.

mod cold;
mod crypto;
mod fanout;
mod hello;
mod load;
mod proc;
mod runtime_api;
mod sdk_call;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use zgoda_client::OperatorClient;
use zgoda_domain::keys::SecretKey;

use crate::load::Tail;

#[derive(Parser)]
#[command(name = "zgoda-bench", about = "zgoda's system benchmarks (run by `make bench`)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Criterion's crypto benchmarks beside a raw SHA-256, in rounds.
    Crypto {
        /// Where criterion writes its samples (emptied first); the report reads them there.
        #[arg(long, default_value = "target/criterion")]
        out: PathBuf,
    },
    /// Serve "hello" on a free loopback port (the request-cost baseline); prints the port.
    HelloHttp,
    /// Run as a hello-world `lambda_http` function (the cold-start baseline).
    HelloLambda,
    /// Measure cold starts and request cost; write the figures as JSON.
    Run {
        /// Where the optimized binaries are (zgoda-local and the six functions).
        #[arg(long, default_value = "target/local")]
        bin_dir: PathBuf,
        #[arg(long, default_value = "events")]
        events: PathBuf,
        #[arg(long, default_value = ".venv/bin/python")]
        python: PathBuf,
        #[arg(long, default_value = "target/bench/system.json")]
        out: PathBuf,
        /// Fresh processes per binary (cold starts), one of each binary a round. Fifteen: with five,
        /// two `make bench` runs half an hour apart put links at 1.86× and 2.34× hello's on this
        /// shared machine; a round of all eight binaries takes about a second and a half.
        #[arg(long, default_value_t = 15)]
        runs: usize,
        /// Rounds of load runs, one of each request kind a round.
        #[arg(long, default_value_t = 5)]
        load_runs: usize,
        /// Only one part (to try it alone); the JSON then holds that part only.
        #[arg(long, value_enum, default_value_t = Part::All)]
        only: Part,
        /// People each fan-out mails.
        #[arg(long, default_value_t = 10_000)]
        fanout_recipients: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The baselines run as the functions and the local stack do, on one thread.
    let one_thread = || tokio::runtime::Builder::new_current_thread().enable_all().build();
    match cli.command {
        Command::Crypto { out } => crypto::run(&out),
        Command::HelloHttp => one_thread()?.block_on(hello::http_server()),
        Command::HelloLambda => one_thread()?.block_on(hello::lambda()).map_err(|e| anyhow!(e)),
        Command::Run { bin_dir, events, python, out, runs, load_runs, only, fanout_recipients } => tokio::runtime::Runtime::new()?
            .block_on(run(&bin_dir, &events, &python, &out, Runs { cold: runs, load: load_runs, only, fanout_recipients })),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    All,
    ColdStart,
    RequestCost,
    Fanout,
}

#[derive(Clone, Copy)]
struct Runs {
    cold: usize,
    load: usize,
    only: Part,
    fanout_recipients: usize,
}

/// Invocations after each cold start, for the warm time and the peak memory under load.
const WARM_INVOCATIONS: u64 = 20;
/// Requests per load run (server CPU is read to the nanosecond, so runs can be short).
const HELLO_REQUESTS: u64 = 10_000;
const LINK_GETS: u64 = 10_000;
/// Health checks per load run: each is one DynamoDB call (DescribeTable), so its CPU is what one
/// SDK call costs the server, the unit a form post's cost is made of.
const HEALTH_CHECKS: u64 = 300;
/// What a browser sends with a click on a link (the page then needs no database read).
const BROWSER_LANGUAGES: &str = "pl-PL,pl;q=0.9,en-US;q=0.8,en;q=0.7";
/// Sequential SDK calls of each kind a round, for one call's CPU on its own (`sdk_call.rs`).
const SDK_CALLS: u64 = 1000;
/// The mixed load run's length.
const MIXED_SECONDS: u64 = 60;
/// Form posts per load run: each is a sealed transaction, two rate-limit writes and two mails,
/// which the emulator serves at tens a second.
const FORM_POSTS: u64 = 20;

/// Rate limits and the public mail budget lifted: the load comes from one address and would otherwise be refused; the
/// notifier's send pacing too, so the fan-out measures the notifier, not the SES quota.
const UNLIMITED: [(&str, &str); 5] = [
    ("ZGODA_RATE_NETWORK", "1000000000"),
    ("ZGODA_RATE_SUBJECT", "1000000000"),
    ("ZGODA_PUBLIC_MAIL_PER_HOUR", "1000000000"),
    ("ZGODA_RATE_PRIVACY", "1000000000"),
    ("ZGODA_SEND_RATE", "1000000"),
];

async fn run(bin_dir: &Path, events: &Path, python: &Path, out: &Path, runs: Runs) -> anyhow::Result<()> {
    let dir = out.parent().context("--out has no directory")?;
    std::fs::create_dir_all(dir)?;
    let env_file = dir.join("local.env");
    let _ = std::fs::remove_file(&env_file);
    let stack = tokio::process::Command::new(bin_dir.join("zgoda-local"))
        .arg("--python")
        .arg(python)
        .args(["run", "--no-notifier", "--port", "0", "--env-file"])
        .arg(&env_file)
        .envs(UNLIMITED)
        .env("RUST_LOG", "warn")
        // Its log (warnings and errors: a 5xx names its failed dependency there), for a look after the run.
        .stdout(std::fs::File::create(dir.join("stack.log"))?)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting zgoda-local (release)")?;
    let stack_pid = stack.id().context("no pid")?;
    // The notifier runs as its own process, started by the fan-out (which kills it too).
    let notifier = fanout::NotifierCommand {
        program: bin_dir.join("zgoda-local"),
        python: python.to_owned(),
        env_file: env_file.clone(),
        log: dir.join("notifier.log"),
    };
    let _ = std::fs::remove_file(&notifier.log);
    let result = measure_all(bin_dir, events, &env_file, stack_pid, &notifier, &dir.join("sdk-call.perf"), runs).await;
    // Ctrl-C lets the local stack stop its emulator too.
    let _ = tokio::process::Command::new("kill").args(["-INT", &stack_pid.to_string()]).status().await;
    let _ = tokio::time::timeout(Duration::from_secs(15), stack.wait_with_output()).await;
    let figures = result?;
    std::fs::write(out, serde_json::to_vec_pretty(&figures)?)?;
    println!("wrote {}", out.display());
    Ok(())
}

async fn measure_all(
    bin_dir: &Path,
    events: &Path,
    env_file: &Path,
    stack_pid: u32,
    notifier: &fanout::NotifierCommand,
    profile_out: &Path,
    runs: Runs,
) -> anyhow::Result<serde_json::Value> {
    let vars = wait_for_stack(env_file).await?;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    if runs.only == Part::Fanout {
        return Ok(json!({"fanout": fanout::measure(&client, &vars, notifier, runs.fanout_recipients).await?}));
    }
    let url = vars.get("ZGODA_URL").context("no ZGODA_URL")?.clone();
    let mut function_env: Vec<(String, String)> =
        ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION", "ZGODA_TABLE", "ZGODA_SECRETS_PREFIX", "ZGODA_QUEUE_URL"]
            .iter()
            .map(|k| Ok((k.to_string(), vars.get(*k).with_context(|| format!("{k} missing from the env file"))?.clone())))
            .collect::<anyhow::Result<_>>()?;
    function_env.extend(
        [
            ("ZGODA_SENDER", "zgoda@sklep.example.pl"),
            ("ZGODA_PUBLIC_URL", url.as_str()),
            ("ZGODA_CONTROLLER_NAME", "Sklep Przykładowy sp. z o.o."),
            ("ZGODA_CONTROLLER_ADDRESS", "ul. Przykładowa 1, 00-001 Warszawa"),
            ("ZGODA_CONTROLLER_EMAIL", "kontakt@sklep.example.pl"),
            ("ZGODA_CONTROLLER_POLICY_URL", "https://sklep.example.pl/polityka-prywatnosci"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .chain(UNLIMITED)
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );

    let me = std::env::current_exe()?;
    let target = |name: &str, program: PathBuf, args: &[&str], event: &str| cold::Target {
        name: name.to_owned(),
        program,
        args: args.iter().map(|a| a.to_string()).collect(),
        event: events.join(event),
        vary: None,
    };
    let targets = [
        target("hello (lambda_http)", me.clone(), &["hello-lambda"], "links/privacy-page.json"),
        // Each warm submission comes from another person, as in production; one subject's chain
        // growing by a hundred events would measure the emulator's copying instead.
        cold::Target {
            vary: Some("anna.nowak@example.pl".into()),
            ..target("intake", bin_dir.join("intake"), &[], "intake/submission-json.json")
        },
        target("operator", bin_dir.join("operator"), &[], "operator/get-form-unsigned.json"),
        target("links", bin_dir.join("links"), &[], "links/privacy-page.json"),
        target("notifier", bin_dir.join("notifier"), &[], "notifier/sqs-batch.json"),
        target("deadline-watch", bin_dir.join("deadline-watch"), &[], "deadline-watch/schedule.json"),
        target("retention-sweep", bin_dir.join("retention-sweep"), &[], "retention-sweep/schedule.json"),
        target("ses-events", bin_dir.join("ses-events"), &[], "ses-events/delivery.json"),
    ];
    let cold_targets = if runs.only == Part::RequestCost { &[][..] } else { &targets[..] };
    let cold = cold::measure_rounds(cold_targets, &function_env, runs.cold, WARM_INVOCATIONS).await?;
    if runs.only == Part::ColdStart {
        return Ok(json!({"cold_start": cold}));
    }

    // In rounds, each a run of every request kind with the hello baseline first: on a shared
    // machine the speed drifts over a minute by more than a target's margin, so each ratio compares
    // runs taken seconds apart, and the report takes the median round's.
    let (mut hello, hello_port) = start_hello(&me).await?;
    let hello_pid = hello.id().context("no pid")?;
    let hello_url = format!("http://127.0.0.1:{hello_port}/");
    let link = unsubscribe_link(&client, &url, &vars).await?;
    let health = format!("{url}/healthz");
    let submissions = format!("{url}/v1/forms/demo/submissions");
    let (mut hello_runs, mut get_runs, mut health_runs, mut post_runs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut post_calls = BTreeMap::<String, u64>::new();
    for round in 0..runs.load {
        eprintln!("request cost: round {} of {}", round + 1, runs.load);
        hello_runs.push(load::drive(hello_pid, HELLO_REQUESTS, 8, Tail::None, |_| client.get(&hello_url)).await?);
        get_runs.push(
            load::drive(stack_pid, LINK_GETS, 8, Tail::None, |_| client.get(&link).header("accept-language", BROWSER_LANGUAGES)).await?,
        );
        health_runs.push(load::drive(stack_pid, HEALTH_CHECKS, 8, Tail::None, |_| client.get(&health)).await?);
        // Last in the round: its mails' SES events are handled before the next round begins.
        let calls_before = emulator_calls(&client, &vars).await?;
        post_runs.push(
            load::drive(stack_pid, FORM_POSTS, 8, Tail::UntilIdle, |i| {
                client
                    .post(&submissions)
                    .header("origin", &url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_body(round as u64 * 1_000_000 + i))
            })
            .await?,
        );
        for (operation, after) in emulator_calls(&client, &vars).await? {
            *post_calls.entry(operation.clone()).or_default() += after - calls_before.get(&operation).copied().unwrap_or(0);
        }
    }
    let hello_rss = proc::peak_rss_kib(hello_pid)?;
    hello.kill().await.ok();
    post_calls.retain(|_, n| *n > 0);
    eprintln!("sdk call: {SDK_CALLS} calls of each kind, {} rounds", runs.load);
    let sdk_call = sdk_call::measure(&vars, SDK_CALLS, runs.load, profile_out).await?;
    let request_cost = json!({
        "hello": hello_runs, "link_get": get_runs, "health": health_runs, "form_post": post_runs,
        "form_post_calls": {"posts": runs.load as u64 * FORM_POSTS, "by_operation": post_calls},
        "sdk_call": sdk_call,
    });
    if runs.only == Part::RequestCost {
        return Ok(json!({"request_cost": request_cost}));
    }
    eprintln!("mixed load: {MIXED_SECONDS} s");
    let mixed = mixed_load(&client, &url, &link, &vars, stack_pid).await?;
    // A fan-out that breaks is reported as such; the figures before it still count.
    let fanout = match fanout::measure(&client, &vars, notifier, runs.fanout_recipients).await {
        Ok(f) => serde_json::to_value(f)?,
        Err(e) => json!({"error": format!("{e:#}")}),
    };
    Ok(json!({
        "fanout": fanout,
        "mixed_load": mixed,
        "cold_start": cold,
        "request_cost": request_cost,
        "peak_rss_kib": {"local_stack": proc::peak_rss_kib(stack_pid)?, "hello_http": hello_rss},
    }))
}

/// Issue "Hostile input": a minute of mixed traffic — form posts, link pages and one-click posts,
/// signed operator reads — with zero 5xx and flat memory expected.
async fn mixed_load(
    client: &reqwest::Client,
    url: &str,
    link: &str,
    vars: &BTreeMap<String, String>,
    stack_pid: u32,
) -> anyhow::Result<load::Mixed> {
    let key = SecretKey::from_hex(vars.get("ZGODA_OPERATOR_KEY").context("no operator key")?).map_err(|e| anyhow!("{e:?}"))?;
    let operator = OperatorClient::new(url, vars.get("ZGODA_OPERATOR_KID").context("no operator kid")?, key, client.clone());
    let submissions = format!("{url}/v1/forms/demo/submissions");
    load::mixed(stack_pid, MIXED_SECONDS, 8, |i| match i % 10 {
        0..=2 => client
            .post(&submissions)
            .header("origin", url)
            .json(&json!({"email": format!("mixed{i}@klient.example.pl"), "consent": ["contact_reply"], "notice_version": "2026-11"})),
        3..=6 => client.get(link).header("accept-language", BROWSER_LANGUAGES),
        7 => client.post(link).header("content-type", "application/x-www-form-urlencoded").body("List-Unsubscribe=One-Click"),
        _ => {
            // A query of its own makes each signature distinct, so none is refused as a replay.
            operator.request(reqwest::Method::GET, &format!("/v1/admin/forms/demo?n={i}"), Vec::new(), None)
        }
    })
    .await
}

/// The calls the emulator has answered so far, by operation, over its two processes (DynamoDB's
/// and the other services'), as `emulator.py` counts them.
pub(crate) async fn emulator_calls(client: &reqwest::Client, vars: &BTreeMap<String, String>) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut calls = BTreeMap::new();
    // One process may serve both (a set, so it is read once).
    let urls: std::collections::BTreeSet<&String> = ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
        .iter()
        .map(|endpoint| vars.get(*endpoint).with_context(|| format!("{endpoint} missing from the env file")))
        .collect::<anyhow::Result<_>>()?;
    for url in urls {
        let counts: BTreeMap<String, u64> = client.get(format!("{url}/_zgoda/calls")).send().await?.error_for_status()?.json().await?;
        for (operation, n) in counts {
            *calls.entry(operation).or_default() += n;
        }
    }
    Ok(calls)
}

/// Waits until the local stack has written its env file and answers its health check.
async fn wait_for_stack(env_file: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(text) = std::fs::read_to_string(env_file) {
            let vars: BTreeMap<String, String> =
                text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            if let Some(url) = vars.get("ZGODA_URL")
                && reqwest::get(format!("{url}/healthz")).await.is_ok_and(|r| r.status().is_success())
            {
                return Ok(vars);
            }
        }
        if Instant::now() > deadline {
            bail!("the local stack did not come up (env file {})", env_file.display());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn start_hello(me: &Path) -> anyhow::Result<(tokio::process::Child, u16)> {
    let mut child =
        tokio::process::Command::new(me).arg("hello-http").stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true).spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let line = tokio::io::BufReader::new(stdout).lines().next_line().await?.context("hello-http printed no port")?;
    Ok((child, line.trim().parse()?))
}

/// A subscriber through the demo form, and an unsubscribe link for them from the operator API.
async fn unsubscribe_link(client: &reqwest::Client, url: &str, vars: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let email = "bench@klient.example.pl";
    let submit = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    let resp = client.post(format!("{url}/v1/forms/demo/submissions")).header("origin", url).json(&submit).send().await?;
    if !resp.status().is_success() {
        bail!("seeding a subscriber: {}", resp.status());
    }
    let path = "/v1/admin/links";
    let body = serde_json::to_vec(&json!({"email": email, "action": "unsubscribe", "purpose": "newsletter"}))?;
    let key = SecretKey::from_hex(vars.get("ZGODA_OPERATOR_KEY").context("no operator key")?).map_err(|e| anyhow!("{e:?}"))?;
    let operator = OperatorClient::new(url, vars.get("ZGODA_OPERATOR_KID").context("no operator kid")?, key, client.clone());
    let resp = operator.request(reqwest::Method::POST, path, body, None).send().await?;
    let answer: serde_json::Value = resp.json().await?;
    Ok(answer["url"].as_str().with_context(|| format!("no link in {answer}"))?.to_owned())
}

/// About 1 KB of urlencoded form: a distinct address each time, consent, a name and a message.
fn form_body(i: u64) -> String {
    let message = "Dzien dobry, prosze o kontakt w sprawie zamowienia. ".repeat(17);
    format!(
        "email=load{i}%40klient.example.pl&consent=contact_reply&notice_version=2026-11&name=Jan+Kowalski&message={}&_gotcha=",
        message.replace(' ', "+")
    )
}
