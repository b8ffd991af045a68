//! Telling recipients (Art. 19, Art. 7(3)): signed webhooks to a receiver on this machine,
//! verified with the official Standard Webhooks library, and the change feed beside them.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, contact_form};

use crate::access::{access_link, open_as_a_browser};

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    headers: http::HeaderMap,
    body: Bytes,
    answered: u16,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn verifies(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret).unwrap().verify(&self.body, &self.headers).is_ok()
    }
}

/// A CRM's receiving end on loopback: answers 503 to its first `failures` requests, keeps
/// everything as it arrives, and takes `delay` before each answer.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(failures: usize, delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/zgoda", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::<Received>::new()));
        let store = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let store = store.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let store = store.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            // Kept (acted on) before the slow answer: a sender that dies meanwhile
                            // never hears it, and must send the same change again.
                            let answered = {
                                let mut got = store.lock().unwrap();
                                let answered = if got.len() < failures { 503 } else { 204 };
                                got.push(Received { headers: parts.headers, body, answered });
                                answered
                            };
                            tokio::time::sleep(delay).await;
                            let resp = hyper::Response::builder().status(answered).body(Full::new(Bytes::new())).unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { url, got }
    }

    fn delivered(&self) -> Vec<Received> {
        self.got.lock().unwrap().iter().filter(|r| r.answered == 204).cloned().collect()
    }

    /// Waits until `n` changes were delivered (or fails after a minute).
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..600 {
            let delivered = self.delivered();
            if delivered.iter().map(Received::id).collect::<BTreeSet<_>>().len() >= n {
                return delivered;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} changes not delivered: {:?}", self.got.lock().unwrap().iter().map(|r| (r.id(), r.answered)).collect::<Vec<_>>());
    }
}

/// The contact form with its newsletter given at once (single opt-in), as form `single`.
async fn single_opt_in_form(env: &TestEnv) {
    let mut form = contact_form(&address("owner"));
    form["purposes"][0]["double_opt_in"] = json!(false);
    form["purposes"][0]["single_opt_in_reason"] = json!("The test needs consent given at once.");
    env.put_form("single", &form).await;
}

async fn subscribe(env: &TestEnv, email: &str) {
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("single", &body).await.status(), 201);
}

async fn add_endpoint(env: &TestEnv, url: &str, description: &str) -> (String, String) {
    let resp = env.operator("POST", "/v1/admin/webhooks", Some(&json!({"url": url, "description": description}))).await;
    assert_eq!(resp.status(), 201);
    let view: Value = resp.json().await.unwrap();
    (view["endpoint_id"].as_str().unwrap().to_owned(), view["secret"].as_str().unwrap().to_owned())
}

/// The single opt-in form, a receiver that always answers, its endpoint, and delivery running:
/// the receiver, the endpoint's id and its secret.
async fn delivering_to_a_receiver(env: &TestEnv, description: &str) -> (Receiver, String, String) {
    single_opt_in_form(env).await;
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let (endpoint, secret) = add_endpoint(env, &receiver.url, description).await;
    env.start_webhooks();
    (receiver, endpoint, secret)
}

/// The whole change feed, page by page, as a polling tool reads it.
async fn feed(env: &TestEnv) -> Vec<Value> {
    let (mut items, mut after) = (Vec::new(), String::new());
    loop {
        let page: Value = env.operator("GET", &format!("/v1/admin/changes?after={after}&limit=2"), None).await.json().await.unwrap();
        let got = page["items"].as_array().unwrap().clone();
        after = page["next"].as_str().unwrap().to_owned();
        if got.is_empty() {
            return items;
        }
        items.extend(got);
    }
}

#[tokio::test]
async fn art19_a_receiver_down_for_several_tries_gets_every_change_later_signed_in_order_and_the_feed_tells_the_same() {
    let env = TestEnv::spawn().await;
    single_opt_in_form(&env).await;
    let receiver = Receiver::start(3, Duration::ZERO).await;
    let (endpoint, secret) = add_endpoint(&env, &receiver.url, "CRM Livespace").await;
    let (alice, bob) = (address("alice"), address("bob"));
    subscribe(&env, &alice).await;
    subscribe(&env, &bob).await;
    let erase = env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": alice, "reason": "request by phone"}))).await;
    assert_eq!(erase.status(), 200);
    env.start_webhooks();

    let delivered = receiver.wait_for(3).await;
    let all = receiver.got.lock().unwrap().clone();
    assert!(all.iter().all(|r| r.verifies(&secret)), "every request verifies with the official library");
    assert_eq!(all.iter().filter(|r| r.answered == 503).count(), 3);
    let mut bodies_by_id: BTreeMap<String, BTreeSet<Bytes>> = BTreeMap::new();
    for r in &all {
        bodies_by_id.entry(r.id()).or_default().insert(r.body.clone());
    }
    assert_eq!(bodies_by_id.len(), 3, "a retried change keeps its webhook-id");
    assert!(bodies_by_id.values().all(|b| b.len() == 1), "and its payload");
    let told: Vec<(String, String)> = delivered
        .iter()
        .map(|r| (r.json()["type"].as_str().unwrap().to_owned(), r.json()["data"]["subject_id"].as_str().unwrap().to_owned()))
        .collect();
    let (alice_id, bob_id) = (env.subject_id(&alice).await.to_string(), env.subject_id(&bob).await.to_string());
    let of = |who: &str| told.iter().filter(|(_, s)| s == who).map(|(k, _)| k.as_str()).collect::<Vec<_>>();
    assert_eq!(of(&alice_id), ["consent.given", "subject.erased"], "an erasure never before the consent it erases");
    assert_eq!(of(&bob_id), ["consent.given"], "only the ticked consent purpose is told, not the contract one");
    let erased = delivered.iter().map(Received::json).find(|p| p["type"] == "subject.erased").unwrap();
    assert_eq!(erased["data"]["email"], alice.as_str(), "the erasure carries the address the CRM files it under");
    let bobs = delivered.iter().map(Received::json).find(|p| p["data"]["subject_id"] == bob_id.as_str()).unwrap();
    assert_eq!((bobs["data"]["email"].as_str(), bobs["data"]["purpose"].as_str()), (Some(bob.as_str()), Some("newsletter")));

    // A tool that polls reads the same changes, in the feed's order, which each person's changes
    // also arrived in (other people's may have overtaken a failing one).
    let polled: Vec<String> = feed(&env).await.iter().map(|c| format!("msg_{}", c["change_id"].as_str().unwrap())).collect();
    let arrived: Vec<String> = delivered.iter().map(Received::id).collect();
    assert_eq!(polled.iter().collect::<BTreeSet<_>>(), arrived.iter().collect::<BTreeSet<_>>());
    let alices: Vec<&String> = arrived
        .iter()
        .filter(|id| delivered.iter().any(|r| &r.id() == *id && r.json()["data"]["subject_id"] == alice_id.as_str()))
        .collect();
    let alices_polled: Vec<&String> = polled.iter().filter(|id| alices.contains(id)).collect();
    assert_eq!(alices, alices_polled, "Alice's changes in her order");

    // The delivery log: outcomes, never the address.
    let log = env.operator("GET", &format!("/v1/admin/webhooks/{endpoint}/deliveries"), None).await.text().await.unwrap();
    let log: Value = serde_json::from_str(&log).unwrap();
    let statuses: Vec<(&str, u64)> =
        log["items"].as_array().unwrap().iter().map(|l| (l["status"].as_str().unwrap(), l["attempts"].as_u64().unwrap())).collect();
    assert_eq!(statuses.iter().filter(|(s, _)| *s == "delivered").count(), 3, "{log}");
    assert_eq!(statuses.iter().map(|(_, n)| n).sum::<u64>(), 6, "three failed tries and three deliveries: {log}");
    assert!(!log.to_string().contains("@klient.example.pl"), "{log}");
    let listed: Value = env.operator("GET", "/v1/admin/webhooks", None).await.json().await.unwrap();
    assert_eq!(listed["items"][0]["description"], "CRM Livespace");
    assert!(listed["items"][0].get("secret").is_none(), "a secret is shown once");
}

#[tokio::test]
async fn art19_a_rotated_secret_keeps_the_receiver_verifying_through_the_overlap() {
    let env = TestEnv::spawn().await;
    let (receiver, endpoint, old) = delivering_to_a_receiver(&env, "Mailing tool").await;
    subscribe(&env, &address("before")).await;
    receiver.wait_for(1).await;
    let rotated: Value = env.operator("POST", &format!("/v1/admin/webhooks/{endpoint}/rotate-secret"), None).await.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    subscribe(&env, &address("during")).await;
    let delivered = receiver.wait_for(2).await;
    assert!(delivered[0].verifies(&old) && !delivered[0].verifies(&new));
    assert!(delivered[1].verifies(&old), "the receiver still on the old secret verifies through the overlap");
    assert!(delivered[1].verifies(&new), "and one already switched verifies too");
}

#[tokio::test]
async fn art19_the_access_page_and_file_name_the_endpoint_that_was_told_about_the_person() {
    let env = TestEnv::spawn().await;
    let (receiver, endpoint, _) = delivering_to_a_receiver(&env, "CRM Livespace").await;
    let bob = address("bob");
    subscribe(&env, &bob).await;
    receiver.wait_for(1).await;
    // The worker notes whom it told once the receiver has answered: wait for its log to say so.
    for _ in 0..100 {
        let log = env.operator("GET", &format!("/v1/admin/webhooks/{endpoint}/deliveries"), None).await.text().await.unwrap();
        if log.contains("\"delivered\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let page = open_as_a_browser(&env, &access_link(&env, &bob).await, "pl").await;
    assert!(page.contains("„CRM Livespace”") && page.contains("otrzymał informację o: udzieleniu zgody"), "{page}");
    let file: Value = env.http.post(format!("{}?lang=en", access_link(&env, &bob).await)).send().await.unwrap().json().await.unwrap();
    let told: Vec<&Value> = file["recipients"].as_array().unwrap().iter().filter(|r| r["kind"] == "webhook").collect();
    assert_eq!(told.len(), 1, "{file}");
    assert_eq!(
        (&told[0]["endpoint_id"], &told[0]["description"], &told[0]["told"]),
        (&json!(endpoint), &json!("CRM Livespace"), &json!(["consent.given"]))
    );
    assert!(file["explained"]["recipients"].to_string().contains("was told of a consent you gave"), "{file}");
}

/// A delivery worker in a process of its own (`zgoda-local webhooks`), as a Lambda runs it.
struct Worker(std::process::Child);

impl Worker {
    fn start(env_file: &std::path::Path) -> Self {
        let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
        let binary = deps.parent().unwrap().join("zgoda-local");
        let child = std::process::Command::new(&binary)
            .args(["webhooks", "--env-file"])
            .arg(env_file)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} (built by `make test` before the tests): {e}", binary.display()));
        Self(child)
    }

    /// SIGKILL: no chance to finish the request in flight or let the lease go.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_delivery_worker_sigkilled_mid_batch_loses_nothing_and_repeats_only_under_the_same_webhook_id() {
    let env = TestEnv::spawn().await;
    single_opt_in_form(&env).await;
    let receiver = Receiver::start(0, Duration::from_millis(600)).await;
    add_endpoint(&env, &receiver.url, "CRM").await;
    for i in 0..8 {
        subscribe(&env, &address(&format!("p{i}"))).await;
    }
    let env_file = env.env_file();
    let worker = Worker::start(&env_file);
    // The second change has arrived and its answer is on its way (600 ms): the worker dies first,
    // its message not deleted.
    receiver.wait_for(2).await;
    worker.kill();
    let at_kill = receiver.got.lock().unwrap().len();
    assert!(at_kill < 8, "killed mid-batch ({at_kill} received)");
    // A new worker takes over; the message in flight comes back once its visibility lapses.
    let _worker = Worker::start(&env_file);
    let delivered = receiver.wait_for(8).await;
    // The others may arrive first: the repeat waits out the visibility timeout.
    for _ in 0..300 {
        if receiver.got.lock().unwrap().len() > 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ids_by_change: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in receiver.got.lock().unwrap().iter() {
        ids_by_change.entry(r.json()["data"]["change_id"].as_str().unwrap().to_owned()).or_default().insert(r.id());
    }
    assert_eq!(ids_by_change.len(), 8, "every change delivered");
    assert!(receiver.got.lock().unwrap().len() > 8, "the change in flight at the kill came again");
    assert!(ids_by_change.values().all(|ids| ids.len() == 1), "a repeat carries the same webhook-id: {ids_by_change:?}");
    assert_eq!(delivered.iter().map(Received::id).collect::<BTreeSet<_>>().len(), 8);
}

#[tokio::test]
async fn art19_a_change_refused_past_the_give_up_time_is_recorded_dead_and_put_on_the_dead_letter_queue() {
    // Locally a change is given up after 30 s and its four backoff steps (`local_settings`).
    let env = TestEnv::spawn().await;
    single_opt_in_form(&env).await;
    let receiver = Receiver::start(usize::MAX, Duration::ZERO).await;
    let (endpoint, _) = add_endpoint(&env, &receiver.url, "CRM").await;
    let alice = address("alice");
    subscribe(&env, &alice).await;
    env.start_webhooks();
    let dead_letters = env.config.webhook_dead_letter_url.clone();
    let mut letters = Vec::new();
    for _ in 0..90 {
        let got = env.clients.sqs.receive_message().queue_url(&dead_letters).send().await.unwrap();
        letters.extend(got.messages.unwrap_or_default());
        if !letters.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(letters.len(), 1, "the refused change is on the dead-letter queue");
    let letter: Value = serde_json::from_str(letters[0].body().unwrap()).unwrap();
    assert_eq!(letter["endpoint_id"], endpoint.as_str());
    assert!(!letter.to_string().contains("@klient.example.pl"), "a dead letter holds ids only: {letter}");
    let tries = receiver.got.lock().unwrap().len();
    assert!(tries > 4, "every backoff step was tried first ({tries} tries)");
    let log: Value = env.operator("GET", &format!("/v1/admin/webhooks/{endpoint}/deliveries"), None).await.json().await.unwrap();
    assert_eq!(log["items"][0]["status"], "dead", "{log}");
    assert_eq!(log["items"][0]["change_id"], letter["change_id"], "{log}");
    let listed: Value = env.operator("GET", &format!("/v1/admin/webhooks/{endpoint}"), None).await.json().await.unwrap();
    assert_eq!((listed["failing"].as_u64(), listed["dead"].as_u64()), (Some(0), Some(1)), "{listed}");
}

#[tokio::test]
async fn ssrf_an_endpoint_to_a_private_address_or_not_https_is_a_422_naming_the_url_and_nothing_is_stored() {
    let env = TestEnv::spawn().await;
    for (url, code) in [
        ("http://10.0.0.1/hook", "not_https"),
        ("https://10.0.0.1/hook", "not_public"),
        ("https://169.254.169.254/latest/meta-data/", "not_public"),
        ("https://[fd00:ec2::254]/", "not_public"),
        ("ftp://crm.example.com/", "not_https"),
    ] {
        let resp = env.operator("POST", "/v1/admin/webhooks", Some(&json!({"url": url, "description": "x"}))).await;
        assert_eq!(resp.status(), 422, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["fields"][0], json!({"field": "url", "code": code}), "{url}");
    }
    let resp = env
        .operator(
            "POST",
            "/v1/admin/webhooks",
            Some(&json!({"url": "https://crm.example.com/", "description": " ", "events": ["consent.maybe"]})),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["fields"],
        json!([{"field": "description", "code": "required"}, {"field": "events[0]", "code": "unknown_event"}])
    );
    assert!(env.items("WEBHOOKS").await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn cli_adds_lists_rotates_disables_and_reads_the_delivery_log_and_the_feed() {
    use crate::cli::{stdout, zgoda};
    let env = TestEnv::spawn().await;
    let key = env.operator.key_hex.clone();
    single_opt_in_form(&env).await;
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let added =
        zgoda(&env, &key, &["webhooks", "add", &receiver.url, "--description", "Mailing tool", "--events", "consent.given,subject.erased"])
            .await;
    assert!(added.status.success(), "{added:?}");
    let out = stdout(&added);
    assert!(out.contains("signing secret (shown once") && out.contains("whsec_"), "{added:?}");
    let id = out.split_whitespace().nth(1).unwrap().to_owned();
    env.start_webhooks();
    subscribe(&env, &address("cli")).await;
    receiver.wait_for(1).await;
    let listed = stdout(&zgoda(&env, &key, &["webhooks", "list"]).await);
    assert!(listed.contains("Mailing tool") && listed.contains("consent.given,subject.erased") && !listed.contains("whsec_"), "{listed}");
    let log = stdout(&zgoda(&env, &key, &["webhooks", "deliveries", &id]).await);
    assert!(log.contains("consent.given") && log.contains("delivered") && log.contains("204"), "{log}");
    let feed = stdout(&zgoda(&env, &key, &["changes"]).await);
    assert!(feed.contains("consent.given") && feed.contains("next: --after "), "{feed}");
    assert!(stdout(&zgoda(&env, &key, &["webhooks", "rotate-secret", &id]).await).contains("whsec_"));
    assert!(stdout(&zgoda(&env, &key, &["webhooks", "disable", &id]).await).contains("(disabled)"));
    let bad = zgoda(&env, &key, &["webhooks", "add", "https://10.0.0.1/", "--description", "x"]).await;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not_public"), "{bad:?}");
}
