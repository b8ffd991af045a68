//! What one SDK call costs on its own: sequential calls to the emulator from a client built with
//! the functions' own SDK configuration (`zgoda_aws::sdk_defaults`), this process's CPU per call,
//! with no HTTP server around it (the health check's figure adds the server's side). With `perf`
//! on the machine, a separate pass of the same calls is sampled, for the profile by layer that
//! `scripts/bench_report.py` makes of it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::proc;

#[derive(Debug, Serialize)]
pub struct SdkCalls {
    /// CPU per call of each kind (µs), the median of the rounds.
    pub cpu_us_per_call: BTreeMap<&'static str, Vec<f64>>,
    pub calls_per_round: u64,
    /// Where `perf` wrote its samples of the GetItem pass, if it ran.
    pub profile: Option<String>,
}

const WARM_UP: u64 = 100;

/// The calls on the bench's own multi-thread runtime, then on a current-thread runtime of their
/// own (as the functions run: a Lambda instance serves one event at a time).
pub async fn measure(vars: &BTreeMap<String, String>, calls: u64, rounds: usize, profile_out: &Path) -> anyhow::Result<SdkCalls> {
    let multi = measure_here(vars, calls, rounds, None).await?;
    let (vars, profile_out) = (vars.clone(), profile_out.to_owned());
    let single = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(measure_here(&vars, calls, rounds, Some(&profile_out)))
    })
    .await??;
    let mut cpu_us_per_call = single.cpu_us_per_call;
    cpu_us_per_call.extend(
        multi
            .cpu_us_per_call
            .into_iter()
            .map(|(kind, v)| (if kind == "get_item" { "get_item_multi_thread" } else { "describe_table_multi_thread" }, v)),
    );
    Ok(SdkCalls { cpu_us_per_call, ..single })
}

async fn measure_here(vars: &BTreeMap<String, String>, calls: u64, rounds: usize, profile_out: Option<&Path>) -> anyhow::Result<SdkCalls> {
    let endpoint = vars.get("AWS_ENDPOINT_URL_DYNAMODB").context("no AWS_ENDPOINT_URL_DYNAMODB")?;
    let table = vars.get("ZGODA_TABLE").context("no ZGODA_TABLE")?.clone();
    let region = vars.get("AWS_REGION").context("no AWS_REGION")?.clone();
    let sdk = zgoda_aws::sdk_defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_credential_types::Credentials::new("local", "local", None, None, "zgoda-bench"))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let get_item = || {
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("FORM#demo".into()))
            .key("sk", AttributeValue::S("CONFIG".into()))
            .send()
    };
    let describe = || client.describe_table().table_name(&table).send();
    for _ in 0..WARM_UP {
        get_item().await?;
        describe().await?;
    }
    let me = std::process::id();
    let mut cpu_us_per_call: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for _ in 0..rounds {
        let before = proc::cpu_time(me)?;
        for _ in 0..calls {
            get_item().await?;
        }
        cpu_us_per_call.entry("get_item").or_default().push((proc::cpu_time(me)? - before).as_secs_f64() * 1e6 / calls as f64);
        let before = proc::cpu_time(me)?;
        for _ in 0..calls {
            describe().await?;
        }
        cpu_us_per_call.entry("describe_table").or_default().push((proc::cpu_time(me)? - before).as_secs_f64() * 1e6 / calls as f64);
    }

    let Some(profile_out) = profile_out else {
        return Ok(SdkCalls { cpu_us_per_call, calls_per_round: calls, profile: None });
    };
    let profile = match tokio::process::Command::new("perf")
        .args(["record", "--quiet", "-F", "2999", "-o"])
        .arg(profile_out)
        .args(["-p", &me.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Err(_) => None,
        Ok(mut perf) => {
            // perf needs a moment to attach before the calls it should see.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let started = Instant::now();
            for _ in 0..calls {
                get_item().await?;
            }
            let _ = tokio::process::Command::new("kill").args(["-INT", &perf.id().context("perf has no pid")?.to_string()]).status().await;
            // perf ends with the signal's status; what it wrote says whether it worked.
            perf.wait().await?;
            eprintln!("sdk call: profiled {calls} calls in {:.1} s", started.elapsed().as_secs_f64());
            std::fs::metadata(profile_out).is_ok_and(|m| m.len() > 0).then(|| profile_out.display().to_string())
        }
    };
    Ok(SdkCalls { cpu_us_per_call, calls_per_round: calls, profile })
}
