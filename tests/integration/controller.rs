//! The controller, named everywhere (docs/legal.md art12_1, art13_1a): the `From` name and footer of
//! every mail, the footer and title of every page, in Polish and English, from the deployment's
//! profile, with zgoda itself only "powered by".

use serde_json::json;
use zgoda_domain::controller::{ControllerInput, ControllerProfile};
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

/// A controller other than the built-in example, so that nothing below can pass on a default.
fn bakery() -> ControllerProfile {
    ControllerInput {
        name: Some("Piekarnia Zofia Nowak"),
        address: Some("ul. Chlebowa 7, 30-001 Kraków"),
        email: Some("piekarnia@chleb.example.pl"),
        dpo_email: Some("iod@chleb.example.pl"),
        privacy_policy_url: Some("https://chleb.example.pl/prywatnosc"),
    }
    .parse()
    .unwrap()
}

fn names_the_bakery(what: &str, body: &str, powered_by: &str) {
    // HTML escapes the slashes of the policy's URL.
    let body = &body.replace("&#x2f;", "/");
    for needle in [
        "Piekarnia Zofia Nowak",
        "ul. Chlebowa 7, 30-001 Kraków",
        "piekarnia@chleb.example.pl",
        "iod@chleb.example.pl",
        "https://chleb.example.pl/prywatnosc",
        powered_by,
    ] {
        assert!(body.contains(needle), "{what} does not show {needle:?}:\n{body}");
    }
    assert!(!body.contains("Sklep Przykładowy"), "{what} shows the example controller");
}

const POWERED_BY: [(&str, &str); 2] = [("pl", "Obsługiwane przez zgoda"), ("en", "Powered by zgoda")];

#[tokio::test]
async fn art13_1a_every_mail_names_the_controller_as_its_sender_and_in_its_footer_in_both_languages() {
    let env = TestEnv::spawn_with(|c| c.settings.controller = bakery()).await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    for (lang, powered_by) in POWERED_BY {
        let email = address(&format!("controller-{lang}"));
        let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": lang});
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
        let mail = &mails_to(&email).await[0];
        let parsed = mail.parsed();
        let from = parsed.from().and_then(|f| f.first()).unwrap();
        assert_eq!(from.name(), Some("Piekarnia Zofia Nowak"), "{lang}: the From name is the controller's");
        assert_eq!(from.address(), Some(zgoda_local::SENDER));
        names_the_bakery(&format!("{lang} confirmation text"), &mail.text(), powered_by);
        names_the_bakery(&format!("{lang} confirmation HTML"), &parsed.body_html(0).unwrap(), powered_by);
        assert!(mail.text().contains("Piekarnia Zofia Nowak."), "{lang}: the request says whose form it was");
    }
    // A mail with no other content still says who writes: the answer for an unknown address.
    let stranger = address("stranger");
    assert_eq!(env.privacy_request(&stranger, "access").await.status(), 202);
    let answer = &mails_to(&stranger).await[0];
    assert_eq!(answer.parsed().from().and_then(|f| f.first()).and_then(|a| a.name()), Some("Piekarnia Zofia Nowak"));
    names_the_bakery("the no-data answer", &answer.text(), "Powered by zgoda");
}

#[tokio::test]
async fn art12_1_every_page_names_the_controller_in_its_footer_and_title_in_both_languages() {
    let env = TestEnv::spawn_with(|c| c.settings.controller = bakery()).await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("pages");
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let link = mails_to(&email).await[0].links()[0].clone();
    let link = link.split('?').next().unwrap().to_owned();
    for (lang, powered_by) in POWERED_BY {
        for (what, url) in [
            ("the privacy page", format!("{}/v1/privacy?lang={lang}", env.url)),
            ("the thanks page", format!("{}/v1/forms/kontakt/thanks?lang={lang}", env.url)),
            ("the confirm link page", format!("{link}?lang={lang}")),
        ] {
            let resp = env.http.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{what}");
            let page = resp.text().await.unwrap();
            assert!(page.contains(&format!("<html lang=\"{lang}\">")), "{what} in {lang}");
            assert!(page.contains("· Piekarnia Zofia Nowak</title>"), "{what}: the title names the controller: {page}");
            names_the_bakery(&format!("{what} ({lang})"), &page, powered_by);
        }
    }
    let done = env.http.post(format!("{link}?lang=en")).send().await.unwrap().text().await.unwrap();
    names_the_bakery("the confirmed page", &done, "Powered by zgoda");
}
