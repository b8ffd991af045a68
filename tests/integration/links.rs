//! docs/api.md §2 (links), §3 (privacy requests) and the audience/links part of §4.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use zgoda_domain::ids::PurposeId;
use zgoda_domain::token::{LinkAction, LinkClaims};
use zgoda_tests::{ORIGIN, TestEnv, address, contact_form, mails_to};

const SCANNER: &str = "Mozilla/5.0 (compatible; SafeLinks-Scanner/1.0; +https://scanner.example)";

async fn env() -> TestEnv {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    env
}

/// A subject with newsletter consent `given` (through the real confirm link) and its confirm URL.
async fn confirmed(env: &TestEnv, email: &str) -> String {
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "name": "Zofia Testowa", "message": "Proszę o kontakt"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let link = mails_to(email).await[0].links()[0].clone();
    let resp = env.http.post(&link).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    link
}

async fn link_for(env: &TestEnv, email: &str, action: &str, purpose: Option<&str>) -> String {
    let resp = env.operator("POST", "/v1/admin/links", Some(&json!({"email": email, "action": action, "purpose": purpose}))).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["expires_at"].as_str().is_some());
    body["url"].as_str().unwrap().to_owned()
}

async fn state(env: &TestEnv, email: &str) -> Value {
    env.lookup(email).await.1["state"].clone()
}

#[tokio::test]
async fn scanners_get_and_head_on_every_action_repeated_change_nothing() {
    let env = env().await;
    let email = address("scan");
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    env.submit_json("kontakt", &body).await;
    let mut links = mails_to(&email).await[0].links();
    for (action, purpose) in [("unsubscribe", Some("newsletter")), ("access", None), ("erase", None)] {
        links.push(link_for(&env, &email, action, purpose).await);
    }
    let before = env.scan().await;
    for link in &links {
        for _ in 0..3 {
            for lang in ["pl", "en"] {
                let get = env.http.get(format!("{link}?lang={lang}")).header("user-agent", SCANNER).send().await.unwrap();
                assert_eq!(get.status(), 200);
                for (h, v) in [("cache-control", "no-store"), ("referrer-policy", "no-referrer"), ("x-robots-tag", "noindex")] {
                    assert_eq!(get.headers()[h], v, "{h}");
                }
                assert!(get.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
                let page = get.text().await.unwrap();
                assert!(
                    page.contains(&format!("<form method=\"post\" action=\"?lang={lang}\">")),
                    "one button that posts, in the page's language"
                );
            }
            let head = env.http.head(link).header("user-agent", SCANNER).send().await.unwrap();
            assert_eq!(head.status(), 200);
        }
    }
    assert_eq!(env.scan().await, before, "GET and HEAD never write");
    assert_eq!(state(&env, &email).await["newsletter"], "requested");
}

#[tokio::test]
async fn asvs_9_every_single_byte_change_of_a_token_is_400() {
    let env = env().await;
    let email = address("mut");
    confirmed(&env, &email).await;
    let link = link_for(&env, &email, "unsubscribe", Some("newsletter")).await;
    let (base, token) = link.rsplit_once('/').unwrap();
    let before = env.scan().await;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for i in 0..token.len() {
        let mut t = token.as_bytes().to_vec();
        t[i] = alphabet[(alphabet.iter().position(|&c| c == t[i]).unwrap() + 17) % alphabet.len()];
        let mutated = format!("{base}/{}", String::from_utf8(t).unwrap());
        let resp = env.http.post(&mutated).send().await.unwrap();
        assert_eq!(resp.status(), 400, "byte {i}");
        assert!(resp.text().await.unwrap().contains("data-code=\"invalid_link\""));
    }
    for bad in [format!("{token}="), token[..token.len() - 1].to_owned(), format!("{token}A"), "x".repeat(600)] {
        assert_eq!(env.http.get(format!("{base}/{bad}")).send().await.unwrap().status(), 400);
    }
    assert_eq!(env.scan().await, before);
    assert_eq!(state(&env, &email).await["newsletter"], "given");
}

#[tokio::test]
async fn asvs_9_expired_is_410_with_a_fresh_link_and_unknown_key_is_400() {
    let env = env().await;
    let email = address("exp");
    confirmed(&env, &email).await;
    let subject = env.subject_id(&email).await;
    let expired =
        LinkClaims::new(LinkAction::Unsubscribe, subject.clone(), PurposeId::parse("newsletter"), None, Utc::now() - Duration::minutes(1));
    let url = format!("{}/v1/links/{}", env.url, env.token(&expired).await);
    let page = env.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 410);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-code=\"link_expired\"") && html.contains("name=\"renew\""));
    assert_eq!(env.http.post(&url).send().await.unwrap().status(), 410, "an expired link does nothing");
    assert_eq!(state(&env, &email).await["newsletter"], "given");
    let renewed = env.http.post(&url).form(&[("renew", "1")]).send().await.unwrap();
    assert_eq!(renewed.status(), 200);
    let mails = mails_to(&email).await;
    let fresh = mails.last().unwrap();
    assert_eq!(fresh.subject(), "Link do wypisania się");
    assert!(fresh.text().contains("Oto nowy link do wycofania zgody na cel: newsletter."), "which consent: {}", fresh.text());
    assert_eq!(env.http.post(&fresh.links()[0]).send().await.unwrap().status(), 200);
    assert_eq!(state(&env, &email).await["newsletter"], "withdrawn");

    let foreign = zgoda_domain::keys::KeyRing::single("k9", zgoda_domain::keys::SecretKey::new(vec![7; 32]));
    let claims = LinkClaims::new(LinkAction::Access, subject, None, None, Utc::now() + Duration::hours(1));
    let forged = zgoda_domain::token::sign(&foreign, &claims);
    assert_eq!(env.http.post(format!("{}/v1/links/{forged}", env.url)).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn a_token_signed_under_the_previous_key_still_works_after_rotation() {
    let env = env().await;
    let email = address("rotl");
    confirmed(&env, &email).await;
    let link = link_for(&env, &email, "unsubscribe", Some("newsletter")).await;
    let name = format!("{}links", env.config.secrets_prefix);
    let current = env.clients.secrets.get_secret_value().secret_id(&name).send().await.unwrap();
    let mut ring: Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
    ring["keys"]["k2"] = json!(zgoda_domain::keys::SecretKey::generate_hex());
    ring["current"] = json!("k2");
    zgoda_aws::secrets::put_secret(&env.clients.secrets, &name, &ring.to_string()).await.unwrap();
    let env = env.restart().await;
    let token = link.rsplit_once('/').unwrap().1;
    let resp = env.http.post(format!("{}/v1/links/{token}", env.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(state(&env, &email).await["newsletter"], "withdrawn");
}

/// A deployed function's rings come in one call sent at its first moment (`Starting`), read while
/// the runtime starts. A ring that is missing answers the event that needs it with a 503, the log
/// and the error naming the ring, never an app without the key; once the ring is back, the next
/// event reads again and is served, without a new cold start.
#[tokio::test]
async fn a_cold_start_without_one_key_ring_answers_503_naming_it_and_the_next_event_reads_again() {
    let env = env().await;
    let secrets = &env.clients.secrets;
    let name = format!("{}pepper", env.config.secrets_prefix);
    let pepper = secrets.get_secret_value().secret_id(&name).send().await.unwrap().secret_string().unwrap().to_owned();
    secrets.delete_secret().secret_id(&name).force_delete_without_recovery(true).send().await.unwrap();
    let starting = zgoda_web::app::Starting::new(env.config.clone(), env.clients.clone(), &links::ACCESS, links::RINGS);
    let privacy_page = || http::Request::get(format!("{}/v1/privacy", env.url)).body(lambda_http::Body::Empty).unwrap();

    let err = starting.app().await.err().expect("no app without its pepper");
    assert!(err.to_string().contains(&name), "the error names the missing ring: {err}");
    let resp = starting.answer(|app| links::handle_app(app, privacy_page(), Utc::now())).await;
    assert_eq!(resp.status(), 503);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert!(!body.to_string().contains("pepper"), "a caller is not told which key is missing: {body}");

    zgoda_aws::secrets::ensure_secret(secrets, &name, &pepper).await.unwrap();
    let resp = starting.answer(|app| links::handle_app(app, privacy_page(), Utc::now())).await;
    assert_eq!(resp.status(), 200, "the next event reads the rings again");
    assert!(starting.app().await.is_ok());
}

/// Security review H1: each function loads only the rings it uses. Without the operators ring the
/// public functions and the feedback handler still start, and hold no operator key; the operator
/// function does not start. With no ring at all, the notifier and the deadline watch still start.
#[tokio::test]
async fn each_function_loads_only_its_own_key_rings() {
    use zgoda_domain::keys::KeyFamily;
    let env = env().await;
    let delete = |family: KeyFamily| {
        let secrets = env.clients.secrets.clone();
        let name = format!("{}{}", env.config.secrets_prefix, family.name());
        async move { secrets.delete_secret().secret_id(name).force_delete_without_recovery(true).send().await.unwrap() }
    };
    let env = &env;
    let build = |access: zgoda_aws::access::Access| async move { zgoda_web::app::build(&env.config, &env.clients, &access).await };
    delete(KeyFamily::Operators).await;
    for (function, access) in [("intake", intake::ACCESS), ("links", links::ACCESS), ("ses-events", ses_events::ACCESS)] {
        let app = build(access).await.unwrap_or_else(|e| panic!("{function} starts without the operators ring: {e}"));
        assert!(!app.keys.families().contains(&KeyFamily::Operators), "{function} holds no operator key");
    }
    let err = build(operator::ACCESS).await.err().expect("the operator function needs the operators ring");
    assert!(err.contains("operators"), "{err}");
    for family in [KeyFamily::Links, KeyFamily::Seals, KeyFamily::Pepper] {
        delete(family).await;
    }
    for (function, access) in [("notifier", notifier::ACCESS), ("deadline-watch", deadline_watch::ACCESS)] {
        let app = build(access).await.unwrap_or_else(|e| panic!("{function} starts with no ring at all: {e}"));
        assert!(app.keys.families().is_empty(), "{function} holds no key");
    }
}

#[tokio::test]
async fn rfc8058_one_click_post_urlencoded_and_multipart_withdraws_with_no_redirect() {
    let env = env().await;
    for multipart in [false, true] {
        let email = address("oneclick");
        confirmed(&env, &email).await;
        let link = link_for(&env, &email, "unsubscribe", Some("newsletter")).await;
        let req = env.http.post(&link).header("user-agent", "GoogleImageProxy");
        let req = if multipart {
            req.header("content-type", "multipart/form-data; boundary=xYzZY")
                .body("--xYzZY\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--xYzZY--\r\n")
        } else {
            req.header("content-type", "application/x-www-form-urlencoded").body("List-Unsubscribe=One-Click")
        };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("location").is_none());
        assert!(resp.headers().get("set-cookie").is_none());
        assert_eq!(state(&env, &email).await["newsletter"], "withdrawn", "multipart={multipart}");
        let (_, view) = env.lookup(&email).await;
        let last = view["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["kind"].as_str(), last["channel"].as_str()), (Some("withdrawn"), Some("email_link")));
        assert_eq!(view["proof"]["verified"], true);
        let again = env
            .http
            .post(&link)
            .body("List-Unsubscribe=One-Click")
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 200, "idempotent");
        assert_eq!(env.lookup(&email).await.1["events"].as_array().unwrap().len(), view["events"].as_array().unwrap().len());
    }
}

#[tokio::test]
async fn rfc8058_audience_headers_in_a_parsed_mail_give_a_working_one_click_post() {
    let env = env().await;
    let email = address("aud");
    confirmed(&env, &email).await;
    let other = address("aud-refused");
    env.submit_json("kontakt", &json!({"email": other, "consent": ["contact_reply"], "notice_version": "2026-11"})).await;
    let audience: Value = env.operator("GET", "/v1/admin/audiences/newsletter", None).await.json().await.unwrap();
    let items = audience["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only currently-given consent: {audience}");
    let row = &items[0];
    assert_eq!(row["email"], email.as_str());
    assert_eq!(row["headers"]["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    let raw = format!(
        "From: shop@sklep.example.pl\r\nTo: {email}\r\nSubject: Newsletter\r\nList-Unsubscribe: {}\r\nList-Unsubscribe-Post: {}\r\nContent-Type: text/plain\r\n\r\nNowości.\r\n",
        row["headers"]["List-Unsubscribe"].as_str().unwrap(),
        row["headers"]["List-Unsubscribe-Post"].as_str().unwrap()
    );
    let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
    let url = parsed.list_unsubscribe().as_address().and_then(|a| a.first()).and_then(|a| a.address()).unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1"));
    let post_value = parsed.header_raw("List-Unsubscribe-Post").unwrap().trim().to_owned();
    let resp = env.http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(post_value).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(state(&env, &email).await["newsletter"], "withdrawn");
    let audience: Value = env.operator("GET", "/v1/admin/audiences/newsletter", None).await.json().await.unwrap();
    assert_eq!(audience["items"], json!([]));
    let bad = env.operator("GET", "/v1/admin/audiences/newsletter?cursor=eyJ4IjoieSJ9", None).await;
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn audience_pages_with_a_cursor() {
    let env = env().await;
    let mut emails = Vec::new();
    for _ in 0..3 {
        let email = address("page");
        confirmed(&env, &email).await;
        emails.push(email);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let app = &env.local.apps.operator;
    let purpose = PurposeId::parse("newsletter").unwrap();
    loop {
        // The store's page size is fixed at 100; a size of 2 exercises the cursor here.
        use zgoda_domain::store::SubjectStore;
        let (rows, next) = app.store.audience(&purpose, cursor.as_deref(), 2).await.unwrap();
        seen.extend(rows.into_iter().map(|r| r.email.as_str().to_owned()));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    seen.sort();
    emails.sort();
    assert_eq!(seen, emails);
}

/// A page view is only a page: when the click names its language (a browser's `Accept-Language`,
/// or `?lang=`), the page needs nothing from the database, so it shows even while DynamoDB is
/// unreachable. Without a language the person's own is read.
#[tokio::test]
async fn a_link_page_in_the_browsers_language_shows_while_the_database_is_down() {
    let env = TestEnv::spawn_with_faults(|_| {}).await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("lang");
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": "en"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let link = mails_to(&email).await[0].links()[0].clone();
    let faults = env.faults.as_ref().unwrap();

    let unasked = env.http.get(&link).send().await.unwrap();
    assert_eq!(unasked.status(), 200);
    assert!(unasked.text().await.unwrap().contains("Confirm your sign-up"), "the person's language, read from their profile");

    faults.fail_after(0);
    let before = faults.dropped();
    for (accept, title) in [("pl-PL,pl;q=0.9,en;q=0.8", "Potwierdź zapis"), ("en-GB,en;q=0.9", "Confirm your sign-up")] {
        let page = env.http.get(&link).header("accept-language", accept).send().await.unwrap();
        assert_eq!(page.status(), 200, "{accept}");
        assert!(page.text().await.unwrap().contains(title), "{accept}");
    }
    assert_eq!(faults.dropped(), before, "no request left for the database");
    let unasked = env.http.get(&link).send().await.unwrap();
    assert_eq!(unasked.status(), 503, "without a language the page needs the profile");
    faults.heal();
}

#[tokio::test]
async fn confirm_records_given_linked_to_its_request_and_is_idempotent() {
    let env = env().await;
    let email = address("conf");
    env.submit_json(
        "kontakt",
        &json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": "en"}),
    )
    .await;
    let link = mails_to(&email).await[0].links()[0].clone();
    let page = env.http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Confirm your sign-up"), "the person's language");
    let done = env.http.post(&link).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("data-outcome=\"done\""));
    let again = env.http.post(&link).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("data-outcome=\"already\""));
    let (_, view) = env.lookup(&email).await;
    let events = view["events"].as_array().unwrap();
    let requested = events.iter().find(|e| e["kind"] == "requested").unwrap();
    let given: Vec<&Value> = events.iter().filter(|e| e["kind"] == "given" && e["purpose"] == "newsletter").collect();
    assert_eq!(given.len(), 1);
    assert_eq!(given[0]["refers_to"], requested["event_id"]);
    assert_eq!(given[0]["channel"], "email_link");
    assert_eq!(view["state"]["newsletter"], "given");
}

/// Art. 4(5) and recital 26: the proofs kept after an erasure can be matched to the address again
/// by whoever holds the pepper, so they are pseudonymised, and the page must not promise anonymity.
#[tokio::test]
async fn art17_3e_the_erase_page_calls_the_kept_proofs_pseudonymised_in_both_languages() {
    let env = env().await;
    let email = address("pseudo");
    confirmed(&env, &email).await;
    let link = link_for(&env, &email, "erase", None).await;
    let link = link.split('?').next().unwrap();
    for (lang, word) in [("pl", "spseudonimizowane"), ("en", "pseudonymised")] {
        let page = env.http.get(format!("{link}?lang={lang}")).send().await.unwrap().text().await.unwrap().to_lowercase();
        assert!(page.contains(word), "{lang}: {word}");
        assert!(!page.contains("anonim") && !page.contains("anonym"), "{lang}: no promise of anonymity");
    }
}

#[tokio::test]
async fn art17_erase_leaves_no_pii_verifiable_events_no_audience_and_answers_already_erased() {
    let env = env().await;
    let email = address("erase");
    confirmed(&env, &email).await;
    let subject = env.subject_id(&email).await;
    let link = link_for(&env, &email, "erase", None).await;
    let page = env.http.post(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("data-outcome=\"done\""));

    // Art. 19: the erasure's change tells recipients the address once; the sweep forgets it there
    // after `ERASED_ADDRESS_KEPT`, and nothing else keeps it.
    let scan = env.scan().await;
    let (told, rest): (Vec<Value>, Vec<Value>) = scan.into_iter().partition(|i| i["pk"] == "CHANGES" && i["kind"] == "subject.erased");
    assert_eq!(told.len(), 1);
    assert_eq!((told[0]["erased_address"].as_str(), told[0]["gsi1pk"].as_str()), (Some(email.as_str()), Some("ERASED_ADDRESSES")));
    let dump = serde_json::to_string(&rest).unwrap();
    for pii in [email.as_str(), email.split('@').next().unwrap(), "Zofia Testowa", "Proszę o kontakt"] {
        assert!(!dump.contains(pii), "{pii} survived erasure");
    }
    let later = Utc::now() + zgoda_domain::changes::ERASED_ADDRESS_KEPT + Duration::minutes(1);
    env.local.apps.retention_sweep.retention_sweep(later).await.unwrap();
    assert!(!serde_json::to_string(&env.scan().await).unwrap().contains(email.as_str()), "forgotten after a week");
    let items = env.items(&format!("SUBJECT#{subject}")).await;
    assert!(items.iter().any(|i| i["sk"] == "SUPPRESSED"));
    assert!(!items.iter().any(|i| i["sk"] == "PROFILE"
        || i["sk"].as_str().unwrap().starts_with("SUBMISSION#")
        || i["sk"].as_str().unwrap().starts_with("STATE#")));
    {
        use zgoda_domain::store::SubjectStore;
        let record = env.local.apps.operator.store.load_subject(&subject).await.unwrap();
        let proof = zgoda_domain::proof::verify_chain(env.keys().await.seals(), &subject, &record.events, record.head.as_ref());
        assert!(proof.verified && proof.events == 4, "{proof:?}");
        assert_eq!(record.events.iter().filter(|e| e.facts.kind == zgoda_domain::proof::EventKind::Erased).count(), 1);
    }
    let audience: Value = env.operator("GET", "/v1/admin/audiences/newsletter", None).await.json().await.unwrap();
    assert_eq!(audience["items"], json!([]));
    let again = env.http.post(&link).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("data-outcome=\"already\""));
    assert_eq!(env.lookup(&email).await.0, 404);
    let relink = env.operator("POST", "/v1/admin/links", Some(&json!({"email": email, "action": "access"}))).await;
    assert_eq!(relink.status(), 404, "an operator call cannot bring an erased person back");
}

#[tokio::test]
async fn after_erasure_a_new_form_submission_is_new_consent_with_double_opt_in() {
    let env = env().await;
    let email = address("back");
    confirmed(&env, &email).await;
    let erase = env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": email, "reason": "request by phone"}))).await;
    assert_eq!(erase.status(), 200);
    assert_eq!(erase.json::<Value>().await.unwrap()["status"], "erased");
    let again = env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": email, "reason": "again"}))).await;
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "already_erased");
    env.submit_json("kontakt", &json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"})).await;
    let (status, view) = env.lookup(&email).await;
    assert_eq!(status, 200);
    assert_eq!(view["state"]["newsletter"], "requested", "double opt-in again, nothing carried over");
    assert_eq!(view["proof"]["verified"], true);
    // A submission alone does not lift the suppression (security review M1); the person's own
    // confirmation does.
    let subject = env.subject_id(&email).await;
    assert!(env.items(&format!("SUBJECT#{subject}")).await.iter().any(|i| i["sk"] == "SUPPRESSED"));
    let confirm = mails_to(&email).await.last().unwrap().links()[0].clone();
    assert_eq!(env.http.post(&confirm).send().await.unwrap().status(), 200);
    assert!(!env.items(&format!("SUBJECT#{subject}")).await.iter().any(|i| i["sk"] == "SUPPRESSED"));
}

#[tokio::test]
async fn art15_access_link_downloads_everything_held_with_seals() {
    let env = env().await;
    let email = address("access");
    confirmed(&env, &email).await;
    let link = link_for(&env, &email, "access", None).await;
    let resp = env.http.post(&link).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"zgoda-export-"));
    assert_eq!(resp.headers()["content-type"], "application/json");
    let export: Value = resp.json().await.unwrap();
    assert_eq!(export["profile"]["email"], email.as_str());
    assert_eq!(export["submissions"][0]["fields"]["name"], "Zofia Testowa");
    assert_eq!(export["events"].as_array().unwrap().len(), 3);
    assert!(export["events"].as_array().unwrap().iter().all(|e| e["seal"].as_str().unwrap().len() == 64));
    assert_eq!(export["proof"]["verified"], true);
    assert_eq!(export["consent_state"]["newsletter"], "given");
    // art13_1a: the export says who holds the data and where to write about it.
    let controller = zgoda_domain::controller::ControllerProfile::example();
    assert_eq!(export["controller"]["name"], controller.name.as_str());
    assert_eq!(export["controller"]["email"], controller.email.as_str());
    assert_eq!(export["controller"]["privacy_policy_url"], controller.privacy_policy_url.as_str());
}

/// Security review M5: an access link hands over everything held, and mail is forwarded and
/// archived, so it works once and for an hour. A second use answers 410 `link_used` with a page
/// that says why and where to ask again.
#[tokio::test]
async fn m5_an_access_link_works_once_and_for_an_hour() {
    let env = env().await;
    let email = address("once");
    confirmed(&env, &email).await;
    let issued = env.operator("POST", "/v1/admin/links", Some(&json!({"email": email, "action": "access"}))).await;
    let issued: Value = issued.json().await.unwrap();
    let expires: chrono::DateTime<Utc> = issued["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires <= Utc::now() + Duration::minutes(61), "an access link lives an hour at most: {expires}");
    let link = issued["url"].as_str().unwrap();
    assert_eq!(env.http.post(link).send().await.unwrap().status(), 200);
    let again = env.http.post(format!("{link}?lang=en")).send().await.unwrap();
    assert_eq!(again.status(), 410);
    let page = again.text().await.unwrap();
    assert!(page.contains("This link has been used") && page.contains("link_used"), "{page}");
    assert!(!page.contains(&email), "no data on a second use");
}

/// Security review L5: an erase link used once, then again after the person came back, is spent:
/// 410 `link_used`, and the person who came back is not erased by the old link.
#[tokio::test]
async fn l5_an_erase_link_used_again_after_the_person_came_back_is_spent_not_a_503() {
    let env = env().await;
    let email = address("return");
    confirmed(&env, &email).await;
    let link = link_for(&env, &email, "erase", None).await;
    assert_eq!(env.http.post(&link).send().await.unwrap().status(), 200);
    // The person comes back: a new submission, confirmed through its own (newest) mail.
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "message": "Wracam"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let confirm = mails_to(&email).await.last().unwrap().links()[0].clone();
    assert_eq!(env.http.post(&confirm).send().await.unwrap().status(), 200);
    let again = env.http.post(&link).send().await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("link_used"));
    assert_eq!(state(&env, &email).await["newsletter"], "given", "the old link erased nobody");
}

/// Security review M7: anyone can ask in anyone's name, so asking often must not lock the person
/// out of their own rights. Past the hourly limit (3) the route still answers 202; the first
/// request past it gets one mail with both an access and an erasure link, the rest of the hour's
/// requests are recorded and folded into it (no mail), and its erasure link works.
#[tokio::test]
async fn m7_requests_in_someones_name_never_lock_them_out_and_fold_into_one_mail() {
    let env = env().await;
    let victim = address("victim");
    confirmed(&env, &victim).await;
    for _ in 0..6 {
        let resp = env.privacy_request(&victim, "access").await;
        assert_eq!(resp.status(), 202, "never 429: the person's own request may be among them");
    }
    let mails = mails_to(&victim).await;
    let subjects: Vec<String> = mails.iter().map(|m| m.subject()).filter(|s| s.starts_with("Your data")).collect();
    let download = "Your data: download link";
    assert_eq!(subjects, [download, download, download, "Your data: links to see or erase it"]);
    let both = mails.iter().find(|m| m.subject() == "Your data: links to see or erase it").unwrap();
    assert_eq!(both.links().len(), 2, "an access and an erasure link");
    let erase = both.links()[1].clone();
    let page = env.http.post(&erase).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("data-outcome=\"done\""));
    let subject = env.subject_id(&victim).await;
    let mut outcomes: Vec<String> = env
        .items(&format!("SUBJECT#{subject}"))
        .await
        .iter()
        .filter(|i| i["sk"].as_str().unwrap().starts_with("REQUEST#"))
        .map(|i| i["outcome"].as_str().unwrap().to_owned())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["folded", "folded", "link_sent", "link_sent", "link_sent", "links_sent"], "every request recorded");
}

#[tokio::test]
async fn art12_3_privacy_requests_are_202_either_way_and_recorded_with_a_due_date() {
    let env = env().await;
    let known = address("known");
    confirmed(&env, &known).await;
    let unknown = address("unknown");
    for (email, kind) in [(&known, "erasure"), (&unknown, "access")] {
        let resp = env.privacy_request(email, kind).await;
        assert_eq!(resp.status(), 202);
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "accepted"}));
    }
    let known_mail = mails_to(&known).await.into_iter().last().unwrap();
    assert_eq!(known_mail.subject(), "Erasing your data: please confirm");
    let erase_link = known_mail.links()[0].clone();
    assert!(env.http.get(&erase_link).send().await.unwrap().text().await.unwrap().contains("Erase my data"));
    let unknown_mail = mails_to(&unknown).await;
    assert_eq!(unknown_mail.len(), 1);
    assert_eq!(unknown_mail[0].subject(), "We hold no data about you");
    assert!(unknown_mail[0].links().is_empty());

    let subject = env.subject_id(&unknown).await;
    let requests = env.items(&format!("SUBJECT#{subject}")).await;
    assert_eq!(requests.len(), 1, "only the request, no profile: {requests:?}");
    let r = &requests[0];
    assert_eq!((r["kind"].as_str(), r["outcome"].as_str()), (Some("access"), Some("no_data_held")));
    let received = chrono::DateTime::parse_from_rfc3339(r["received_at"].as_str().unwrap()).unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(r["due_at"].as_str().unwrap()).unwrap();
    assert!((28..=31).contains(&(due - received).num_days()), "one month");
    assert!(!serde_json::to_string(&requests).unwrap().contains(&unknown), "the request record holds no address");

    let page = env
        .http
        .post(format!("{}/v1/privacy/requests", env.url))
        .header("origin", &env.url)
        .form(&[("email", unknown.as_str()), ("kind", "access"), ("altcha", &env.proof_of_work().await)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 202);
    assert!(page.text().await.unwrap().contains("Sprawdź skrzynkę"));
    let foreign = env
        .http
        .post(format!("{}/v1/privacy/requests", env.url))
        .header("origin", ORIGIN)
        .json(&json!({"email": unknown, "kind": "access"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let bad = env
        .http
        .post(format!("{}/v1/privacy/requests", env.url))
        .header("origin", &env.url)
        .json(&json!({"email": "nope", "kind": "both"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

/// Security review H2: a privacy request costs its sender a solved proof of work, good once, from
/// this stack and unexpired; without one nothing is recorded and no mail goes out.
#[tokio::test]
async fn h2_a_privacy_request_needs_a_proof_of_work_solved_once() {
    let env = env().await;
    let email = address("pow");
    let post = |altcha: Option<String>| {
        let mut body = json!({"email": email, "kind": "access"});
        if let Some(a) = altcha {
            body["altcha"] = json!(a);
        }
        env.http.post(format!("{}/v1/privacy/requests", env.url)).header("origin", &env.url).json(&body).send()
    };
    let field_code = |v: Value| (v["error"]["fields"][0]["field"].clone(), v["error"]["fields"][0]["code"].clone());
    let before = env.state().await;

    let missing = post(None).await.unwrap();
    assert_eq!(missing.status(), 422);
    assert_eq!(field_code(missing.json().await.unwrap()), (json!("altcha"), json!("required")));
    let mut forged: Value =
        serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::STANDARD, env.proof_of_work().await).unwrap())
            .unwrap();
    forged["solution"]["derivedKey"] = json!("ab".repeat(32));
    let forged = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, forged.to_string());
    let wrong = post(Some(forged)).await.unwrap();
    assert_eq!(field_code(wrong.json().await.unwrap()), (json!("altcha"), json!("invalid")));
    assert_eq!(env.state().await, before, "a refused request records nothing");
    assert!(mails_to(&email).await.is_empty());

    let solved = env.proof_of_work().await;
    assert_eq!(post(Some(solved.clone())).await.unwrap().status(), 202);
    let again = post(Some(solved)).await.unwrap();
    assert_eq!(again.status(), 422);
    assert_eq!(field_code(again.json().await.unwrap()), (json!("altcha"), json!("used")));
    assert_eq!(mails_to(&email).await.len(), 1, "one solution, one request, one mail");

    let page = env.http.get(format!("{}/v1/privacy", env.url)).send().await.unwrap();
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let script = env.http.get(format!("{}/v1/privacy/script.js", env.url)).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(script.text().await.unwrap().contains("deriveBits"));
}

#[tokio::test]
async fn privacy_page_renders_in_both_languages() {
    let env = env().await;
    let pl = env.http.get(format!("{}/v1/privacy", env.url)).send().await.unwrap().text().await.unwrap();
    assert!(pl.contains("Chcę usunąć moje dane"));
    let en = env.http.get(format!("{}/v1/privacy?lang=en", env.url)).send().await.unwrap().text().await.unwrap();
    assert!(en.contains("I want my data erased"));
}

/// Security review M1: anyone can post an erased person's address to a form, so a submission
/// alone never brings them back: a consent purpose the form gives at once waits for the person's
/// own confirmation, the person stays out of the audience and suppressed, and only their click in
/// the confirmation mail gives consent and lifts the suppression.
#[tokio::test]
async fn m1_after_erasure_a_submission_by_anyone_needs_the_persons_own_confirmation() {
    let env = TestEnv::spawn().await;
    let mut form = contact_form(&address("owner"));
    form["purposes"][0]["double_opt_in"] = json!(false);
    form["purposes"][0]["single_opt_in_reason"] = json!("The test needs consent given at once.");
    env.put_form("single", &form).await;
    let email = address("suppressed");
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "message": "Dzień dobry"});
    assert_eq!(env.submit_json("single", &body).await.status(), 201);
    assert_eq!(state(&env, &email).await["newsletter"], "given", "single opt-in: given at once");
    let erase = env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": email, "reason": "request by phone"}))).await;
    assert_eq!(erase.status(), 200);

    // A stranger posts the address again.
    let resp = env.submit_json("single", &body).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().await.unwrap()["purposes"]["newsletter"], "requested");
    assert_eq!(state(&env, &email).await["newsletter"], "requested");
    let audience: Value = env.operator("GET", "/v1/admin/audiences/newsletter", None).await.json().await.unwrap();
    assert!(!audience.to_string().contains(&email), "not back in the audience: {audience}");
    let subject = env.subject_id(&email).await;
    assert!(env.items(&format!("SUBJECT#{subject}")).await.iter().any(|i| i["sk"] == "SUPPRESSED"), "still suppressed");

    // The person's own click.
    let confirm = mails_to(&email).await.last().unwrap().links()[0].clone();
    assert_eq!(env.http.post(&confirm).send().await.unwrap().status(), 200);
    assert_eq!(state(&env, &email).await["newsletter"], "given");
    assert!(!env.items(&format!("SUBJECT#{subject}")).await.iter().any(|i| i["sk"] == "SUPPRESSED"), "lifted by the person");
}

/// Security review L9, what erasure and requests leave behind. SES keeps a bounced or complained
/// address on the account's suppression list: erasure (the operator's and the person's link)
/// removes it there too. A privacy request's record is kept three years past its due date, not
/// for ever, and so is one for an address zgoda never held.
#[tokio::test]
async fn l9_erasure_empties_ses_suppression_list_and_request_records_expire() {
    let env = env().await;
    let suppressed = |email: String| {
        let ses = env.clients.ses.clone();
        async move { ses.get_suppressed_destination().email_address(email).send().await.is_ok() }
    };
    let by_operator = address("l9-operator");
    let by_link = address("l9-link");
    for email in [&by_operator, &by_link] {
        confirmed(&env, email).await;
        // As SES records a hard bounce.
        env.clients.ses.put_suppressed_destination().email_address(email).reason("BOUNCE".into()).send().await.unwrap();
        assert!(suppressed(email.clone()).await);
    }
    let erase = env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": by_operator, "reason": "request"}))).await;
    assert_eq!(erase.status(), 200);
    assert!(!suppressed(by_operator.clone()).await, "the operator's erasure leaves SES's copy");
    // As if that removal had failed: erasing again through the operator retries it.
    env.clients.ses.put_suppressed_destination().email_address(&by_operator).reason("BOUNCE".into()).send().await.unwrap();
    let again = env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": by_operator, "reason": "request"}))).await;
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "already_erased");
    assert!(!suppressed(by_operator.clone()).await, "erasing again retries SES's copy");
    let link = link_for(&env, &by_link, "erase", None).await;
    assert_eq!(env.http.post(&link).send().await.unwrap().status(), 200);
    assert!(!suppressed(by_link.clone()).await, "the erase link leaves SES's copy");

    let never_held = address("l9-never-held");
    assert_eq!(env.privacy_request(&never_held, "access").await.status(), 202);
    let items = env.items(&format!("SUBJECT#{}", env.subject_id(&never_held).await)).await;
    let request = items.iter().find(|i| i["sk"].as_str().unwrap().starts_with("REQUEST#")).expect("recorded");
    let due = chrono::DateTime::parse_from_rfc3339(request["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(request["ttl"].as_i64(), Some((due + Duration::days(3 * 365)).timestamp()), "{request}");
}

/// No link page is a dead end (issue 21): whatever went wrong with a link, its page says what to
/// do and links to the privacy page, in the page's language, where a new link can be asked for.
#[tokio::test]
async fn art12_1_every_link_error_page_points_to_the_privacy_page_in_its_language() {
    let env = env().await;
    let email = address("dead-end");
    confirmed(&env, &email).await;
    let subject = env.subject_id(&email).await;
    let expired = LinkClaims::new(LinkAction::Erase, subject, None, None, Utc::now() - Duration::minutes(1));
    let expired = format!("{}/v1/links/{}", env.url, env.token(&expired).await);
    let access = link_for(&env, &email, "access", None).await;
    assert_eq!(env.http.post(&access).send().await.unwrap().status(), 200);
    let invalid = format!("{}/v1/links/{}", env.url, "A".repeat(120));
    // A used link says so when it is used again (a GET only shows the button).
    for (method, url, status) in [("GET", expired, 410), ("POST", access, 410), ("GET", invalid, 400)] {
        for (lang, words) in [("pl", "Zgłoś żądanie"), ("en", "Make a request")] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let page = env.http.request(method, format!("{url}?lang={lang}")).send().await.unwrap();
            assert_eq!(page.status(), status, "{url}");
            // The page escapes `/` in attributes as `&#x2f;`, which a browser reads as `/`.
            let html = page.text().await.unwrap().replace("&#x2f;", "/");
            let privacy = format!("{}/v1/privacy?lang={lang}", env.url);
            assert!(html.contains(&format!("href=\"{privacy}\"")) && html.contains(words), "{url} in {lang}: {html}");
            assert_eq!(env.http.get(&privacy).send().await.unwrap().status(), 200);
        }
    }
}
