//! `zgoda doctor`: checks a running stack end to end, step by step, each step ✓ or what failed and
//! how to fix it. What the emulator cannot show (IAM, SES's authorization of the identity and the
//! configuration set, the event destination) shows here, against a deployed stack.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zgoda_domain::mail::MailStream;

use crate::Api;

/// The check's own form: one legitimate-interest purpose, no mail to anyone, its posts allowed from the
/// API's own origin. Saving it again is harmless.
const FORM_ID: &str = "zgoda-smoke";

fn form(origin: &str) -> Value {
    json!({
        "name": "zgoda doctor",
        "allowed_origins": [origin],
        "default_lang": "en",
        "fields": [],
        "purposes": [{"id": "smoke_check", "lawful_basis": "legitimate_interest", "required": true,
                      "balancing_note": "The operator checks its own stack; the only address posted is SES's mailbox simulator."}],
        "notify": [],
        "retention_days": 1,
        "notice": {"version": "1", "texts": {"en": "zgoda doctor checks that this stack accepts form posts."}}
    })
}

/// One step's outcome: what it showed, or what failed and what to do.
type Step = Result<String, String>;

fn report(name: &str, step: &Step) -> bool {
    match step {
        Ok(shown) => println!("✓ {name}: {shown}"),
        Err(why) => println!("✗ {name}: {why}"),
    }
    step.is_ok()
}

/// Runs every step; fails when one did.
pub async fn run(api: &Api, wait: Duration) -> anyhow::Result<()> {
    let mut ok = report("health", &health(api).await);
    ok &= report("operator signature", &signed(api).await);
    ok &= report("form post", &form_post(api).await);
    // Each mail stream has its own sender and configuration set, so each is checked.
    for stream in MailStream::ALL.map(MailStream::as_str) {
        let sent = send(api, stream).await;
        ok &= report(&format!("{stream} mail to SES's mailbox simulator"), &sent.clone().map(|(_, shown)| shown));
        if let Ok((run, _)) = sent {
            let events = [("send_event_at", "Send"), ("delivery_event_at", "Delivery")];
            for (field, event_name) in events {
                ok &= report(&format!("its {event_name} event through ses-events"), &event(api, &run, field, wait).await);
            }
        }
    }
    if !ok {
        anyhow::bail!("the stack failed the check (steps marked ✗ above)");
    }
    println!("the stack works end to end");
    Ok(())
}

async fn health(api: &Api) -> Step {
    let url = format!("{}/healthz", api.url);
    match api.http.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(format!("{url} answers {}", r.status().as_u16())),
        Ok(r) => Err(format!("{url} answers {}: the table is not reachable; check the function's logs", r.status().as_u16())),
        Err(e) => Err(format!("{url} does not answer ({e}): check the URL (the stack's ApiUrl output or your PublicUrl domain)")),
    }
}

async fn signed(api: &Api) -> Step {
    let body = serde_json::to_vec(&form(&api.url)).expect("serializes");
    match api.call(reqwest::Method::PUT, &format!("/v1/admin/forms/{FORM_ID}"), Some(body)).await {
        Ok(_) => Ok(format!("a signed request saved the check's form `{FORM_ID}`")),
        Err(e) => Err(format!("{e:#}: put this key id and key in the operators secret (README, \"First keys\")")),
    }
}

async fn form_post(api: &Api) -> Step {
    let url = format!("{}/v1/forms/{FORM_ID}/submissions", api.url);
    let body = json!({"email": zgoda_domain::smoke::SIMULATOR_SUCCESS, "notice_version": "1", "consent": ["smoke_check"]});
    let answer = api.http.post(&url).header("origin", &api.url).header("accept", "application/json").json(&body).send().await;
    match answer {
        Ok(r) if r.status().as_u16() == 201 => Ok("201, recorded".into()),
        Ok(r) => Err(format!("{} {}: check the intake function's logs", r.status().as_u16(), r.text().await.unwrap_or_default())),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

async fn send(api: &Api, stream: &str) -> Result<(String, String), String> {
    match api.call(reqwest::Method::POST, &format!("/v1/admin/smoke?stream={stream}"), None).await {
        Ok(v) => {
            let run = v["run_id"].as_str().unwrap_or_default().to_owned();
            Ok((run.clone(), format!("SES accepted it (message {}, run {run})", v["message_id"].as_str().unwrap_or("?"))))
        }
        Err(e) => Err(format!(
            "{e:#}: SES refused it. Check that the {stream} sender's domain (SenderDomain or NoticeSenderDomain) is a verified \
             SES identity with DKIM in this region, that the account has production access, and that the functions' policies \
             allow ses:SendEmail on the identity and the configuration set (README, \"Deploy\")"
        )),
    }
}

async fn event(api: &Api, run: &str, field: &str, wait: Duration) -> Step {
    let start = Instant::now();
    loop {
        match api.call(reqwest::Method::GET, &format!("/v1/admin/smoke/{run}"), None).await {
            Ok(v) if v[field].is_string() => {
                return Ok(format!("arrived {}", v[field].as_str().unwrap_or_default()));
            }
            Ok(_) if start.elapsed() < wait => tokio::time::sleep(Duration::from_millis(500)).await,
            Ok(_) => {
                return Err(format!(
                    "none within {} s: check the configuration set's event destination, the SNS subscription of ses-events, \
                     its logs, and FeedbackDeadLetterQueue",
                    wait.as_secs()
                ));
            }
            Err(e) => return Err(format!("{e:#}")),
        }
    }
}
