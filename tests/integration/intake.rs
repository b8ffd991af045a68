//! docs/api.md §1 through the real router, SDK and emulator.

use serde_json::{Value, json};
use zgoda_tests::{ORIGIN, TestEnv, address, contact_form, kinds, mails_to};

async fn env_with_form() -> (TestEnv, String) {
    let env = TestEnv::spawn().await;
    let owner = address("owner");
    env.put_form("kontakt", &contact_form(&owner)).await;
    (env, owner)
}

fn url(env: &TestEnv) -> String {
    format!("{}/v1/forms/kontakt/submissions", env.url)
}

/// A raw POST to the form from the allowed origin, as a JSON client.
async fn post_raw(env: &TestEnv, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    env.http
        .post(url(env))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error body has a message: {body}");
    (status, body["error"].clone())
}

#[tokio::test]
async fn art7_1_json_submission_stores_one_sealed_event_per_purpose() {
    let (env, _) = env_with_form().await;
    let email = address("jan");
    let resp = env
        .submit_json(
            "kontakt",
            &json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": "en", "name": "Jan"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["access-control-allow-origin"], ORIGIN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "pending_confirmation");
    assert_eq!(body["purposes"], json!({"newsletter": "requested", "contact_reply": "informed"}));
    assert_eq!(body["ignored_fields"], json!([]));

    let subject = env.items("SUBJECT#").await;
    let events: Vec<&Value> = subject.iter().filter(|i| i["sk"].as_str().unwrap().starts_with("EVENT#")).collect();
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e["notice_version"], "2026-11");
        assert_eq!(e["notice_lang"], "en");
        assert_eq!(e["notice_sha256"], sha("Consent text"), "the hash of the exact text shown, in English");
        assert_eq!(e["channel"], "web_form");
        assert_eq!(e["ip_prefix"], "127.0.0.0/24");
        assert!(e["seal"].as_str().unwrap().len() == 64 && e["kid"] == "k1");
        assert!(e.get("email").is_none());
    }
    let basis: Vec<_> = events.iter().map(|e| e["lawful_basis"].as_str().unwrap()).collect();
    assert!(basis.contains(&"consent") && basis.contains(&"contract"));
}

fn sha(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn art4_11_urlencoded_html_form_redirects_and_unticked_box_is_refused() {
    let (env, _) = env_with_form().await;
    let email = address("ola");
    let resp = env
        .http
        .post(url(&env))
        .header("origin", ORIGIN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={}&consent=contact_reply&notice_version=2026-11", email.replace('@', "%40")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/v1/forms/kontakt/thanks?status=recorded", env.url)), "{location}");
    let page = env.http.get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Dziękujemy"));
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["state"], json!({"newsletter": "refused", "contact_reply": "informed"}));
}

#[tokio::test]
async fn multipart_submission_is_accepted_and_a_file_part_is_415() {
    let (env, _) = env_with_form().await;
    let email = address("multi");
    let body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n{email}\r\n--B\r\nContent-Disposition: form-data; name=\"consent\"\r\n\r\ncontact_reply\r\n--B\r\nContent-Disposition: form-data; name=\"notice_version\"\r\n\r\n2026-11\r\n--B--\r\n"
    );
    let resp = post_raw(&env, "multipart/form-data; boundary=B", body).await;
    assert_eq!(resp.status(), 201);
    let file = "--B\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--B--\r\n";
    let (status, err) = error_of(post_raw(&env, "multipart/form-data; boundary=B", file).await).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn foreign_origin_is_403_and_preflight_answers_only_allowed_origins() {
    let (env, _) = env_with_form().await;
    let before = env.state().await;
    let body = json!({"email": address("x"), "consent": ["contact_reply"], "notice_version": "2026-11"});
    let resp = env.http.post(url(&env)).header("origin", "https://evil.example").json(&body).send().await.unwrap();
    let (status, err) = error_of(resp).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (403, "origin_not_allowed"));
    assert_eq!(env.state().await, before, "a foreign origin writes nothing");

    let pre = env
        .http
        .request(reqwest::Method::OPTIONS, url(&env))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], ORIGIN);
    assert!(pre.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert_eq!(pre.headers()["vary"], "Origin");
    let bad = env.http.request(reqwest::Method::OPTIONS, url(&env)).header("origin", "null").send().await.unwrap();
    assert_eq!(bad.status(), 403);
    assert!(bad.headers().get("access-control-allow-origin").is_none());
    // Without Origin, the Referer's origin decides.
    let via_referer = env
        .http
        .post(url(&env))
        .header("referer", format!("{ORIGIN}/kontakt?x=1"))
        .json(&json!({"email": address("r"), "consent": ["contact_reply"], "notice_version": "2026-11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(via_referer.status(), 201);
}

#[tokio::test]
async fn art4_11_honeypot_gets_the_success_answer_and_nothing_is_stored_or_sent() {
    let (env, owner) = env_with_form().await;
    let email = address("bot");
    let before = env.scan().await;
    let resp = env
        .submit_json(
            "kontakt",
            &json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "_gotcha": "http://spam"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "pending_confirmation");
    assert_eq!(env.scan().await, before);
    assert!(mails_to(&email).await.is_empty());
    assert!(mails_to(&owner).await.is_empty());
}

#[tokio::test]
async fn every_4xx_of_the_form_route_has_its_code_and_writes_nothing() {
    let (env, _) = env_with_form().await;
    let before = env.state().await;
    let ok = || json!({"email": address("v"), "consent": ["contact_reply"], "notice_version": "2026-11"});

    let resp = env.submit_json("no-such-form", &ok()).await;
    assert_eq!(error_of(resp).await.1["code"], "form_not_found");

    let mut stale = ok();
    stale["notice_version"] = json!("2020-01");
    let (status, err) = error_of(env.submit_json("kontakt", &stale).await).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (409, "stale_notice"));

    let (status, err) = error_of(env.submit_json("kontakt", &json!({"email": "not an address", "name": "x".repeat(101)})).await).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (422, "validation_failed"));
    let fields: Vec<(String, String)> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap().into(), f["code"].as_str().unwrap().into()))
        .collect();
    for want in [("email", "invalid"), ("notice_version", "required"), ("name", "too_long"), ("consent.contact_reply", "required")] {
        assert!(fields.contains(&(want.0.into(), want.1.into())), "{want:?} in {fields:?}");
    }

    let big = env
        .http
        .post(url(&env))
        .header("origin", ORIGIN)
        .json(&json!({"email": address("b"), "message": "x".repeat(70_000)}))
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(big).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (413, "payload_too_large"));
    assert_eq!(error_of(post_raw(&env, "text/plain", "email=a").await).await.0, 415);
    let (status, err) = error_of(post_raw(&env, "application/json", "{\"email\":").await).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (400, "malformed_body"));
    assert_eq!(error_of(post_raw(&env, "application/x-www-form-urlencoded", &b"email=%FF%FE"[..]).await).await.0, 400);

    assert_eq!(env.state().await, before, "no refused request leaves an item behind");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let env = TestEnv::spawn_with(|c| c.settings.subject_limit = 2).await;
    zgoda_tests::within_one_clock_hour(std::time::Duration::from_secs(60)).await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("often");
    let body = json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11"});
    for _ in 0..2 {
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    }
    let resp = env.submit_json("kontakt", &body).await;
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600);
    let (status, err) = error_of(resp).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (429, "rate_limited"));
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["events"].as_array().unwrap().len(), 4, "the refused third submission stored nothing");
}

/// Issue 26: a warm instance holds the form it read (`ZGODA_FORM_MAX_AGE_SECS`, 60 s by default).
#[tokio::test]
async fn art13_a_form_edited_through_the_api_is_served_within_form_max_age_and_a_new_notice_version_at_once() {
    const MAX_AGE: u64 = 6;
    let env = TestEnv::spawn_with(|c| c.settings.form_max_age = chrono::Duration::seconds(MAX_AGE as i64)).await;
    let mut form = contact_form(&address("owner"));
    env.put_form("kontakt", &form).await;
    let post = |version: &str, company: Option<&str>| {
        let mut body = json!({"email": address("edit"), "consent": ["contact_reply"], "notice_version": version});
        if let Some(c) = company {
            body["company"] = json!(c);
        }
        let env = &env;
        async move { env.submit_json("kontakt", &body).await }
    };
    assert_eq!(post("2026-11", None).await.status(), 201, "the form is read and held");
    let held_at = std::time::Instant::now();

    form["fields"].as_array_mut().unwrap().push(json!({"name": "company", "kind": "text", "required": true, "max_len": 100}));
    env.put_form("kontakt", &form).await;
    assert_eq!(post("2026-11", None).await.status(), 201, "within {MAX_AGE} s the held form is served");
    tokio::time::sleep(std::time::Duration::from_secs(MAX_AGE).saturating_sub(held_at.elapsed())).await;
    let (status, err) = error_of(post("2026-11", None).await).await;
    assert_eq!((status, err["fields"][0]["field"].as_str()), (422, Some("company")), "the edit is served after {MAX_AGE} s: {err}");

    assert_eq!(post("2026-11", Some("Sklep")).await.status(), 201, "read and held again");
    form["notice"] = json!({"version": "2026-12", "texts": {"pl": "Nowa treść zgody"}});
    env.put_form("kontakt", &form).await;
    assert_eq!(post("2026-12", Some("Sklep")).await.status(), 201, "a post naming the new notice version is accepted at once");
}

#[tokio::test]
async fn network_rate_limit_counts_the_truncated_network() {
    let env = TestEnv::spawn_with(|c| c.settings.network_limit = 3).await;
    zgoda_tests::within_one_clock_hour(std::time::Duration::from_secs(60)).await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let mut statuses = vec![];
    for _ in 0..4 {
        let body = json!({"email": address("n"), "consent": ["contact_reply"], "notice_version": "2026-11"});
        statuses.push(env.submit_json("kontakt", &body).await.status().as_u16());
    }
    assert_eq!(statuses, vec![201, 201, 201, 429]);
}

#[tokio::test]
async fn art5_1c_undeclared_fields_are_named_in_the_answer_and_stored_nowhere() {
    let (env, _) = env_with_form().await;
    let email = address("min");
    let resp = env
        .submit_json(
            "kontakt",
            &json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11",
            "pesel": "90010112345", "phone_secret": "SEKRET-555", "name": "Zofia"}),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["ignored_fields"], json!(["pesel", "phone_secret"]));
    let dump = serde_json::to_string(&env.scan().await).unwrap();
    assert!(!dump.contains("90010112345") && !dump.contains("SEKRET-555") && !dump.contains("pesel"));
    assert!(dump.contains("Zofia"), "declared fields are kept");
}

/// PKE art. 398: a mail asking for consent must not itself be marketing, in either language and
/// in its subject line too, even when the business gives its form a promotional name.
#[tokio::test]
async fn pke398_double_opt_in_sends_a_transactional_confirmation_mail_in_the_subjects_language() {
    let env = TestEnv::spawn().await;
    let owner = address("owner");
    let mut form = contact_form(&owner);
    form["name"] = json!("Wielka wyprzedaż: rabat -50% / Big sale: 50% discount offer");
    env.put_form("kontakt", &form).await;
    let marketing = ["oferta", "ofert", "rabat", "promocj", "wyprzeda", "zniżk", "offer", "discount", "promo", "sale", "deal"];
    for (lang, subject, footer) in
        [("pl", "Potwierdź zapis", "Nie zawiera treści marketingowych."), ("en", "Confirm your sign-up", "It contains no marketing.")]
    {
        let email = address(&format!("doi-{lang}"));
        let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": lang});
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
        let mails = mails_to(&email).await;
        assert_eq!(mails.len(), 1, "{lang}: one mail, the confirmation");
        let m = &mails[0];
        assert_eq!(m.subject(), subject, "{lang}: the subject is the request, never the form's name");
        assert_eq!(m.parsed().header_raw("Content-Language").map(str::trim), Some(lang));
        let links = m.links();
        assert_eq!(links.len(), 1);
        assert!(links[0].starts_with(&format!("{}/v1/links/", env.url)));
        assert!(!links[0].contains(&email) && !links[0].contains("%40"), "no address in the token");
        assert!(m.text().contains(footer), "{lang}: says it is transactional");
        // The form's name is quoted once to say which sign-up this is; nothing else sells.
        let text = m.text().replace(form["name"].as_str().unwrap(), "").to_lowercase();
        for word in marketing {
            assert!(!text.contains(word) && !m.subject().to_lowercase().contains(word), "{lang}: {word}");
        }
        assert!(m.parsed().body_html(0).is_some(), "text and HTML parts");
    }
    let owner_mail = mails_to(&owner).await;
    assert_eq!(owner_mail.len(), 2);
}

#[tokio::test]
async fn art5_1c_the_owner_mail_copies_no_address_and_no_value_unless_the_form_asks_and_the_lookup_shows_them() {
    let (env, owner) = env_with_form().await;
    let email = address("quiet");
    let message = "Proszę o kontakt w sprawie zamówienia 4711";
    let body =
        json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11", "name": "Zofia Testowa", "message": message});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let mails = mails_to(&owner).await;
    assert_eq!(mails.len(), 1);
    let (m, subject) = (&mails[0], env.subject_id(&email).await);
    let html = m.parsed().body_html(0).unwrap().to_string();
    for (part, copy) in [("text", m.text()), ("HTML", html)] {
        for personal in [email.as_str(), "Zofia", "4711"] {
            assert!(!copy.contains(personal), "the {part} part copies {personal:?}:\n{copy}");
        }
        assert!(copy.contains("Wypełnione pola") && copy.contains("name, message"), "{part}: which fields were filled:\n{copy}");
        assert!(copy.contains(&format!("zgoda subjects lookup --subject {subject}")), "{part}: how to see the rest:\n{copy}");
    }
    assert!(m.parsed().reply_to().is_none(), "no Reply-To: it would copy the address");

    // The operator sees the rest by the id the mail gives.
    let resp = env.operator("POST", "/v1/admin/subjects/lookup", Some(&json!({"subject_id": subject.to_string()}))).await;
    assert_eq!(resp.status(), 200);
    let view: Value = resp.json().await.unwrap();
    assert_eq!(view["email"], email.as_str());
    assert_eq!(view["submissions"][0]["fields"]["message"], message);
    assert_eq!(view["state"]["contact_reply"], "informed");
    for (body, field, code) in [
        (json!({"email": email, "subject_id": subject.to_string()}), "subject_id", "not_with_email"),
        (json!({}), "email", "required"),
        (json!({"subject_id": "not-an-id"}), "subject_id", "invalid"),
    ] {
        let resp = env.operator("POST", "/v1/admin/subjects/lookup", Some(&body)).await;
        let (status, error) = error_of(resp).await;
        assert_eq!((status, &error["fields"][0]["field"], &error["fields"][0]["code"]), (422, &json!(field), &json!(code)), "{body}");
    }

    // A form that asks for the values gets them, with the address to reply to. (Another form: an
    // edit of this one would reach posts only after `form_max_age`.)
    let mut form = contact_form(&owner);
    form["owner_notice"] = json!("values");
    env.put_form("wartosci", &form).await;
    assert_eq!(env.submit_json("wartosci", &body).await.status(), 201);
    let mails = mails_to(&owner).await;
    let m = mails.last().unwrap();
    assert!(m.text().contains(&email) && m.text().contains(message));
    assert_eq!(m.parsed().reply_to().and_then(|a| a.first()).and_then(|a| a.address()), Some(email.as_str()));
}

#[tokio::test]
async fn a_crlf_bcc_in_any_field_cannot_add_a_header_to_the_owner_mail() {
    let env = TestEnv::spawn().await;
    let owner = address("owner");
    let mut form = contact_form(&owner);
    form["owner_notice"] = json!("values");
    env.put_form("kontakt", &form).await;
    let victim = address("victim");
    let email = address("inj");
    // A one-line field refuses line breaks outright.
    let resp = env
        .submit_json(
            "kontakt",
            &json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11",
        "name": format!("Jan\r\nBcc: {victim}")}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    // A multi-line field keeps them, in the body only.
    let resp = env
        .submit_json(
            "kontakt",
            &json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11",
        "name": format!("Jan Bcc: {victim}"), "message": format!("hello\r\nBcc: {victim}\r\nSubject: pwned\r\n\r\nx")}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let mails = mails_to(&owner).await;
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.to, vec![owner.clone()], "the emulator delivered to the owner only");
    let parsed = m.parsed();
    assert!(parsed.bcc().is_none());
    assert_eq!(parsed.subject(), Some("Nowe zgłoszenie: Newsletter"));
    assert!(m.text().contains(&victim), "the text stays in the body");
    assert!(mails_to(&victim).await.is_empty());
}

#[tokio::test]
async fn html_errors_redirect_to_the_configured_error_url_only() {
    let env = TestEnv::spawn().await;
    let mut form = contact_form(&address("owner"));
    form["error_url"] = json!("https://sklep.example.pl/blad");
    form["success_url"] = json!("https://sklep.example.pl/dziekujemy?x=1");
    env.put_form("kontakt", &form).await;
    let resp = env
        .http
        .post(format!("{}?next=https://evil.example", url(&env)))
        .header("origin", ORIGIN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=bad&next=https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "https://sklep.example.pl/blad?error=validation_failed");
    let ok = env
        .http
        .post(url(&env))
        .header("origin", ORIGIN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={}&consent=contact_reply&notice_version=2026-11", address("ok").replace('@', "%40")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.headers()["location"], "https://sklep.example.pl/dziekujemy?x=1");
}

#[tokio::test]
async fn html_error_without_error_url_is_the_built_in_page_with_the_status() {
    let (env, _) = env_with_form().await;
    let resp = env
        .http
        .post(url(&env))
        .header("origin", ORIGIN)
        .header("accept-language", "en")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=nope&notice_version=2026-11")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let page = resp.text().await.unwrap();
    assert!(page.contains("The form could not be sent") && page.contains("consent.contact_reply"));
}

#[tokio::test]
async fn each_submission_extends_one_chain_and_resubmitting_keeps_one_subject() {
    let (env, _) = env_with_form().await;
    let email = address("again");
    for lang in ["pl", "en"] {
        let body = json!({"email": email.to_uppercase(), "consent": ["contact_reply"], "notice_version": "2026-11", "lang": lang});
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    }
    let items = env.items("SUBJECT#").await;
    let k = kinds(&items);
    assert_eq!(k["EVENT"], 4);
    assert_eq!(k["PROFILE"], 1);
    assert_eq!(k["HEAD"], 1);
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["proof"], json!({"verified": true, "events": 4, "broken_at": null}));
    let seqs: Vec<u64> = view["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

/// A stack with the form `news`: the contact form with a double-opt-in newsletter as its only
/// purpose, no owner notices, and `fields` instead of the contact form's if given.
async fn newsletter_only(adjust: impl FnOnce(&mut zgoda_aws::Config), fields: Option<Value>) -> TestEnv {
    let env = TestEnv::spawn_with(adjust).await;
    let mut form = contact_form(&address("owner"));
    form["purposes"] = json!([{"id": "newsletter", "lawful_basis": "consent", "required": false, "double_opt_in": true}]);
    form["notify"] = json!([]);
    if let Some(fields) = fields {
        form["fields"] = fields;
    }
    env.put_form("news", &form).await;
    env
}

#[tokio::test]
async fn art5_1e_an_address_kept_only_for_an_unconfirmed_request_expires_with_it_and_a_confirmation_keeps_it() {
    use zgoda_domain::store::SubjectStore;
    // A newsletter-only form: nothing but the double opt-in request keeps the address.
    async fn env_with_newsletter(adjust: impl FnOnce(&mut zgoda_aws::Config)) -> TestEnv {
        newsletter_only(adjust, Some(json!([]))).await
    }
    async fn subscribe(env: &TestEnv, email: &str) -> Option<i64> {
        let body = json!({"email": email, "consent": ["newsletter"], "notice_version": "2026-11"});
        assert_eq!(env.submit_json("news", &body).await.status(), 201);
        profile_ttl(env, email).await
    }
    async fn profile_ttl(env: &TestEnv, email: &str) -> Option<i64> {
        let sid = env.subject_id(email).await;
        let items = env.items(&format!("SUBJECT#{sid}")).await;
        items.into_iter().find(|i| i["sk"] == "PROFILE").expect("a profile")["ttl"].as_i64()
    }

    // The request lapses: so does the address (a short confirmation window, to see it happen).
    let confirm_ttl = chrono::Duration::seconds(4);
    let short = env_with_newsletter(|c| c.settings.confirm_ttl = confirm_ttl).await;
    let waiting = address("waiting");
    let before = chrono::Utc::now();
    let ttl = subscribe(&short, &waiting).await.expect("a TTL on the profile");
    let deadline = (before + confirm_ttl).timestamp();
    // The submission's own time is between `before` and now, however slow the machine.
    assert!((deadline..=(chrono::Utc::now() + confirm_ttl).timestamp()).contains(&ttl), "the request's deadline {deadline}, not {ttl}");
    let lapsed = short.subject_id(&waiting).await;
    let expiry = chrono::DateTime::from_timestamp(ttl, 0).unwrap();
    tokio::time::sleep((expiry - chrono::Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_secs(1)).await;
    assert!(
        short.local.apps.operator.store.load_profile(&lapsed).await.unwrap().is_none(),
        "an expired profile reads as gone before DynamoDB deletes it"
    );
    assert!(short.local.apps.operator.store.load_subject(&lapsed).await.unwrap().profile.is_none());

    // Confirming gives consent: from then on the address is kept for it.
    let env = env_with_newsletter(|_| {}).await;
    let confirming = address("confirming");
    assert!(subscribe(&env, &confirming).await.is_some());
    let link = mails_to(&confirming).await[0].links()[0].clone();
    assert_eq!(env.http.post(&link).send().await.unwrap().status(), 200);
    assert_eq!(profile_ttl(&env, &confirming).await, None, "no TTL once consent is given");
    let (status, view) = env.lookup(&confirming).await;
    assert_eq!((status, view["state"]["newsletter"].as_str()), (200, Some("given")));
}

/// Security review M2: what a form carried beyond the address (a name, a message) never outlives
/// what lets the person reach it. While only an unconfirmed request keeps the address, the content
/// expires with it; a confirmation keeps both for the form's retention; and content stored without
/// an address (as before this fix) is still seen by every right: privacy request, lookup, erasure.
#[tokio::test]
async fn m2_submission_content_never_outlives_the_address_and_every_right_sees_it() {
    use zgoda_domain::store::SubjectStore;
    async fn subscribe(env: &TestEnv, email: &str) -> Vec<Value> {
        let body = json!({"email": email, "name": "Jan Kowalski", "consent": ["newsletter"], "notice_version": "2026-11"});
        assert_eq!(env.submit_json("news", &body).await.status(), 201);
        env.items(&format!("SUBJECT#{}", env.subject_id(email).await)).await
    }
    fn ttl_of(items: &[Value], prefix: &str) -> Option<i64> {
        items.iter().find(|i| i["sk"].as_str().unwrap().starts_with(prefix)).expect(prefix)["ttl"].as_i64()
    }

    // Only the unconfirmed request keeps the address: the name goes when the address goes.
    let short = newsletter_only(|c| c.settings.confirm_ttl = chrono::Duration::seconds(4), None).await;
    let waiting = address("m2-waiting");
    let items = subscribe(&short, &waiting).await;
    let profile_ttl = ttl_of(&items, "PROFILE").expect("a temporary profile");
    let content_ttl = ttl_of(&items, "SUBMISSION#").expect("a TTL on the content");
    assert!(content_ttl <= profile_ttl, "the content ({content_ttl}) outlives the address ({profile_ttl})");
    let lapsed = short.subject_id(&waiting).await;
    let expiry = chrono::DateTime::from_timestamp(profile_ttl, 0).unwrap();
    tokio::time::sleep((expiry - chrono::Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_secs(1)).await;
    let record = short.local.apps.operator.store.load_subject(&lapsed).await.unwrap();
    assert!(record.profile.is_none() && record.submissions.is_empty(), "nothing personal left: {record:?}");

    let env = newsletter_only(|_| {}, None).await;
    // A confirmation keeps the content for the form's retention (365 days), like the address.
    let confirming = address("m2-confirming");
    subscribe(&env, &confirming).await;
    let link = mails_to(&confirming).await[0].links()[0].clone();
    assert_eq!(env.http.post(&link).send().await.unwrap().status(), 200);
    let items = env.items(&format!("SUBJECT#{}", env.subject_id(&confirming).await)).await;
    let kept = ttl_of(&items, "SUBMISSION#").unwrap();
    assert!(kept > (chrono::Utc::now() + chrono::Duration::days(364)).timestamp(), "kept only until {kept}");

    // Content without its address, as stored before this fix: every right still sees it.
    let orphan = address("m2-orphan");
    subscribe(&env, &orphan).await;
    let pk = format!("SUBJECT#{}", env.subject_id(&orphan).await);
    env.delete_item(&pk, "PROFILE").await;
    let asked = env.privacy_request(&orphan, "access").await;
    assert_eq!(asked.status(), 202);
    let answer = mails_to(&orphan).await.pop().expect("an answer");
    assert_eq!(answer.subject(), "Your data: download link", "not \"no data held\"");
    let export: Value = env.http.post(&answer.links()[0]).send().await.unwrap().json().await.unwrap();
    assert_eq!(export["submissions"][0]["fields"]["name"], "Jan Kowalski", "{export}");
    assert_eq!(env.lookup(&orphan).await.0, 200, "the operator finds the person");
    let erase = env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": orphan, "reason": "request"}))).await;
    assert_eq!(erase.status(), 200);
    let left = env.items(&pk).await;
    assert!(!left.iter().any(|i| i["sk"].as_str().unwrap().starts_with("SUBMISSION#")), "the content is erased: {left:?}");
}

/// Security review H2: all mail public routes trigger shares one hourly budget (2 here). Past it,
/// forms and the privacy page still answer as usual, the mail is not sent, the privacy request is
/// recorded as held back, and an error is logged (which raises an alarm when deployed). Breach
/// notices never count against it: the public cannot spend the quota they need.
#[tokio::test]
async fn h2_public_mail_has_an_hourly_budget_that_breach_notices_do_not_share() {
    let env = TestEnv::spawn_with(|c| c.settings.public_mail_per_hour = 2).await;
    zgoda_tests::within_one_clock_hour(std::time::Duration::from_secs(90)).await;
    let mut form = contact_form(&address("owner"));
    form["notify"] = json!([]);
    env.put_form("kontakt", &form).await;
    let people: Vec<String> = (0..3).map(|i| address(&format!("budget{i}"))).collect();
    for email in &people {
        let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201, "the form answers as usual");
    }
    assert_eq!(mails_to(&people[0]).await.len(), 1);
    assert_eq!(mails_to(&people[1]).await.len(), 1);
    assert!(mails_to(&people[2]).await.is_empty(), "past the budget: no confirmation mail");
    let privacy = env.privacy_request(&people[0], "access").await;
    assert_eq!(privacy.status(), 202);
    let subject = env.subject_id(&people[0]).await;
    let requests: Vec<Value> =
        env.items(&format!("SUBJECT#{subject}")).await.into_iter().filter(|i| i["sk"].as_str().unwrap().starts_with("REQUEST#")).collect();
    assert_eq!(requests[0]["outcome"], "mail_budget_spent", "recorded, and still due");
    let logs = String::from_utf8_lossy(&zgoda_tests::captured_logs().lock().unwrap()).into_owned();
    assert!(logs.contains("public mail budget spent"));

    let breach = env.operator("POST", "/v1/breaches", Some(&crate::breaches::breach_body(2))).await.json::<Value>().await.unwrap();
    let id = breach["id"].as_str().unwrap();
    let body = json!({"subjects": {"emails": [people[2]]}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});
    let (status, answer) = crate::breaches::escalate(&env, id, "esc-budget", &body).await;
    assert_eq!(status, 202, "{answer}");
    env.start_notifier(10);
    let done =
        crate::breaches::wait_finished(&env, id, answer["escalation_id"].as_str().unwrap(), std::time::Duration::from_secs(60)).await;
    assert_eq!(done["sent"], 1, "{done}");
    assert_eq!(mails_to(&people[2]).await.len(), 1, "the breach notice went out past the public budget");
}

/// Security review M4: an address SES cannot deliver to (letters outside ASCII before the @) is a
/// 422 naming the field, with nothing stored, not a subject no mail will ever reach; a Unicode
/// domain and its punycode spelling are one mailbox and so one subject.
#[tokio::test]
async fn m4_undeliverable_addresses_are_refused_and_idn_spellings_are_one_subject() {
    let (env, _) = env_with_form().await;
    let before = env.state().await;
    let body = json!({"email": "zażółć@klient.example.pl", "consent": ["contact_reply"], "notice_version": "2026-11", "message": "x"});
    let (status, err) = error_of(env.submit_json("kontakt", &body).await).await;
    assert_eq!((status, err["code"].as_str()), (422, Some("validation_failed")));
    assert_eq!(err["fields"], json!([{"field": "email", "code": "not_deliverable"}]), "{err}");
    assert_eq!(env.state().await, before, "nothing written");

    let tag = zgoda_tests::unique();
    let unicode = format!("m4.{tag}@żółw.example.pl");
    let body = json!({"email": unicode, "consent": ["contact_reply"], "notice_version": "2026-11", "message": "x"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let (status, view) = env.lookup(&format!("m4.{tag}@xn--w-uga1v8h.example.pl")).await;
    assert_eq!(status, 200, "the punycode spelling finds the same person: {view}");
    assert_eq!(view["subject_id"], env.lookup(&unicode).await.1["subject_id"]);
}
