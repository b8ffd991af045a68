//! Browser tests in a real headless Chromium: what a person sees and clicks. Screenshots land in
//! `artifacts/screenshots/`.

use serde_json::{Value, json};
use zgoda_tests::browser::Browser;
use zgoda_tests::{TestEnv, address, mails_to};

async fn state(env: &TestEnv, email: &str) -> Value {
    env.lookup(email).await.1["state"].clone()
}

async fn operator_link(env: &TestEnv, email: &str, action: &str, purpose: Option<&str>) -> String {
    let body: Value = env
        .operator("POST", "/v1/admin/links", Some(&json!({"email": email, "action": action, "purpose": purpose})))
        .await
        .json()
        .await
        .unwrap();
    body["url"].as_str().unwrap().to_owned()
}

/// The controller the local stack names (`ControllerProfile::example`).
const CONTROLLER: &str = "Sklep Przykładowy sp. z o.o.";

#[tokio::test]
async fn scanners_a_person_submits_the_demo_form_confirms_and_uses_every_link_in_chromium() {
    // The privacy page's proof of work as deployed: the browser solves the real one.
    let env = TestEnv::spawn_with(|c| c.settings.privacy_proof_of_work = Default::default()).await;
    zgoda_local::provision::seed_demo(&env.local.apps.operator, chrono::Utc::now()).await.unwrap();
    let email = address("browser");
    let b = Browser::start("pl").await;

    // The demo form: nothing pre-ticked; the person ticks both boxes and sends.
    b.goto(&format!("{}/dev/form", env.url)).await;
    assert!(!b.source().await.contains("checked"));
    b.type_into("#email", &email).await;
    b.type_into("#f-name", "Anna Przeglądarka").await;
    b.click("#c-newsletter").await;
    b.click("#c-contact_reply").await;
    assert!(
        b.text_of("#notice").await.contains(&format!("Administratorem danych jest {CONTROLLER}")),
        "the form's notice names the controller"
    );
    b.screenshot("01-demo-form-filled").await;
    b.click("#submit").await;
    b.wait_for("Dziękujemy").await;
    assert!(b.url().await.contains("/v1/forms/demo/thanks?status=pending_confirmation"), "{}: {}", b.url().await, b.source().await);
    assert!(b.text_of("h1").await.contains("Dziękujemy"));
    b.screenshot("02-thanks-pending").await;
    assert_eq!(state(&env, &email).await["newsletter"], "requested");

    // The mailbox page shows the confirmation mail with a clickable link.
    b.goto(&format!("{}/dev/mailbox?to={email}", env.url)).await;
    b.wait_for(&email).await;
    let mail = b.text_of("article.mail").await;
    assert!(mail.contains(&format!("From: {CONTROLLER} <")), "the sender: {mail}");
    assert!(mail.matches(CONTROLLER).count() >= 2, "the text and the footer name the controller: {mail}");
    b.screenshot("03-mailbox").await;
    let confirm = mails_to(&email).await[0].links()[0].clone();

    // Opening the link changes nothing; the button confirms.
    let before = env.scan().await;
    b.goto(&confirm).await;
    assert_eq!(b.text_of("h1").await, "Potwierdź zapis");
    assert_eq!(env.scan().await, before, "loading the page changed nothing");
    b.screenshot("04-confirm-page").await;
    b.click("#act").await;
    b.wait_for("data-outcome=\"done\"").await;
    b.screenshot("05-confirmed").await;
    assert_eq!(state(&env, &email).await["newsletter"], "given");

    // Every action's page in both languages; loading never writes.
    let unsubscribe = operator_link(&env, &email, "unsubscribe", Some("newsletter")).await;
    let access = operator_link(&env, &email, "access", None).await;
    let erase = operator_link(&env, &email, "erase", None).await;
    let before = env.scan().await;
    for (name, link, pl, en) in [
        ("unsubscribe", &unsubscribe, "Wypisz się", "Unsubscribe"),
        ("access", &access, "Zobacz swoje dane", "See your data"),
        ("erase", &erase, "Usuń moje dane", "Erase my data"),
    ] {
        for (lang, title) in [("pl", pl), ("en", en)] {
            b.goto(&format!("{link}?lang={lang}")).await;
            assert_eq!(b.text_of("h1").await, title);
            assert!(b.text_of("#controller").await.contains(CONTROLLER), "{name} in {lang} names the controller");
            b.screenshot(&format!("06-{name}-{lang}")).await;
        }
    }
    assert_eq!(env.scan().await, before, "no page load wrote anything");

    // Art. 15: the access button opens the person's data as a page, with their rights.
    b.goto(&format!("{access}?lang=en")).await;
    b.click("#act").await;
    b.wait_for("id=\"rights\"").await;
    assert_eq!(b.text_of("#email").await, email);
    assert!(b.text_of("#purposes").await.contains("Newsletter: news and offers by e-mail"));
    assert!(b.text_of("#complaint").await.contains("Prezes Urzędu Ochrony Danych Osobowych"));
    b.screenshot("06b-access-page-en").await;

    b.goto(&format!("{unsubscribe}?lang=en")).await;
    b.click("#act").await;
    b.wait_for("id=\"result\"").await;
    assert!(b.text_of("#result").await.contains("We withdrew your consent for Newsletter: news and offers by e-mail"));
    b.screenshot("07-unsubscribed-en").await;
    assert_eq!(state(&env, &email).await["newsletter"], "withdrawn");

    b.goto(&erase).await;
    b.click("#act").await;
    b.wait_for("id=\"result\"").await;
    assert!(b.text_of("#result").await.contains("Twoje dane osobowe zostały usunięte"));
    b.screenshot("08-erased-pl").await;
    assert_eq!(env.lookup(&email).await.0, 404);

    // The privacy page, as a person uses it: ask for a copy of the data.
    let other = address("browser-privacy");
    b.goto(&format!("{}/v1/privacy?lang=pl", env.url)).await;
    assert!(b.text_of("#controller").await.contains(CONTROLLER));
    b.screenshot("10-privacy-page-pl").await;
    b.goto(&format!("{}/v1/privacy?lang=en", env.url)).await;
    b.type_into("#email", &other).await;
    assert!(b.text_of("#controller").await.contains(CONTROLLER));
    b.screenshot("10-privacy-page-en").await;
    b.click("#send").await;
    b.wait_for("Check your inbox").await;
    b.screenshot("11-privacy-request-sent-en").await;
    assert_eq!(mails_to(&other).await[0].subject(), "We hold no data about you");
    // Back, and send again: the page the browser restores must not resend the solution it used.
    b.back().await;
    b.wait_for("id=\"privacy\"").await;
    // Chromium reloads this no-store page on Back, but Firefox and Safari may restore it from
    // their back-forward cache with the script's state, the spent solution in the field: that
    // restore is what this event announces.
    b.eval(
        "document.querySelector('[name=altcha]').value = 'spent'; \
            window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))",
    )
    .await;
    b.clear("#email").await;
    b.type_into("#email", &other).await;
    b.click("#send").await;
    b.wait_for("Check your inbox").await;
    assert_eq!(mails_to(&other).await.len(), 2, "the second request was answered too");

    // A damaged link gets a clear page, not an error dump.
    b.goto(&format!("{}x", &erase[..erase.len() - 1])).await;
    assert_eq!(b.text_of("h1").await, "Ten link jest nieprawidłowy");
    b.screenshot("09-invalid-link").await;
    b.quit().await;
}

/// Rectification in Chromium (issue 21), in English and in Polish: asked for on the privacy page, a
/// field corrected on the rectify page, then the address changed: the link mailed to the new
/// address confirmed, the old address told, and the history verified under the new one.
#[tokio::test]
async fn art16_a_person_corrects_a_field_and_changes_their_address_in_chromium() {
    let env = TestEnv::spawn_with(|c| c.settings.privacy_proof_of_work = Default::default()).await;
    env.put_form("sklep", &crate::rectification::shop_form(&address("owner"))).await;
    for (lang, corrected, sent, changed, told) in [
        (
            "en",
            "We corrected: Full name.",
            "We sent a link to the new address",
            "Your address is changed",
            "Your e-mail address was changed",
        ),
        (
            "pl",
            "Poprawiliśmy: Imię i nazwisko.",
            "Wysłaliśmy link na nowy adres",
            "Twój adres został zmieniony",
            "Twój adres e-mail został zmieniony",
        ),
    ] {
        let old = address(&format!("browser-rectify-{lang}"));
        let new = address(&format!("browser-moved-{lang}"));
        let body = json!({"email": old, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "name": "Jan Kowalsky"});
        assert_eq!(env.submit_json("sklep", &body).await.status(), 201);

        let b = Browser::start(lang).await;
        b.goto(&format!("{}/v1/privacy?lang={lang}", env.url)).await;
        b.type_into("#email", &old).await;
        b.click("input[value=rectification]").await;
        b.click("#send").await;
        b.wait_for("data-outcome=\"accepted\"").await;
        let link = mails_to(&old).await.last().expect("the rectify link").links()[0].clone();

        b.goto(&link).await;
        b.wait_for("id=\"form-sklep\"").await;
        b.screenshot(&format!("15-rectify-{lang}")).await;
        b.clear("#field-sklep-name").await;
        b.type_into("#field-sklep-name", "Jan Kowalski").await;
        b.click("#save-sklep").await;
        b.wait_for("id=\"result\"").await;
        assert!(b.text_of("#result").await.contains(corrected), "{}", b.source().await);

        b.goto(&link).await;
        b.wait_for("value=\"Jan Kowalski\"").await;
        b.type_into("#new-email", &new).await;
        b.click("#change-address").await;
        b.wait_for("id=\"result\"").await;
        assert!(b.text_of("#result").await.contains(sent), "{}", b.source().await);

        let confirm = mails_to(&new).await.last().expect("the confirmation link").links()[0].clone();
        b.goto(&confirm).await;
        b.click("#act").await;
        b.wait_for("id=\"result\"").await;
        assert!(b.text_of("#result").await.contains(changed), "{}", b.source().await);
        b.screenshot(&format!("16-address-changed-{lang}")).await;
        b.quit().await;

        assert!(mails_to(&old).await.iter().any(|m| m.subject() == told), "the old address is told");
        let (_, moved) = env.lookup(&new).await;
        assert_eq!((&moved["proof"]["verified"], &moved["state"]["newsletter"]), (&json!(true), &json!("given")), "{moved}");
        assert_eq!(moved["submissions"][0]["fields"]["name"], "Jan Kowalski");
        let (_, forwarded) = env.lookup(&old).await;
        assert_eq!((&forwarded["address_change"]["state"], &forwarded["email"]), (&json!("moved"), &Value::Null));
    }
}

/// The person's choices in Chromium (issue 21): asked for on the privacy page, in English and in
/// Polish; a consent withdrawn, direct marketing objected to (stopped), another legitimate interest
/// objected to (restricted, shown so when the page is opened again).
#[tokio::test]
async fn art21_a_person_withdraws_a_consent_and_objects_from_the_privacy_page_in_chromium() {
    let env = TestEnv::spawn_with(|c| c.settings.privacy_proof_of_work = Default::default()).await;
    env.put_form("uslugi", &crate::choices::services_form(&address("owner"))).await;
    for (lang, withdrawn, stopped, restricted) in [
        ("en", "We withdrew your consent for Newsletter", "we no longer use your data for Offers by post", "Until we decide"),
        (
            "pl",
            "Wycofaliśmy Twoją zgodę na cel Newsletter",
            "nie wykorzystujemy już Twoich danych w celu Oferty pocztą",
            "Do czasu decyzji",
        ),
    ] {
        let email = address(&format!("browser-choices-{lang}"));
        let consent = ["newsletter", "contact_reply", "postal_offers", "fraud_checks"];
        let body = json!({"email": email, "consent": consent, "notice_version": "2026-11"});
        assert_eq!(env.submit_json("uslugi", &body).await.status(), 201);

        let b = Browser::start(lang).await;
        b.goto(&format!("{}/v1/privacy?lang={lang}", env.url)).await;
        b.type_into("#email", &email).await;
        b.click("input[value=objection]").await;
        b.screenshot(&format!("12-privacy-objection-{lang}")).await;
        b.click("#send").await;
        b.wait_for("data-outcome=\"accepted\"").await;
        let link = mails_to(&email).await.last().expect("the choices link").links()[0].clone();

        b.goto(&link).await;
        b.wait_for("id=\"choices\"").await;
        b.screenshot(&format!("13-choices-{lang}")).await;
        b.click("#withdraw-newsletter").await;
        b.wait_for("id=\"result\"").await;
        assert!(b.text_of("#result").await.contains(withdrawn), "{}", b.source().await);

        b.goto(&link).await;
        b.click("#object-postal_offers").await;
        b.wait_for("id=\"result\"").await;
        assert!(b.text_of("#result").await.contains(stopped), "{}", b.source().await);

        b.goto(&link).await;
        b.click("#object-fraud_checks").await;
        b.wait_for("id=\"result\"").await;
        assert!(b.text_of("#result").await.contains(restricted), "{}", b.source().await);
        b.screenshot(&format!("14-objection-restricted-{lang}")).await;

        b.goto(&link).await;
        b.wait_for("data-state=\"restricted\"").await;
        assert!(!b.source().await.contains("id=\"object-fraud_checks\""), "nothing more to object to while restricted");
        let state = state(&env, &email).await;
        assert_eq!(
            (&state["newsletter"], &state["postal_offers"], &state["fraud_checks"]),
            (&json!("withdrawn"), &json!("objected"), &json!("restricted"))
        );
        b.quit().await;
    }
}
