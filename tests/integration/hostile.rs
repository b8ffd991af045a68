//! The hostile-request corpus: `tests/hostile/cases.json` (single cases) and
//! `tests/hostile/matrix.json` (families expanded over their vars). Every case is refused with
//! its status and code, writes nothing, sends no mail, does not redirect, and never echoes the
//! address it carried, in the response or in any log line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use zgoda_domain::ids::PurposeId;
use zgoda_domain::keys::{KeyRing, SecretKey};
use zgoda_domain::operator_sig;
use zgoda_domain::token::{self, LinkAction, LinkClaims};
use zgoda_tests::{TestEnv, address, all_mails, captured_logs, contact_form};

/// One request of the corpus, before the per-run placeholders are filled in.
struct Case {
    id: String,
    rule: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
    code: Option<String>,
    /// How to sign it as an operator (see matrix.json's `about`); `None` for no signature.
    sign: Option<String>,
}

fn corpus_file(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hostile").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn case_from(id: String, v: &Value, fill: &dyn Fn(&str) -> String) -> Case {
    let text = |k: &str| fill(v[k].as_str().unwrap_or(""));
    Case {
        id,
        rule: v["rule"].as_str().unwrap().to_owned(),
        method: text("method"),
        path: text("path"),
        headers: v["headers"].as_object().unwrap().iter().map(|(k, h)| (k.clone(), fill(h.as_str().unwrap()))).collect(),
        body: text("body"),
        status: v["status"].as_u64().unwrap() as u16,
        code: v["code"].as_str().map(str::to_owned),
        sign: v["sign"].as_str().map(fill),
    }
}

/// Every case: the single ones, then each family once per combination of its vars.
fn corpus() -> Vec<Case> {
    let mut cases: Vec<Case> = corpus_file("cases.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| case_from(c["id"].as_str().unwrap().to_owned(), c, &|s| s.to_owned()))
        .collect();
    for family in corpus_file("matrix.json")["families"].as_array().unwrap() {
        let format = family["format"].as_str().unwrap();
        let vars: Vec<(String, Vec<String>)> = family["vars"]
            .as_object()
            .map(|o| {
                o.iter().map(|(k, v)| (k.clone(), v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect())).collect()
            })
            .unwrap_or_default();
        let mut combos: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
        for (name, values) in &vars {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(name.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        for (i, combo) in combos.iter().enumerate() {
            let fill = |s: &str| {
                combo.iter().fold(s.to_owned(), |acc, (k, v)| {
                    acc.replace(&format!("{{token|v:{k}}}"), &format!("{{token|{v}}}")).replace(&format!("{{v:{k}}}"), &encode(v, format))
                })
            };
            cases.push(case_from(format!("{}-{}", family["id"].as_str().unwrap(), i + 1), family, &fill));
        }
    }
    cases
}

/// A var as it goes into a body of the family's format.
fn encode(value: &str, format: &str) -> String {
    match format {
        "json" => {
            let quoted = serde_json::to_string(value).unwrap();
            quoted[1..quoted.len() - 1].to_owned()
        }
        "form" => value
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect(),
        _ => value.to_owned(),
    }
}

/// A valid token spoiled as `spec` says (see matrix.json's `about`).
fn mutate(token: &str, spec: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    let at = |n: i64| if n < 0 { (chars.len() as i64 + n) as usize } else { n as usize };
    match spec.split_once(':') {
        Some(("flip", n)) => {
            let mut c = chars.clone();
            let i = at(n.parse().unwrap());
            c[i] = if c[i] == 'A' { 'B' } else { 'A' };
            c.into_iter().collect()
        }
        Some(("cut", n)) => {
            let n: i64 = n.parse().unwrap();
            let keep = if n < 0 { at(n) } else { n as usize };
            chars[..keep].iter().collect()
        }
        Some(("append", x)) => format!("{token}{x}"),
        _ => match spec {
            "upper" => token.to_uppercase(),
            "lower" => token.to_lowercase(),
            "pad" => format!("{token}=="),
            "double" => format!("{token}{token}"),
            other => panic!("unknown token mutation {other}"),
        },
    }
}

/// The Authorization header for a case: correct, or made over something else, or spoiled.
fn operator_signature(env: &TestEnv, case: &Case, spec: &str) -> String {
    let (mut method, mut path, mut body, mut kid) = (case.method.clone(), case.path.clone(), case.body.clone(), env.operator.kid.clone());
    let mut ts = env.next_ts();
    let mut spoil = None;
    if let Some((what, value)) = spec.split_once(':') {
        match what {
            "method" => method = value.to_owned(),
            "path" => path = value.to_owned(),
            "body" => body = value.to_owned(),
            "ts" => ts += value.parse::<i64>().unwrap(),
            "kid" => kid = value.to_owned(),
            "mutate" => spoil = Some(value),
            other => panic!("unknown signature spec {other}"),
        }
    }
    let key = SecretKey::from_hex(&env.operator.key_hex).unwrap();
    let header = operator_sig::authorization(&kid, &key, ts, &operator_sig::SignedRequest::to(&method, &env.url, &path, body.as_bytes()));
    let (head, sig) = header.rsplit_once("sig=").unwrap();
    match spoil {
        None => header,
        Some("upper_sig") => format!("{head}sig={}", sig.to_uppercase()),
        Some("truncate_sig") => format!("{head}sig={}", &sig[..sig.len() - 2]),
        Some("lower_scheme") => header.to_lowercase(),
        Some("drop_ts") => header.replace(&format!("ts={ts}, "), ""),
        Some("empty_sig") => format!("{head}sig="),
        Some("double_kid") => header.replace("kid=", "kid=x, kid="),
        Some(other) => panic!("unknown signature mutation {other}"),
    }
}

/// The tokens the corpus spoils: a valid unsubscribe link of a known subject, one expired, one
/// under a key id the app does not have.
async fn tokens(env: &TestEnv) -> (String, String, String) {
    let known = address("known");
    let body = json!({"email": known, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let link =
        env.operator("POST", "/v1/admin/links", Some(&json!({"email": known, "action": "unsubscribe", "purpose": "newsletter"}))).await;
    let url = link.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    let valid = url.rsplit_once("/v1/links/").unwrap().1.to_owned();
    let subject = env.subject_id(&known).await;
    let claims = |expires| LinkClaims::new(LinkAction::Unsubscribe, subject.clone(), PurposeId::parse("newsletter"), None, expires);
    let expired = env.token(&claims(Utc::now() - Duration::minutes(1))).await;
    let intruder = KeyRing::single("intruder", SecretKey::new(vec![7; 32]));
    let foreign = token::sign(&intruder, &claims(Utc::now() + Duration::days(1)));
    (valid, expired, foreign)
}

#[tokio::test]
async fn asvs_every_hostile_request_in_the_corpus_is_refused_cleanly() {
    let env = TestEnv::spawn_with(|c| {
        // The corpus sends many requests from one address; rate limiting is tested on its own.
        c.settings.network_limit = 100_000;
        c.settings.privacy_limit = 100_000;
    })
    .await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let (valid, expired, foreign) = tokens(&env).await;
    let cases = corpus();
    let big = "x".repeat(70_000);
    let mut addresses = Vec::new();
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let id = &case.id;
        let email = address(&format!("hostile-{id}"));
        let fill = |s: &str| {
            let mut s = s.replace("{email}", &email).replace("{self}", &env.url).replace("{big}", &big);
            while let Some(start) = s.find("{token|") {
                let end = start + s[start..].find('}').unwrap();
                let spoiled = mutate(&valid, &s[start + 7..end]);
                s.replace_range(start..=end, &spoiled);
            }
            s.replace("{token}", &valid).replace("{token_expired}", &expired).replace("{token_foreign}", &foreign)
        };
        let case = Case {
            id: id.clone(),
            rule: case.rule.clone(),
            method: fill(&case.method),
            path: fill(&case.path),
            headers: case.headers.iter().map(|(k, v)| (k.clone(), fill(v))).collect(),
            body: fill(&case.body),
            status: case.status,
            code: case.code.clone(),
            sign: case.sign.clone(),
        };
        let before = env.state().await;
        let mut req = env.http.request(case.method.parse().unwrap(), format!("{}{}", env.url, case.path));
        for (k, v) in &case.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(spec) = &case.sign {
            req = req.header("authorization", operator_signature(&env, &case, spec));
        }
        let resp = req.body(case.body.clone()).send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").cloned();
        let body = resp.text().await.unwrap();
        // Every case runs; the failures are reported together at the end.
        if status != case.status {
            failures.push(format!("{id} ({}): status {status}, not {}: {body:.200}", case.rule, case.status));
        }
        if let Some(code) = &case.code {
            let got = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
            if got.as_deref() != Some(code.as_str()) {
                failures.push(format!("{id}: code {got:?}, not {code}"));
            }
        }
        if location.is_some() {
            failures.push(format!("{id}: redirected to {location:?}"));
        }
        if body.contains(&email) {
            failures.push(format!("{id}: the address came back"));
        }
        if env.state().await != before {
            failures.push(format!("{id}: something was written"));
        }
        addresses.push(email);
        *per_rule.entry(case.rule.clone()).or_default() += 1;
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // One read of the mailbox for all cases: each read dumps the emulator's whole state.
    let mailed: Vec<String> = all_mails().await.into_iter().flat_map(|m| m.to).collect();
    for email in &addresses {
        assert!(!mailed.contains(email), "{email} got mail");
    }
    let logs = String::from_utf8(captured_logs().lock().unwrap().clone()).unwrap();
    for email in &addresses {
        assert!(!logs.contains(email.as_str()), "{email} reached the logs");
    }
    assert!(cases.len() >= 300, "{} cases", cases.len());
    eprintln!("hostile corpus: {} cases over {} rules", cases.len(), per_rule.len());
}

/// Security review L12: the local stack answers only requests addressed to loopback by name, so a
/// page that points its own name at 127.0.0.1 (DNS rebinding) cannot read `/dev/mailbox`.
#[tokio::test]
async fn l12_the_local_stack_refuses_a_request_for_another_host() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = zgoda_tests::TestEnv::spawn().await;
    let address = env.url.trim_start_matches("http://").to_owned();
    for (host, expected) in [("rebind.example:80", "HTTP/1.1 404"), (address.as_str(), "HTTP/1.1 200"), ("localhost", "HTTP/1.1 200")] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with(expected), "{host}: {answer}");
    }
}
