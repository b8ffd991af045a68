//! Crypto cost beside its floor, in one run of criterion: a raw SHA-256 of 100 bytes is the
//! baseline; link tokens and consent seals are measured signing and verifying (target: a token's
//! verify < 3× the baseline). A seal's verify is held to its own floor too: a bare HMAC-SHA256 over
//! the same canonical bytes (target ≤ 1.25×, what the encoding may cost). Criterion runs as a library inside this binary, so the benchmark shares the
//! release build of everything else `make bench` measures instead of compiling the domain's
//! dependencies a second time under `cargo bench`. Its samples go to the directory given
//! (`$CARGO_TARGET_DIR/criterion` from `make bench`), one group per round, which
//! `scripts/bench_report.py` reads.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use criterion::Criterion;
use hmac::Mac;
use sha2::{Digest, Sha256};
use zgoda_domain::form::LawfulBasis;
use zgoda_domain::ids::{FormId, PurposeId, SubjectId};
use zgoda_domain::keys::{KeyRing, SecretKey};
use zgoda_domain::lang::Lang;
use zgoda_domain::proof::{Channel, EventFacts, EventKind, to_millis};
use zgoda_domain::token::{self, LinkAction, LinkClaims};

fn facts() -> EventFacts {
    EventFacts {
        event_id: "01JAAAAAAAAAAAAAAAAAAAAAAA".into(),
        subject_id: SubjectId::parse(&"ab".repeat(32)).unwrap(),
        seq: 7,
        kind: EventKind::Given,
        purpose: PurposeId::parse("newsletter"),
        lawful_basis: Some(LawfulBasis::Consent),
        form_id: FormId::parse("kontakt"),
        notice_version: Some("2026-11".into()),
        notice_sha256: Some("cd".repeat(32)),
        notice_lang: Some(Lang::Pl),
        lang: Lang::Pl,
        channel: Channel::WebForm,
        ip_prefix: Some("203.0.113.0/24".into()),
        at: to_millis(Utc::now()),
        receipt_id: Some("01JBBBBBBBBBBBBBBBBBBBBBBB".into()),
        refers_to: None,
        prev_hash: "ef".repeat(32),
        fields: None,
        linked_subject: None,
        ground: None,
    }
}

/// Rounds of the five benchmarks. Within a round the baseline and the checks are measured seconds
/// apart, so each round's ratio compares times taken under the same conditions: on a shared
/// machine the speed drifts over a minute by more than a check's margin to its target. The report
/// takes the median of the rounds' ratios.
const ROUNDS: usize = 10;

/// Criterion's group of each round is this and the round's number; `scripts/bench_report.py`
/// reads the groups from the first on while they exist.
const GROUP_PREFIX: &str = "crypto_round_";

/// Runs the rounds, a fifth of a second of warm-up and half a second of samples per benchmark,
/// into `dir`. Earlier runs' rounds are removed first, so the report reads this run's only; the
/// rest of `dir` is left alone.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(GROUP_PREFIX) {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
    }
    let mut c = Criterion::default()
        .output_directory(dir)
        .warm_up_time(StdDuration::from_millis(200))
        .measurement_time(StdDuration::from_millis(500))
        .without_plots();
    for round in 1..=ROUNDS {
        crypto(&mut c, round);
    }
    c.final_summary();
    Ok(())
}

fn crypto(c: &mut Criterion, round: usize) {
    let ring = KeyRing::single("k1", SecretKey::new(vec![7; 32]));
    let hundred = [0x5au8; 100];
    let claims = LinkClaims::new(
        LinkAction::Unsubscribe,
        SubjectId::parse(&"ab".repeat(32)).unwrap(),
        PurposeId::parse("newsletter"),
        None,
        Utc::now() + Duration::days(400),
    );
    let signed = token::sign(&ring, &claims);
    let sealed = facts().seal(&ring);
    let (kid, key) = ring.current();
    let sealed_bytes = sealed.facts.sealed_bytes(kid);
    let now = Utc::now();

    // The checks with a target right after the baseline they are held to.
    let mut group = c.benchmark_group(format!("{GROUP_PREFIX}{round}"));
    group.bench_function("baseline_sha256_100b", |b| b.iter(|| Sha256::digest(black_box(&hundred))));
    group.bench_function("token_verify", |b| b.iter(|| token::verify(black_box(&ring), black_box(&signed), now).unwrap()));
    group.bench_function("seal_verify", |b| b.iter(|| assert!(black_box(&sealed).seal_is_valid(black_box(&ring)))));
    // The seal's floor: HMAC-SHA256 over the bytes a seal is the MAC of (its prefix, the key's id,
    // the canonical bytes), from the same keyed state.
    group.bench_function("baseline_hmac_canonical", |b| b.iter(|| black_box(key).mac().chain_update(black_box(&sealed_bytes)).finalize()));
    group.bench_function("token_sign", |b| b.iter(|| token::sign(black_box(&ring), black_box(&claims))));
    group.bench_function("seal", |b| b.iter(|| black_box(facts()).seal(black_box(&ring))));
    group.finish();
}
