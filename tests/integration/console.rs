//! The DPO's console (`/console`): a static page whose script signs every operator request in the
//! browser with WebCrypto, as the CLI does.

use std::time::Duration;

use serde_json::Value;
use zgoda_tests::TestEnv;
use zgoda_tests::browser::Browser;

use crate::breaches::{breach_body, register};

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
