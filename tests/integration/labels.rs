//! Words, not ids (docs/legal.md art12_1): a form's purposes and fields carry labels per language,
//! and the person's mail and pages, the owner's mail and the demo form speak in them, falling back
//! to the form's default language, then to the id.

use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

/// The contact form with labels: the newsletter in both languages, the reply in Polish only, the
/// name field in both.
fn labelled(owner: &str) -> Value {
    let mut form = contact_form(owner);
    form["purposes"][0]["labels"] = json!({"pl": "Nowości e-mailem", "en": "News by e-mail"});
    form["purposes"][1]["labels"] = json!({"pl": "Odpowiedź na zapytanie"});
    form["fields"][0]["labels"] = json!({"pl": "Imię", "en": "First name"});
    form
}

#[tokio::test]
async fn art12_1_the_persons_mail_and_link_pages_name_the_purpose_in_their_language() {
    let env = TestEnv::spawn().await;
    let owner = address("owner");
    let saved = env.put_form("kontakt", &labelled(&owner)).await;
    assert_eq!(saved["purposes"][0]["labels"]["en"], "News by e-mail", "{saved}");

    let email = address("labels");
    let body =
        json!({"email": email, "name": "Jan", "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": "en"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let mail = &mails_to(&email).await[0];
    assert!(mail.text().contains("Purpose: News by e-mail"), "{}", mail.text());
    assert!(!mail.text().contains("Purpose: newsletter"));

    let link = &mail.links()[0];
    let page = env.http.get(link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("consent for: News by e-mail."), "{page}");
    // The button posts where the page's form says, which keeps the page's language.
    let action = page.split("<form method=\"post\" action=\"").nth(1).and_then(|a| a.split('"').next()).expect("a form action");
    let done = env.http.post(format!("{link}{action}")).send().await.unwrap().text().await.unwrap();
    assert!(done.contains("your consent for News by e-mail is confirmed"), "{done}");
    let polish = env.http.get(format!("{link}?lang=pl")).send().await.unwrap().text().await.unwrap();
    assert!(polish.contains("Nowości e-mailem"), "the same link in Polish: {polish}");

    // The owners read the form's default language; a purpose without a label there shows its id.
    let owners = &mails_to(&owner).await[0];
    for words in ["Nowości e-mailem", "Odpowiedź na zapytanie", "Imię"] {
        assert!(owners.text().contains(words), "the owner's mail lacks {words:?}: {}", owners.text());
    }
}

#[tokio::test]
async fn art12_1_a_label_that_is_empty_or_broken_over_lines_is_a_422_naming_it() {
    let env = TestEnv::spawn().await;
    let mut form = labelled(&address("owner"));
    form["purposes"][0]["labels"]["en"] = json!("  ");
    form["fields"][0]["labels"]["pl"] = json!("Imię\nBcc: x@example.com");
    let resp = env.operator("PUT", "/v1/admin/forms/kontakt", Some(&form)).await;
    assert_eq!(resp.status(), 422);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(
        err["error"]["fields"],
        json!([{"field": "fields[0].labels.pl", "code": "invalid"}, {"field": "purposes[0].labels.en", "code": "invalid"}]),
        "{err}"
    );
    assert_eq!(env.operator("GET", "/v1/admin/forms/kontakt", None).await.status(), 404, "nothing stored");
}

#[tokio::test]
async fn art12_1_the_demo_form_shows_labels_and_bases_in_words() {
    let env = TestEnv::spawn().await;
    zgoda_local::provision::seed_demo(&env.local.apps.operator, chrono::Utc::now()).await.unwrap();
    for (lang, words) in [
        ("pl", ["Imię i nazwisko", "Newsletter: nowości i oferty e-mailem (zgoda)", "Odpowiedź na moje zapytanie (umowa, wymagane)"]),
        ("en", ["Name", "Newsletter: news and offers by e-mail (consent)", "A reply to my enquiry (contract, required)"]),
    ] {
        let page = env.http.get(format!("{}/dev/form?lang={lang}", env.url)).send().await.unwrap().text().await.unwrap();
        for w in words {
            assert!(page.contains(w), "{lang}: the demo form lacks {w:?}");
        }
        assert!(!page.contains("contact_reply (contract"), "{lang}: an id where words belong");
    }
}
