//! The OpenAPI document matches the running stack: every documented operation exists and answers
//! with a documented status, and every route the code serves is documented.

use std::path::PathBuf;

use serde_yaml::Value;
use zgoda_tests::TestEnv;

fn document() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A concrete path for a templated one, pointing at data that does not exist.
fn concrete(path: &str) -> String {
    path.replace("{form_id}", "no-such-form")
        .replace("{token}", "AAAA")
        .replace("{purpose}", "newsletter")
        .replace("{public_id}", "nope")
        .replace("{id}", "nope")
        .replace("{escalation_id}", "nope")
}

#[tokio::test]
async fn every_documented_operation_answers_with_a_documented_status() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    let env = TestEnv::spawn().await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if !["get", "put", "post", "options", "head"].contains(&method) {
                continue;
            }
            let documented: Vec<String> = op["responses"]
                .as_mapping()
                .unwrap()
                .keys()
                .map(|k| k.as_str().map(str::to_owned).unwrap_or_else(|| k.as_u64().unwrap().to_string()))
                .collect();
            let resp = env
                .http
                .request(method.to_uppercase().parse().unwrap(), format!("{}{}", env.url, concrete(path)))
                .header("origin", "https://sklep.example.pl")
                .header("accept", "application/json")
                .header("content-type", "application/json")
                .body(if method == "get" || method == "head" || method == "options" { "" } else { "{}" })
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16().to_string();
            assert!(documented.contains(&status), "{method} {path} answered {status}, documented {documented:?}");
            let is_json = resp.headers().get("content-type").is_some_and(|c| c.to_str().unwrap_or("").starts_with("application/json"));
            if resp.status().is_client_error() && is_json {
                let body: serde_json::Value = resp.json().await.unwrap();
                assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{method} {path}: {body}");
                assert_ne!(body["error"]["code"], "not_found", "{method} {path} is documented but not routed");
            }
            checked += 1;
        }
    }
    assert!(checked >= 23, "checked {checked} operations");
}

#[test]
fn every_route_in_the_code_is_documented() {
    let doc = document();
    let paths = doc["paths"].as_mapping().unwrap();
    let routes = [intake::ROUTES, links::ROUTES, operator::ROUTES].concat();
    for route in &routes {
        let (path, method) = (route.path, route.method.to_ascii_lowercase());
        assert!(paths.get(path).and_then(|p| p.get(method.as_str())).is_some(), "{method} {path} is not in openapi.yaml");
    }
    const METHODS: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];
    for (path, item) in paths {
        for method in item.as_mapping().unwrap().keys().filter_map(Value::as_str).filter(|k| METHODS.contains(k)) {
            let path = path.as_str().unwrap();
            let routed = routes.iter().any(|r| r.path == path && r.method.eq_ignore_ascii_case(method));
            assert!(routed, "{method} {path} is documented but in no function's ROUTES");
        }
    }
}
