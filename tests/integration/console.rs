//! The DPO's console (`/console`): a static page whose script signs every operator request in the
//! browser with WebCrypto, as the CLI does.

use std::time::Duration;

use serde_json::{Value, json};
use zgoda_tests::browser::Browser;
use zgoda_tests::{TestEnv, address, all_mails, mails_to, unique};

use crate::breaches::{breach_body, register};
use crate::requests::asked;

#[tokio::test]
async fn asvs_the_console_is_served_under_a_strict_csp_with_no_inline_script_or_style() {
    let env = TestEnv::spawn().await;
    let page = env.http.get(format!("{}/console", env.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), html.matches("<script src=\"/console/console.js\"").count(), "only its own script");
    assert!(!html.contains("style=") && !html.contains("<style"), "no inline style");
    let script = env.http.get(format!("{}/console/console.js", env.url)).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let source = script.text().await.unwrap();
    assert!(source.contains("crypto.subtle.importKey") && !source.contains("import "), "WebCrypto alone, no library");
    assert!(!source.contains("http://") && !source.contains("https://"), "nothing fetched from elsewhere");
    let style = env.http.get(format!("{}/console/console.css", env.url)).send().await.unwrap();
    assert_eq!(style.headers()["content-type"], "text/css; charset=utf-8");
}

/// The register's first countdown, as the page shows it.
async fn countdown(browser: &Browser) -> String {
    browser.text_of("#breaches .countdown").await
}

#[tokio::test]
async fn art33_1_the_console_signs_in_with_the_operator_key_and_counts_down_to_the_authority_in_chromium() {
    let env = TestEnv::spawn().await;
    let breach = register(&env, &breach_body(2)).await;
    let title = breach["title"].as_str().unwrap().to_owned();
    let browser = Browser::start("en").await;

    // A wrong key: a clear message, and nothing shown.
    browser.goto(&format!("{}/console?lang=en", env.url)).await;
    browser.wait_for("Sign in with an operator key").await;
    browser.type_into("#kid", &env.operator.kid).await;
    browser.type_into("#key", &"ab".repeat(32)).await;
    browser.click("button[type=submit]").await;
    browser.wait_for("did not accept the signature").await;
    assert!(!browser.source().await.contains(&title));
    browser.screenshot("console-refused-en").await;

    // The operator's key: the register, with the authority's deadline counting down (70 h left).
    browser.type_into("#key", &env.operator.key_hex).await;
    browser.click("button[type=submit]").await;
    browser.wait_for(&title).await;
    let first = countdown(&browser).await;
    assert!(first.starts_with("69 h") || first.starts_with("70 h"), "{first}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_ne!(countdown(&browser).await, first, "the countdown is live");
    let class = browser.eval("return document.querySelector('#breaches .countdown').className").await;
    assert_eq!(class, "countdown open");
    browser.screenshot("console-register-en").await;

    // The key never left the page: not in any address it fetched, not in the tab's storage.
    let seen = browser
        .eval("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]).join(' ')")
        .await;
    assert!(!seen.as_str().unwrap().contains(&env.operator.key_hex), "{seen}");
    assert_eq!(browser.eval("return document.getElementById('key').value").await, Value::from(""));

    // Polish, and signed out again once the tab's key is gone (not remembered on the device).
    browser.goto(&format!("{}/console?lang=pl", env.url)).await;
    browser.wait_for("Zaloguj się kluczem operatora").await;
    browser.type_into("#kid", &env.operator.kid).await;
    browser.type_into("#key", &env.operator.key_hex).await;
    browser.click("#remember").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("Rejestr naruszeń").await;
    browser.wait_for(&title).await;
    browser.screenshot("console-register-pl").await;
    // Remembered on this device: a reload signs in by itself, from the non-extractable key.
    browser.goto(&format!("{}/console?lang=pl", env.url)).await;
    browser.wait_for(&title).await;
    browser.click("#sign-out").await;
    browser.goto(&format!("{}/console?lang=pl", env.url)).await;
    browser.wait_for("Zaloguj się kluczem operatora").await;
    browser.quit().await;
}

/// Signs in with the operator's key, for the tab only.
/// A view asked for and left before it arrived (a quick click on another tab) is dropped; the
/// countdown it would have started must not keep running behind the view that is shown.
#[tokio::test]
async fn art33_1_a_view_left_before_it_arrives_leaves_no_countdown_running_in_chromium() {
    let env = TestEnv::spawn().await;
    register(&env, &breach_body(2)).await;
    let browser = Browser::start("en").await;
    sign_in(&browser, &env, "en").await;
    let on_forms =
        "return document.querySelector('#tabs a.current')?.getAttribute('href') === '#/forms' && !!document.querySelector('#view h2')";
    browser.eval("location.hash = '#/forms'; return true").await;
    wait_until(&browser, on_forms, "the forms view shown").await;
    // Every interval the page starts from here on, until it is cleared.
    browser
        .eval(
            "window.live = new Set(); const start = window.setInterval.bind(window), stop = window.clearInterval.bind(window); \
             window.setInterval = (f, ms) => { const id = start(f, ms); live.add(id); return id; }; \
             window.clearInterval = (id) => { live.delete(id); stop(id); }; return true",
        )
        .await;
    // The register (which counts down) asked for, and the forms view at once after it.
    browser.eval("location.hash = '#/'; setTimeout(() => { location.hash = '#/forms'; }, 0); return true").await;
    wait_until(&browser, on_forms, "the forms view shown again").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(browser.eval("return live.size").await, Value::from(0), "the dropped register's countdown still runs");
}

async fn sign_in(browser: &Browser, env: &TestEnv, lang: &str) {
    browser.goto(&format!("{}/console?lang={lang}", env.url)).await;
    enter_key(browser, env).await;
    browser.wait_for(&format!("<span id=\"who\">Operator: {}</span>", env.operator.kid)).await;
}

/// Waits (up to 15 s) until `script` returns true in the page.
async fn wait_until(browser: &Browser, script: &str, what: &str) {
    let started = std::time::Instant::now();
    while browser.eval(script).await != Value::Bool(true) {
        assert!(started.elapsed() < Duration::from_secs(15), "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fills the sign-in form the page shows (a tab's key does not outlive a reload); the form is in
/// the page from the start but shown only once the page has looked for a remembered key.
async fn enter_key(browser: &Browser, env: &TestEnv) {
    wait_until(browser, "return !document.getElementById('sign-in').hidden", "the sign-in form shown").await;
    browser.type_into("#kid", &env.operator.kid).await;
    browser.type_into("#key", &env.operator.key_hex).await;
    browser.click("#sign-in-form button[type=submit]").await;
}

/// Sets a field the way typing does (an `input` event), for long or chosen values.
async fn set_field(browser: &Browser, css: &str, value: &str) {
    let script = format!(
        "const f = document.querySelector({css:?}); f.value = {value:?}; f.dispatchEvent(new Event('input', {{bubbles: true}})); f.dispatchEvent(new Event('change', {{bubbles: true}})); return f.value"
    );
    assert_eq!(browser.eval(&script).await, Value::from(value));
}

#[tokio::test]
async fn art34_1_the_console_records_entries_drafts_the_report_and_escalates_to_200_people_once_through_a_reload_in_chromium() {
    let env = TestEnv::spawn().await;
    let breach = register(&env, &breach_body(5)).await;
    let id = breach["id"].as_str().unwrap().to_owned();
    let browser = Browser::start("en").await;
    sign_in(&browser, &env, "en").await;
    browser.wait_for(&format!("href=\"#/breach/{id}\"")).await;
    browser.click(&format!("#breaches a[href='#/breach/{id}']")).await;
    browser.wait_for("Seals checked: 1 entries, the chain is intact.").await;
    assert!(browser.text_of("#severity").await.contains("SE = DPC × EI + CB = 3.25 (high)"), "the band with the rule that chose it");
    assert!(browser.text_of("#breach-countdown").await.starts_with("66 h"), "the authority's deadline counts down");

    // A measure: sealed into the timeline at once.
    set_field(&browser, "#entry-form [name=description]", "Zmieniono hasła administratorów.").await;
    browser.click("#entry-form button[type=submit]").await;
    browser.wait_for("Seals checked: 2 entries").await;
    assert!(browser.text_of("#timeline").await.contains("Zmieniono hasła administratorów."));

    // A decision asks first, naming what will be recorded; "cancel" records nothing.
    set_field(&browser, "#entry-form [name=type]", "authority_decision").await;
    set_field(&browser, "#entry-form [name=justification]", "Wysokie ryzyko dla klientów.").await;
    browser.click("#entry-form button[type=submit]").await;
    browser.wait_for("Record the decision").await;
    assert!(browser.text_of("#confirm-text").await.contains("decision: notify the authority: notify"));
    browser.click("#confirm-no").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let timeline = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(timeline["timeline"].as_array().unwrap().len(), 2, "cancelled: nothing recorded");
    browser.click("#entry-form button[type=submit]").await;
    browser.wait_for("Record the decision").await;
    browser.click("#confirm-yes").await;
    browser.wait_for("Seals checked: 3 entries").await;

    // The report draft, rendered, with what it still lacks.
    browser.wait_for("Personal data breach notification").await;
    browser.screenshot("console-breach-en").await;

    // 200 people: previewed, confirmed by count and language, then sent.
    let people: Vec<String> = (0..200).map(|i| address(&format!("esc{i}"))).collect();
    set_field(&browser, "#escalation-form [name=emails]", &people.join("\n")).await;
    set_field(&browser, "#escalation-form [name=advice_pl]", "Zmień hasło do sklepu.").await;
    browser.click("#preview").await;
    browser.wait_for("200 people: 200 in Polish; unreachable (erased): 0.").await;
    assert!(browser.text_of(".notice-pl").await.contains("Zmień hasło do sklepu."), "the Polish notice as it will be sent");
    browser.click("#send").await;
    browser.wait_for("Send 200 notices (200 in Polish)?").await;
    browser.screenshot("console-escalation-confirm-en").await;
    browser.click("#confirm-yes").await;
    browser.wait_for("sent 0, failed 0, pending 200 of 200").await;
    let kept = browser.eval(&format!("return localStorage.getItem('zgoda-escalation:{id}')")).await;
    assert!(kept.as_str().is_some_and(|k| k.contains("\"key\"")), "the key is kept until the notices are out: {kept}");

    // A reload before anything went out repeats the same request under the same key, once the
    // operator has signed in again.
    browser.reload().await;
    enter_key(&browser, &env).await;
    browser.wait_for("pending 200 of 200").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let view = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(view["escalations"].as_array().unwrap().len(), 1, "the reload started nothing new: {}", view["escalations"]);
    env.start_notifier(40);
    let started = std::time::Instant::now();
    loop {
        let text = browser.text_of("#escalation-progress").await;
        if !text.contains("sent 0,") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "nothing sent: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And one mid-way.
    browser.reload().await;
    enter_key(&browser, &env).await;
    let started = std::time::Instant::now();
    while !browser.source().await.contains("sent 200, failed 0, pending 0 of 200 · finished") {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", browser.text_of("#escalation-progress").await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.eval("document.getElementById('escalation-progress').scrollIntoView(); return 1").await;
    browser.screenshot("console-escalation-done-en").await;
    // Done: the kept key is forgotten (by the poll that follows it, within a second or two).
    let started = std::time::Instant::now();
    while browser.eval(&format!("return localStorage.getItem('zgoda-escalation:{id}')")).await != Value::Null {
        assert!(started.elapsed() < Duration::from_secs(5), "done: forgotten");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let view = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(view["escalations"].as_array().unwrap().len(), 1, "one escalation: {}", view["escalations"]);
    let mails = all_mails().await;
    for person in &people {
        assert_eq!(mails.iter().filter(|m| m.to.iter().any(|to| to == person)).count(), 1, "{person}: one notice");
    }
    browser.quit().await;
}

#[tokio::test]
async fn art33_5_every_console_view_shows_in_polish_and_english_in_chromium() {
    let env = TestEnv::spawn().await;
    let breach = register(&env, &breach_body(30)).await;
    let id = breach["id"].as_str().unwrap().to_owned();
    let missing = breach["report_missing"].as_array().unwrap().len();
    assert_eq!(breach["report_missing"][0], "notifying_entity", "the controller is not named in the body");
    for (lang, headings, lacking) in [
        ("pl", ["Incydenty", "Żądania", "Plany działań", "Formularze", "Osoby", "Webhooki", "Zgłaszanie"], "podmiot zgłaszający"),
        ("en", ["Incidents", "Requests", "Action plans", "Forms", "People", "Webhooks", "Reporting"], "notifying entity"),
    ] {
        let browser = Browser::start(lang).await;
        sign_in(&browser, &env, lang).await;
        browser.wait_for(&format!("data-breach=\"{id}\"")).await;
        browser.screenshot(&format!("console-register-missing-{lang}")).await;
        let row = browser.text_of(&format!("tr[data-breach='{id}']")).await;
        assert!(row.contains(&breach["title"].as_str().unwrap()[..10]), "{row}");
        assert!(row.contains(&format!("{missing}: {lacking}")), "what the report lacks, in {lang}: {row}");
        fits_a_phone(&browser, "the register").await;
        for (tab, heading) in ["incidents", "requests", "plans", "forms", "subjects", "webhooks", "reporting"].iter().zip(headings) {
            browser.click(&format!("#tabs a[href='#/{tab}']")).await;
            browser.wait_for(&format!("<h2>{heading}</h2>")).await;
            browser.screenshot(&format!("console-{tab}-{lang}")).await;
            fits_a_phone(&browser, tab).await;
        }
        browser.click("#tabs a[href='#/']").await;
        browser.wait_for("id=\"new-breach\"").await;
        browser.click("#new-breach").await;
        browser.wait_for("id=\"breach-form\"").await;
        browser.screenshot(&format!("console-new-breach-{lang}")).await;
        fits_a_phone(&browser, "the registration form").await;
        browser.goto(&format!("{}/console?lang={lang}#/breach/{id}", env.url)).await;
        browser.wait_for("id=\"seal-check\"").await;
        browser.screenshot(&format!("console-breach-{lang}")).await;
        fits_a_phone(&browser, "a breach").await;
        browser.quit().await;
    }
}

/// The page is as wide as the browser's 420-pixel window (a phone's): nothing to scroll sideways.
async fn fits_a_phone(browser: &Browser, view: &str) {
    let widths = browser.eval("return [document.documentElement.scrollWidth, window.innerWidth]").await;
    assert!(widths[0].as_u64() <= widths[1].as_u64(), "{view} is wider than the phone: {widths}");
}

/// An incident reported through a reporting link by `reporter`: its id and what it says.
async fn reported_incident(env: &TestEnv, reporter: &str) -> (String, String) {
    let channel = json!({"channel_id": format!("c{}", unique().to_lowercase()), "name": "Sklep"});
    let link = env.operator("POST", "/v1/admin/reporting-links", Some(&channel)).await.json::<Value>().await.unwrap();
    let what = format!("Zgubiony pendrive z fakturami {}.", unique());
    let report = [("what", what.as_str()), ("noticed_by", "Jan"), ("contact_email", reporter)];
    let reported = env.http.post(link["url"].as_str().unwrap()).form(&report).send().await.unwrap();
    assert_eq!(reported.status(), 201);
    let incidents = env.operator("GET", "/v1/incidents", None).await.json::<Value>().await.unwrap();
    let incident = incidents["items"].as_array().unwrap().iter().find(|i| i["report"]["what"] == what.as_str()).expect("in triage");
    (incident["incident_id"].as_str().unwrap().to_owned(), what)
}

#[tokio::test]
async fn art33_1_the_console_asks_a_reporter_and_registers_their_incident_as_a_breach_in_chromium() {
    let env = TestEnv::spawn().await;
    let reporter = address("console-reporter");
    let (incident, what) = reported_incident(&env, &reporter).await;
    let browser = Browser::start("en").await;
    sign_in(&browser, &env, "en").await;

    // A question goes to the reporter by mail, after a confirmation.
    browser.click("#tabs a[href='#/incidents']").await;
    browser.wait_for(&format!("id=\"ask-{incident}\"")).await;
    browser.eval(&format!("document.querySelector('#ask-{incident}').closest('details').open = true; return 1")).await;
    set_field(&browser, &format!("#ask-{incident} [name=question]"), "Czy pendrive był zaszyfrowany?").await;
    browser.click(&format!("#ask-{incident} button[type=submit]")).await;
    browser.wait_for("Mail the reporter this question?").await;
    browser.click("#confirm-yes").await;
    browser.wait_for("Done.").await;
    let asked = mails_to(&reporter).await.into_iter().find(|m| m.text().contains("Czy pendrive był zaszyfrowany?"));
    assert!(asked.is_some(), "the reporter is asked by mail");

    // Registering it: the form starts from the report; a breach of nothing is refused, naming the field.
    browser.eval(&format!("document.querySelector('#ask-{incident}').closest('details').open = true; return 1")).await;
    browser.click(&format!("tr[data-incident='{incident}'] a[href='#/new-breach/{incident}']")).await;
    browser.wait_for("id=\"breach-form\"").await;
    assert!(browser.text_of("#incident-report").await.contains(&what));
    let nature = browser.eval("return document.querySelector('#breach-form [name=nature]').value").await;
    assert_eq!(nature, Value::from(what.as_str()), "the nature starts from the report");
    set_field(&browser, "#breach-form [name=title]", "Zgubiony pendrive").await;
    set_field(&browser, "#breach-form [name=contact_name]", "IOD Anna Nowak").await;
    set_field(&browser, "#breach-form [name=contact_email]", &address("console-iod")).await;
    // Aware (now) differs from detected (the report's minute) once a minute has turned since the
    // report, and then the form must say why (Art. 33(1)); a DPO reading a report later always does.
    set_field(&browser, "#breach-form [name=aware_justification]", "Zgłoszenie przeczytane po jego nadejściu.").await;
    browser.click("#breach-form button[type=submit]").await;
    browser.wait_for("cia none_affected").await;
    let untouched = env.operator("GET", &format!("/v1/incidents/{incident}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(untouched["status"], "awaiting_reporter", "refused: nothing registered");

    // With what was lost and the ENISA inputs: registered under the incident's id, clock running.
    browser.click("#breach-form [name=confidentiality]").await;
    set_field(&browser, "#breach-form [name=dpc]", "financial").await;
    set_field(&browser, "#breach-form [name=ei]", "0.75").await;
    set_field(&browser, "#breach-form [name=cb_confidentiality]", "0.5").await;
    browser.screenshot("console-register-breach-en").await;
    browser.click("#breach-form button[type=submit]").await;
    browser.wait_for("id=\"seal-check\"").await;
    browser.wait_for("Breach registered and sealed").await;
    let breach = env.operator("GET", &format!("/v1/breaches/{incident}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(breach["severity"]["band"], "medium", "SE = 3 × 0.75 + 0.5 = 2.75: {}", breach["severity"]);
    assert_eq!(breach["title"], "Zgubiony pendrive");
    assert!(browser.text_of("#breach-countdown").await.starts_with("71 h"), "aware now: 72 hours to the authority");
    let registered = env.operator("GET", &format!("/v1/incidents/{incident}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(registered["status"], "breach", "{registered}");
    browser.quit().await;
}

#[tokio::test]
async fn art33_2_the_console_hands_out_and_revokes_reporting_links_and_registers_a_processor_in_chromium() {
    let env = TestEnv::spawn().await;
    let channel = format!("c{}", unique().to_lowercase());
    let browser = Browser::start("en").await;
    sign_in(&browser, &env, "en").await;
    browser.click("#tabs a[href='#/reporting']").await;
    browser.wait_for("id=\"link-form\"").await;

    // A link for a team: listed with a working address.
    browser.eval("document.querySelector('#link-form').closest('details').open = true; return 1").await;
    set_field(&browser, "#link-form [name=channel_id]", &channel).await;
    set_field(&browser, "#link-form [name=name]", "Magazyn").await;
    browser.click("#link-form button[type=submit]").await;
    browser.wait_for(&format!("data-channel=\"{channel}\"")).await;
    let first = browser.eval(&format!("return document.querySelector(\"tr[data-channel='{channel}'] input.link\").value")).await;
    let first = first.as_str().unwrap().to_owned();
    assert_eq!(env.http.get(&first).send().await.unwrap().status(), 200, "the link opens the reporting page");

    // Revoked after a confirmation naming the holder: the old link stops working.
    browser.eval(&format!("document.querySelector('#rotate-{channel}').closest('details').open = true; return 1")).await;
    browser.click(&format!("#rotate-{channel} button[type=submit]")).await;
    browser.wait_for("Issue a new link for \"Magazyn\"?").await;
    browser.click("#confirm-yes").await;
    let link = format!("document.querySelector(\"tr[data-channel='{channel}'] input.link\").value");
    wait_until(&browser, &format!("return {link} !== {first:?}"), "the new link shown").await;
    let second = browser.eval(&format!("return {link}")).await;
    assert_eq!(env.http.get(&first).send().await.unwrap().status(), 400, "the earlier generation no longer works");
    assert_eq!(env.http.get(second.as_str().unwrap()).send().await.unwrap().status(), 200, "the new link works");

    // A processor: registered with its agreement, its webhook secret shown once.
    let processor = format!("p{}", unique().to_lowercase());
    submit_processor(&browser, &processor, "Kurier X sp. z o.o.", "Adresy dostaw, w celu doręczenia paczek.", "2026-01-15").await;
    browser.wait_for(&format!("data-processor=\"{processor}\"")).await;
    assert!(browser.text_of("#secret").await.contains("whsec_"), "shown once");
    let registered = env.operator("GET", &format!("/v1/admin/processors/{processor}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(registered["agreement_date"], "2026-01-15", "{registered}");
    assert!(registered.get("webhook_secret").is_none(), "never listed again");
    browser.screenshot("console-reporting-en").await;

    // The same id again is an update of that processor's record: done only after a confirmation.
    submit_processor(&browser, &processor, "Kurier Y S.A.", "Adresy dostaw.", "2026-02-01").await;
    browser.wait_for("Update \"Kurier X sp. z o.o.\"?").await;
    browser.click("#confirm-no").await;
    let kept = env.operator("GET", &format!("/v1/admin/processors/{processor}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(kept["name"], "Kurier X sp. z o.o.", "cancelled: the record is as it was");
    browser.click("#processor-form button[type=submit]").await;
    browser.wait_for("Update \"Kurier X sp. z o.o.\"?").await;
    browser.click("#confirm-yes").await;
    browser.wait_for("Kurier Y S.A.").await;
    let updated = env.operator("GET", &format!("/v1/admin/processors/{processor}"), None).await.json::<Value>().await.unwrap();
    assert_eq!((&updated["name"], &updated["agreement_date"]), (&json!("Kurier Y S.A."), &json!("2026-02-01")));
    browser.quit().await;
}

/// Fills the Reporting tab's processor form (opening it) and sends it.
async fn submit_processor(browser: &Browser, id: &str, name: &str, processes: &str, agreement_date: &str) {
    browser.eval("document.querySelector('#processor-form').closest('details').open = true; return 1").await;
    set_field(browser, "#processor-form [name=processor_id]", id).await;
    set_field(browser, "#processor-form [name=name]", name).await;
    set_field(browser, "#processor-form [name=contact_email]", &address("kurier")).await;
    set_field(browser, "#processor-form [name=processes]", processes).await;
    set_field(browser, "#processor-form [name=agreement_date]", agreement_date).await;
    browser.click("#processor-form button[type=submit]").await;
}

#[tokio::test]
async fn art12_4_the_console_refuses_a_request_closes_an_incident_and_erases_a_person_each_after_a_confirmation_in_chromium() {
    let env = TestEnv::spawn().await;
    let (asker, request) = asked(&env, "console-refused", "erasure").await;
    let (incident, _) = reported_incident(&env, "jan@sklep.example.pl").await;
    let person = address("console-erased");
    let body = json!({"email": person, "consent": ["contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);

    let browser = Browser::start("en").await;
    sign_in(&browser, &env, "en").await;

    // A refusal names what it will do, then mails the person the reasons and the ways to complain.
    browser.click("#tabs a[href='#/requests']").await;
    browser.wait_for(&format!("data-request=\"{request}\"")).await;
    browser.click(&format!("tr[data-request='{request}'] summary")).await;
    set_field(&browser, &format!("#close-{request} [name=outcome]"), "refused").await;
    set_field(&browser, &format!("#close-{request} [name=reasons]"), "Dane są potrzebne do rozliczenia reklamacji.").await;
    browser.click(&format!("#close-{request} button[type=submit]")).await;
    browser.wait_for("Refuse the request (erasure)? The reasons are mailed to the person").await;
    browser.screenshot("console-request-refusal-en").await;
    browser.click("#confirm-yes").await;
    browser.wait_for("Done.").await;
    let refusal = mails_to(&asker).await.into_iter().find(|m| m.subject() == "Odmowa spełnienia Twojego żądania").expect("told");
    assert!(refusal.text().contains("rozliczenia reklamacji"));
    let closed = env.operator("GET", &format!("/v1/admin/requests/{request}"), None).await.json::<Value>().await.unwrap();
    assert_eq!(closed["status"], "refused", "{closed}");

    // An incident closed as no breach keeps the reasons.
    browser.click("#tabs a[href='#/incidents']").await;
    browser.wait_for(&format!("id=\"close-{incident}\"")).await;
    browser.eval(&format!("document.querySelector('#close-{incident}').closest('details').open = true; return 1")).await;
    set_field(&browser, &format!("#close-{incident} [name=reasons]"), "Pendrive był zaszyfrowany; klucz bezpieczny.").await;
    browser.click(&format!("#close-{incident} button[type=submit]")).await;
    browser.wait_for("as not a personal data breach?").await;
    browser.click("#confirm-yes").await;
    browser.wait_for("Done.").await;
    let triaged = env.operator("GET", &format!("/v1/incidents/{incident}"), None).await.json::<Value>().await.unwrap();
    assert_ne!(triaged["status"], "open", "{triaged}");
    assert!(triaged.to_string().contains("Pendrive był zaszyfrowany"), "{triaged}");

    // An erasure names the person; "cancel" erases nothing, "yes" erases them.
    browser.click("#tabs a[href='#/subjects']").await;
    browser.wait_for("id=\"email-form\"").await;
    set_field(&browser, "#email-form [name=email]", &person).await;
    browser.click("#email-form button[type=submit]").await;
    browser.wait_for("id=\"erase-form\"").await;
    set_field(&browser, "#erase-form [name=reason]", "Prośba telefoniczna.").await;
    browser.click("#erase-form button[type=submit]").await;
    browser.wait_for(&format!("Erase {person}'s data for good?")).await;
    browser.screenshot("console-erase-confirm-en").await;
    browser.click("#confirm-no").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.lookup(&person).await.0, 200, "cancelled: nothing erased");
    browser.click("#erase-form button[type=submit]").await;
    browser.wait_for(&format!("Erase {person}'s data for good?")).await;
    browser.click("#confirm-yes").await;
    browser.wait_for(&format!("{person}'s data is erased.")).await;
    assert_eq!(env.lookup(&person).await.0, 404, "erased");
    browser.quit().await;
}
