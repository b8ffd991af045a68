//! The documents in `docs/` stay in step with the code: every `docs/<name>.md §N` a comment cites
//! exists, every rule id a test name starts with is defined in `docs/legal.md`, and every error
//! code the API can answer is in `docs/api.md`. None of these needs the emulator.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_owned()
}

/// The project's own text files: code, templates, the template and the contract.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "artifacts" {
                    walk(&path, out);
                }
            } else if [".rs", ".py", ".yaml", ".toml", ".html", ".txt"].iter().any(|ext| name.ends_with(ext)) || name == "Makefile" {
                out.push((path.clone(), std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["crates", "functions", "tests", "infra", "scripts"] {
        walk(&root().join(dir), &mut out);
    }
    for file in ["Makefile", "openapi.yaml", "README.md"] {
        out.push((root().join(file), std::fs::read_to_string(root().join(file)).expect("readable")));
    }
    out
}

fn doc(name: &str) -> String {
    std::fs::read_to_string(root().join("docs").join(name)).unwrap_or_else(|_| panic!("docs/{name} exists"))
}

#[test]
fn every_cited_section_of_the_docs_exists() {
    let mut cited = 0;
    for (path, text) in sources() {
        for (at, _) in text.match_indices("docs/") {
            let rest = &text[at + 5..];
            let Some(name) = ["api.md", "legal.md", "design.md"].into_iter().find(|n| rest.starts_with(n)) else { continue };
            let body = doc(name);
            cited += 1;
            let after = rest[name.len()..].trim_start_matches(' ');
            if let Some(section) = after.strip_prefix('§') {
                let number: String = section.chars().take_while(char::is_ascii_digit).collect();
                assert!(
                    body.contains(&format!("\n## {number}. ")),
                    "{} cites docs/{name} §{number}, which has no such section",
                    path.display()
                );
            }
        }
    }
    assert!(cited > 20, "the code cites the docs ({cited} places)");
}

/// The rule id a test's name starts with, if it starts with one.
fn rule_id(name: &str) -> Option<String> {
    let prefixes = ["art", "asvs_", "seed_", "rfc", "pke", "enisa", "awareness", "scanners"];
    let prefix = prefixes.into_iter().find(|p| name.starts_with(p))?;
    if ["enisa", "awareness", "scanners"].contains(&prefix) {
        return Some(prefix.to_owned());
    }
    if prefix == "seed_" {
        return name.splitn(3, '_').take(2).collect::<Vec<_>>().join("_").into();
    }
    // art33_5, art34_3a, art17_1b, art6, asvs_2_3_3, rfc8058: the head, then `_` + a part that
    // starts with a digit, as long as there are such parts.
    let mut parts = name.split('_');
    let mut id = parts.next()?.to_owned();
    if prefix == "asvs_" {
        // `asvs_` and a chapter number; `asvs_every_…` names the standard, not a requirement.
        let chapter = parts.next().filter(|p| p.starts_with(|c: char| c.is_ascii_digit()))?;
        id.push('_');
        id.push_str(chapter);
    }
    for part in parts {
        if part.starts_with(|c: char| c.is_ascii_digit()) {
            id.push('_');
            id.push_str(part);
        } else {
            break;
        }
    }
    Some(id)
}

#[test]
fn every_rule_id_a_test_names_is_defined_in_legal() {
    let legal = doc("legal.md");
    let defined: Vec<&str> = legal.lines().filter_map(|l| l.strip_prefix("| ")?.split(" |").next()).collect();
    let mut named = 0;
    for (path, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let is_test = line.trim_start().starts_with("#[test]") || line.trim_start().starts_with("#[tokio::test");
            let Some(sig) = is_test.then(|| lines[i + 1..].iter().take(3).find(|l| l.contains("fn "))).flatten() else { continue };
            let name = sig.split("fn ").nth(1).and_then(|s| s.split('(').next()).unwrap_or("");
            if let Some(id) = rule_id(name) {
                named += 1;
                assert!(
                    defined.contains(&id.as_str()),
                    "{}: test `{name}` names rule `{id}`, which docs/legal.md does not define",
                    path.display()
                );
            }
        }
    }
    assert!(named > 50, "tests name their rules ({named})");
}

#[test]
fn rule_ids_are_read_from_test_names_as_written() {
    assert_eq!(rule_id("art33_5_timeline_edits_break_the_seal").as_deref(), Some("art33_5"));
    assert_eq!(rule_id("art34_3a_exemption").as_deref(), Some("art34_3a"));
    assert_eq!(rule_id("art6_every_purpose").as_deref(), Some("art6"));
    assert_eq!(rule_id("asvs_2_3_3_a_submission_cut").as_deref(), Some("asvs_2_3_3"));
    assert_eq!(rule_id("asvs_9_tokens").as_deref(), Some("asvs_9"));
    assert_eq!(rule_id("seed_doubt_unknown").as_deref(), Some("seed_doubt"));
    assert_eq!(rule_id("rfc8058_one_click").as_deref(), Some("rfc8058"));
    assert_eq!(rule_id("asvs_every_hostile_request"), None);
    assert_eq!(rule_id("exactly_one_reminder"), None);
}

#[test]
fn every_error_code_the_api_answers_is_in_the_contract() {
    let api = doc("api.md");
    let errors = std::fs::read_to_string(root().join("crates/web/src/error.rs")).expect("readable");
    let code_fn = errors.split("pub fn code(&self)").nth(1).and_then(|rest| rest.split("pub fn message").next()).expect("ApiError::code");
    let codes: Vec<&str> = code_fn.lines().filter_map(|l| l.split("=> \"").nth(1)?.split('"').next()).collect();
    assert!(codes.len() > 20, "the codes are read ({})", codes.len());
    for code in codes {
        assert!(api.contains(&format!("`{code}`")), "docs/api.md does not list the error code `{code}`");
    }
}
