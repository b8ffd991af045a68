//! What `make run` promises: the demo form page, a submission with the newsletter box ticked,
//! a sealed `requested` event, and the confirmation mail on the mailbox page.

use serde_json::json;
use zgoda_tests::{TestEnv, address, mails_to};

#[tokio::test]
async fn art4_11_demo_form_posts_to_a_303_a_sealed_requested_event_and_a_mail_in_the_mailbox() {
    let env = TestEnv::spawn().await;
    zgoda_local::provision::seed_demo(&env.local.apps.operator, chrono::Utc::now()).await.unwrap();
    let page = env.http.get(format!("{}/dev/form?lang=pl", env.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"notice_version\" value=\"2026-11\""));
    assert!(!html.contains("checked"), "nothing is pre-ticked");
    assert!(html.contains("Administratorem danych"), "the notice text is on the page");

    let email = address("demo");
    let body = format!(
        "email={}&name=Anna&consent=newsletter&consent=contact_reply&notice_version=2026-11&lang=pl&_gotcha=",
        email.replace('@', "%40")
    );
    let resp = env
        .http
        .post(format!("{}/v1/forms/demo/submissions", env.url))
        .header("origin", &env.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(location.contains("/v1/forms/demo/thanks?status=pending_confirmation"));

    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["state"], json!({"newsletter": "requested", "contact_reply": "informed"}));
    assert_eq!(view["proof"]["verified"], true);

    assert_eq!(mails_to(&email).await.len(), 1);
    let mailbox = env.http.get(format!("{}/dev/mailbox?to={email}", env.url)).send().await.unwrap().text().await.unwrap();
    assert!(mailbox.contains(&email) && mailbox.contains("Potwierdź zapis"));
    assert!(mailbox.contains("<a href=\"http://127.0.0.1"), "links are clickable");
}
