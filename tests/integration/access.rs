//! Access that informs (docs/legal.md art15, art20): opening the access link shows the person
//! their data as a page in their language, beside the purposes and bases in words, the recipients,
//! the retention, their rights with a complaint to the PUODO, and the source; the JSON file, in the
//! page and on its own, carries the same.

use base64::Engine;
use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

/// A second form: a quote request whose follow-up rests on legitimate interest, and whose owners
/// get the values.
fn quote_form(owner: &str) -> Value {
    json!({
        "name": "Wycena", "allowed_origins": ["https://sklep.example.pl"], "default_lang": "pl",
        "fields": [{"name": "company", "kind": "text", "labels": {"pl": "Firma", "en": "Company"}}],
        "purposes": [{"id": "quote_followup", "lawful_basis": "legitimate_interest", "required": true,
                      "balancing_note": "One follow-up call about the quote asked for; no marketing.",
                      "labels": {"pl": "Kontakt w sprawie wyceny", "en": "A follow-up on the quote"}}],
        "notify": [owner], "owner_notice": "values", "retention_days": 30,
        "notice": {"version": "2026-11", "texts": {"pl": "Administratorem…", "en": "The controller…"}}
    })
}

pub(crate) async fn access_link(env: &TestEnv, email: &str) -> String {
    let body: Value =
        env.operator("POST", "/v1/admin/links", Some(&json!({"email": email, "action": "access"}))).await.json().await.unwrap();
    body["url"].as_str().unwrap().to_owned()
}

/// What the page's button does: a browser's POST to the link, in the page's language.
pub(crate) async fn open_as_a_browser(env: &TestEnv, link: &str, lang: &str) -> String {
    let resp = env.http.post(format!("{link}?lang={lang}")).header("accept", "text/html,application/xhtml+xml").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    resp.text().await.unwrap()
}

fn contains_all(what: &str, page: &str, needles: &[&str]) {
    for n in needles {
        assert!(page.contains(n), "{what} lacks {n:?}:\n{page}");
    }
}

#[tokio::test]
async fn art15_the_access_page_of_a_person_who_sent_two_forms_explains_it_all_in_their_language() {
    let env = TestEnv::spawn().await;
    let mut kontakt = contact_form(&address("owner"));
    kontakt["purposes"][0]["labels"] = json!({"pl": "Nowości e-mailem", "en": "News by e-mail"});
    kontakt["purposes"][1]["labels"] = json!({"pl": "Odpowiedź na zapytanie", "en": "A reply to my enquiry"});
    env.put_form("kontakt", &kontakt).await;
    env.put_form("wycena", &quote_form(&address("sales"))).await;
    let email = address("access-page");
    let body =
        json!({"email": email, "name": "Zofia", "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": "en"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let confirm = mails_to(&email).await[0].links()[0].clone();
    assert_eq!(env.http.post(&confirm).send().await.unwrap().status(), 200);
    let body = json!({"email": email, "company": "Piekarnia", "consent": ["quote_followup"], "notice_version": "2026-11", "lang": "en"});
    assert_eq!(env.submit_json("wycena", &body).await.status(), 201);

    let page = open_as_a_browser(&env, &access_link(&env, &email).await, "en").await;
    // Undo the HTML escaping of apostrophes and slashes (the file's base64 has slashes too).
    let page = page.replace("&#x27;", "'").replace("&#x2f;", "/");
    contains_all(
        "the English page",
        &page,
        &[
            // The data.
            &email,
            "Zofia",
            "<th>Company</th><td style=\"white-space: pre-wrap;\">Piekarnia</td>",
            // Purposes and bases in words, and how long each keeps the address.
            "News by e-mail",
            "your consent (Art. 6(1)(a) GDPR)",
            "until you withdraw your consent",
            "A reply to my enquiry",
            "a contract with you",
            "A follow-up on the quote",
            "our legitimate interest (Art. 6(1)(f) GDPR)",
            "One follow-up call about the quote asked for; no marketing.",
            // Recipients: the summary form's owners, the values form's owners, the newsletter's tool.
            "are told of each submission of the form “Newsletter”, without your address",
            "receive your address and what you wrote in the form “Wycena”",
            "sends “News by e-mail” with receives your address while your consent stands",
            // Sources, retention, rights and the complaint.
            "From you, through the form “Newsletter”",
            "From you, through the form “Wycena”",
            "Pseudonymised proofs of your consents",
            "for 6 years after the last thing",
            "corrected (Art. 16)",
            "to object",
            "(Art. 21)",
            "Prezes Urzędu Ochrony Danych Osobowych, ul. Stawki 2, 00-193 Warszawa",
        ],
    );
    assert!(!page.contains("contact_reply"), "an id where words belong");

    // The portable copy is in the page: the export and the same explanation.
    let href = page
        .split("id=\"download\" href=\"data:application/json;base64,")
        .nth(1)
        .and_then(|h| h.split('"').next())
        .expect("a download link");
    let file: Value = serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(href).unwrap()).unwrap();
    assert_eq!(file["profile"]["email"], email.as_str());
    assert_eq!(file["explained"]["lang"], "en");
    assert_eq!(file["purposes"].as_array().unwrap().len(), 3, "{}", file["purposes"]);
    assert_eq!(file["sources"].as_array().unwrap().len(), 2);
    assert_eq!(file["recipients"].as_array().unwrap().len(), 3, "{}", file["recipients"]);
    assert!(file["explained"]["complaint"].as_str().unwrap().contains("uodo.gov.pl"));

    // In Polish, from a new link (each works once).
    let page = open_as_a_browser(&env, &access_link(&env, &email).await, "pl").await;
    contains_all(
        "the Polish page",
        &page,
        &[
            "Nowości e-mailem",
            "Twoja zgoda (art. 6 ust. 1 lit. a RODO)",
            "do wycofania zgody",
            "Kontakt w sprawie wyceny",
            "Kto otrzymał dane",
            "Od Ciebie, przez formularz „Wycena”",
            "sprostowania",
            "Prezes Urzędu Ochrony Danych Osobowych",
        ],
    );

    // A client that is not a browser gets the file, explained in the language it asks for.
    let resp = env.http.post(format!("{}?lang=pl", access_link(&env, &email).await)).send().await.unwrap();
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let file: Value = resp.json().await.unwrap();
    assert_eq!(file["explained"]["lang"], "pl");
    assert_eq!(file["explained"]["rights"].as_array().unwrap().len(), 7);
}
