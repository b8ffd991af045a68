//! Telling people clearly in their own language (docs/legal.md art34_2): each language's notice
//! states the facts in that language, or the operator says which language stands in; the public
//! notice and the mail as a browser shows them.

use serde_json::{Value, json};
use std::time::Duration;
use zgoda_tests::browser::Browser;
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

use crate::breaches::{breach_body, escalate, register, wait_finished};

/// The advice in Polish (the register's facts are Polish) and everything in English.
pub(crate) fn both_languages() -> Value {
    json!({
        "pl": "Zmień hasło i uważaj na podejrzane wiadomości.",
        "en": {
            "advice": "Change your password and watch for suspicious messages.",
            "nature": "A copy of the address database was publicly accessible for 2 days.",
            "consequences": "Possible phishing messages impersonating the shop.",
            "measures": "The copy was removed and the access keys were changed."
        }
    })
}

/// Someone who gave their address through the contact form in `lang`.
async fn person(env: &TestEnv, tag: &str, lang: &str) -> String {
    let email = address(tag);
    let body = json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11", "lang": lang});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    email
}

/// A breach and two people collected through the contact form: Anna reads Polish, John English.
async fn breach_with_two_readers(env: &TestEnv) -> (String, String, String) {
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let b = register(env, &breach_body(2)).await;
    (b["id"].as_str().unwrap().to_owned(), person(env, "anna", "pl").await, person(env, "john", "en").await)
}

async fn escalations_stored(env: &TestEnv, id: &str) -> usize {
    env.items(&format!("BREACH#{id}")).await.iter().filter(|i| i["sk"].as_str().is_some_and(|s| s.starts_with("ESCALATION#"))).count()
}

#[tokio::test]
async fn art34_2_an_english_reader_of_a_breach_with_only_polish_facts_is_refused_or_told_the_fallback() {
    let env = TestEnv::spawn().await;
    let (id, anna, john) = &breach_with_two_readers(&env).await;

    // English advice beside Polish facts is not a notice in English.
    let polish_facts = json!({"subjects": {"emails": [anna, john]}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});
    let (status, err) = escalate(&env, id, "lang-1", &polish_facts).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["fields"], json!([{"field": "message.en", "code": "missing_texts"}]));
    assert_eq!(escalations_stored(&env, id).await, 0, "nothing written");
    let (status, err) =
        escalate(&env, id, "lang-2", &json!({"subjects": {"emails": [anna]}, "message": {"pl": "x"}, "fallback_lang": "en"})).await;
    assert_eq!((status, err["error"]["fields"][0]["field"].as_str()), (422, Some("fallback_lang")), "{err}");

    // Told on purpose in Polish: the answer says so, and John's whole notice is Polish.
    let mut fallback = polish_facts.clone();
    fallback["fallback_lang"] = json!("pl");
    let (status, started) = escalate(&env, id, "lang-3", &fallback).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["language_fallbacks"], json!([{"lang": "en", "told_in": "pl", "recipients": 1}]));
    env.start_notifier(100);
    wait_finished(&env, id, started["escalation_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    let mail = &mails_to(john).await[0];
    assert_eq!(mail.parsed().header_raw("Content-Language").map(str::trim), Some("pl"));
    assert!(mail.text().contains("Kopia bazy adresów") && mail.text().contains("Zmień hasło."), "{}", mail.text());

    // With English texts, John reads English throughout and nothing falls back.
    let (status, started) = escalate(&env, id, "lang-4", &json!({"subjects": {"emails": [john]}, "message": both_languages()})).await;
    assert_eq!((status, started.get("language_fallbacks")), (202, None), "{started}");
    wait_finished(&env, id, started["escalation_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    let text = mails_to(john).await.iter().map(|m| m.text()).find(|t| t.contains("What happened")).expect("the English notice");
    for fact in ["publicly accessible for 2 days", "impersonating the shop", "access keys were changed", "Change your password"] {
        assert!(text.contains(fact), "{fact} in {text}");
    }
    assert!(!text.contains("Kopia bazy"), "no Polish fact in the English notice: {text}");
}

#[tokio::test]
async fn art34_2_the_public_notice_and_the_notice_mail_read_in_polish_and_english_in_chromium() {
    let env = TestEnv::spawn().await;
    let (id, anna, john) = &breach_with_two_readers(&env).await;
    let body = json!({"subjects": {"emails": [anna, john]}, "message": both_languages(), "public_notice": true});
    let (status, started) = escalate(&env, id, "chromium-1", &body).await;
    assert_eq!(status, 202, "{started}");
    env.start_notifier(100);
    wait_finished(&env, id, started["escalation_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    let notice = started["public_notice_url"].as_str().unwrap();

    let cases = [
        ("pl", &anna, "Kopia bazy adresów była publicznie dostępna", "Zmień hasło", "Co się stało"),
        ("en", &john, "A copy of the address database was publicly accessible", "Change your password", "What happened"),
    ];
    for (lang, reader, nature, advice, section) in cases {
        let b = Browser::start(lang).await;
        b.goto(notice).await;
        assert_eq!(b.eval("return document.documentElement.lang").await, lang);
        assert!(b.text_of("#nature").await.contains(nature), "{lang}: {}", b.source().await);
        assert!(b.text_of("#advice").await.contains(advice));
        let robots = b.eval("return document.querySelectorAll('meta[name=robots]').length").await;
        assert_eq!(robots, 0, "the public notice is meant to be found");
        b.screenshot(&format!("notice-public-{lang}")).await;

        b.goto(&format!("{}/dev/mailbox?to={reader}", env.url)).await;
        b.wait_for(reader).await;
        let mail = b.text_of("article.mail").await;
        for expected in [section, nature, advice, &format!("Language: {lang}")] {
            assert!(mail.contains(expected), "{lang}: {expected} in {mail}");
        }
        b.screenshot(&format!("notice-mail-{lang}")).await;
        b.quit().await;
    }
}
