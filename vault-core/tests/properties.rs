//! Property tests: the checks of the fuzz targets in `fuzz/` (policy parser,
//! stored-value decoding, Shamir shares, request path normalisation, database
//! username templates), run on stable by the normal suite over a bounded
//! number of generated inputs.
//!
//! The fuzz targets explore far more inputs on nightly; these keep the same
//! properties from regressing between fuzzing runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aes_gcm::{Aes256Gcm, KeyInit};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestRunner};
use vault_core::Vault;
use vault_core::barrier::envelope::{self, Invalid, MIN_LEN};
use vault_core::barrier::{BarrierError, KEYRING_PATH, Keyring, UnwrapError};
use vault_core::engines::EngineError;
use vault_core::engines::database::{DEFAULT_USERNAME_TEMPLATE, preview_username};
use vault_core::path::normalize;
use vault_core::policy::{self, Capabilities, Capability, PolicyError};
use vault_core::seal::shamir::{self, ShamirError, Share};
use vault_core::seal::{self, ROOT_KEY_PATH};
use vault_core::secret::Key256;
use vault_core::storage::{Backend, MemoryBackend};

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

// ---------------------------------------------------------------- policies

/// What any accepted policy must satisfy (the `policy_parse` fuzz target's check).
fn check_policy(text: &str) {
    match policy::parse("props", text) {
        Ok(parsed) => {
            assert_eq!(parsed.name(), "props");
            for rule in parsed.rules() {
                let p = &rule.pattern;
                assert!(!p.is_empty() && !p.starts_with('/'), "{p:?}");
                assert!(p.find('*').is_none_or(|i| i + 1 == p.len()), "{p:?}");
                assert!(!p.chars().any(char::is_control), "{p:?}");
                // A template is accepted only whole and known.
                assert!(
                    !policy::template::is_templated(p) || policy::template::check(p).is_ok(),
                    "{p:?}"
                );
            }
        }
        Err(PolicyError::Parse { line, column, .. }) => {
            assert!(line >= 1 && column >= 1);
            assert!(line <= text.lines().count() + 1, "line {line} past the end");
        }
        Err(other) => panic!("a valid name gave {other:?}"),
    }
}

/// Pieces of policy syntax, valid and not, for inputs that get past the lexer.
const POLICY_TOKENS: &[&str] = &[
    "path",
    "\"secret/data/*\"",
    "\"a/+/b\"",
    "\"//sys/*\"",
    "\"/sys/*x\"",
    "\"{{id}}\"",
    "\"s/{{identity.entity.name}}/*\"",
    "{",
    "}",
    "[",
    "]",
    "=",
    ":",
    ",",
    " ",
    "\n",
    "capabilities",
    "\"read\"",
    "\"deny\"",
    "\"sudo\"",
    "\"reed\"",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "\"*\"",
    "\"ttl\"",
    "1",
    "-2.5e3",
    "1e999",
    "true",
    "null",
    "# c\n",
    "// c\n",
    "/*",
    "*/",
    "\"\\u00e9\"",
    "\"\\ud800\"",
    "\"\\ud83d\\ude00\"",
    "\"\\q\"",
    "\"",
    "\\",
    "\u{feff}",
    "policy",
    "max_wrapping_ttl",
];

/// A pattern the parser must accept: no control character, `*` only last, no
/// `{{`, not only slashes; leading `/`s are allowed and dropped.
fn pattern() -> impl Strategy<Value = String> {
    ("/{0,3}", "[^\\p{Cc}*]{1,12}", "\\*?")
        .prop_map(|(slashes, body, star)| format!("{slashes}{body}{star}"))
        .prop_filter("templated or empty", |p| {
            !p.contains("{{") && !p.trim_start_matches('/').is_empty()
        })
}

fn capabilities() -> impl Strategy<Value = Vec<Capability>> {
    proptest::sample::subsequence(Capability::ALL.to_vec(), 0..=Capability::ALL.len())
}

fn hcl(rules: &[(String, Vec<Capability>)]) -> String {
    let mut out = String::from("# generated\n");
    for (pattern, caps) in rules {
        let names: Vec<String> = caps.iter().map(|c| format!("\"{c}\"")).collect();
        out.push_str(&format!(
            "path {} {{\n  capabilities = [{}]\n}}\n",
            serde_json::to_string(pattern).unwrap(),
            names.join(", ")
        ));
    }
    out
}

fn json(rules: &[(String, Vec<Capability>)]) -> String {
    let paths: serde_json::Map<String, serde_json::Value> = rules
        .iter()
        .map(|(pattern, caps)| {
            let names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
            (
                pattern.clone(),
                serde_json::json!({ "capabilities": names }),
            )
        })
        .collect();
    serde_json::json!({ "path": paths }).to_string()
}

/// What a hostile document nests.
const NESTING: &[&str] = &["[", "{", "path \"a\" {", "x = [", "{\"path\": {\"a\": "];

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn policy_parse_never_panics_on_any_text(text in any::<String>()) {
        check_policy(&text);
    }

    #[test]
    fn policy_parse_never_panics_on_policy_like_text(tokens in vec(select(POLICY_TOKENS), 0..60)) {
        check_policy(&tokens.concat());
    }

    /// The parser refuses nesting past its `MAX_DEPTH` (32) rather than
    /// recursing: thousands of levels are an error, not a stack overflow.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow(
        depth in prop_oneof![0usize..100, 100usize..5_000],
        open in select(NESTING),
    ) {
        let text = open.repeat(depth);
        check_policy(&text);
        if depth > 64 {
            prop_assert!(policy::parse("props", &text).is_err());
        }
    }

    /// Distinct patterns (the map's keys) so the JSON form has no repeated key.
    #[test]
    fn policies_read_the_same_as_hcl_and_json(
        rules in btree_map(pattern(), capabilities(), 0..6),
    ) {
        let rules: Vec<(String, Vec<Capability>)> = rules.into_iter().collect();
        for text in [hcl(&rules), json(&rules)] {
            let parsed = policy::parse("props", &text)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            let got: Vec<(&str, Capabilities)> = parsed
                .rules()
                .iter()
                .map(|r| (r.pattern.as_str(), r.capabilities))
                .collect();
            let expected: Vec<(&str, Capabilities)> = rules
                .iter()
                .map(|(p, caps)| (p.trim_start_matches('/'), caps.iter().copied().collect()))
                .collect();
            prop_assert_eq!(got, expected, "{}", text);
        }
    }
}

/// Found by the `policy_parse` fuzz target (2026-11-27): only one leading `/`
/// was dropped, so `//secret/*` kept a pattern `/secret/*` that no normalised
/// request path can match, and its `deny` denied nothing.
#[test]
fn every_leading_slash_of_a_pattern_is_dropped() {
    for text in [
        r#"path "//secret/*" { capabilities = ["deny"] }"#,
        r#"{"path": {"///secret/*": {"capabilities": ["deny"]}}}"#,
    ] {
        let parsed = policy::parse("props", text).unwrap();
        assert_eq!(parsed.rules()[0].pattern, "secret/*", "{text}");
    }
    assert!(policy::parse("props", r#"path "//" { capabilities = ["deny"] }"#).is_err());
}

// ---------------------------------------------------------- stored values

/// A keyring's plaintext as the keyring writes it (`VKR1 | active | count |
/// records`), possibly damaged.
#[derive(Debug, Clone)]
struct KeyringText {
    active: u32,
    records: Vec<(u32, u64, u64, [u8; 32])>,
    damage: Damage,
}

#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Another record count in the header.
    Count(u32),
    /// Bytes cut off the end.
    Cut(usize),
    /// Bytes added at the end.
    Extra(Vec<u8>),
}

impl KeyringText {
    fn bytes(&self) -> Vec<u8> {
        let mut out = b"VKR1".to_vec();
        out.extend_from_slice(&self.active.to_be_bytes());
        let count = match self.damage {
            Damage::Count(count) => count,
            _ => self.records.len() as u32,
        };
        out.extend_from_slice(&count.to_be_bytes());
        for (number, installed, reserved, key) in &self.records {
            out.extend_from_slice(&number.to_be_bytes());
            out.extend_from_slice(&installed.to_be_bytes());
            out.extend_from_slice(&reserved.to_be_bytes());
            out.extend_from_slice(key);
        }
        match &self.damage {
            Damage::Cut(cut) => out.truncate(out.len().saturating_sub(*cut)),
            Damage::Extra(extra) => out.extend_from_slice(extra),
            Damage::None | Damage::Count(_) => {}
        }
        out
    }

    fn well_formed(&self) -> bool {
        let intact = match &self.damage {
            Damage::None => true,
            Damage::Count(count) => *count as usize == self.records.len(),
            Damage::Cut(_) | Damage::Extra(_) => false,
        };
        intact && self.records.iter().any(|r| r.0 == self.active)
    }
}

fn keyring_text() -> impl Strategy<Value = KeyringText> {
    let record = (0u32..4, any::<u64>(), any::<u64>(), any::<[u8; 32]>());
    let damage = prop_oneof![
        3 => Just(Damage::None),
        1 => (0u32..6).prop_map(Damage::Count),
        1 => (1usize..60).prop_map(Damage::Cut),
        1 => vec(any::<u8>(), 1..8).prop_map(Damage::Extra),
    ];
    (0u32..4, vec(record, 0..4), damage).prop_map(|(active, records, damage)| KeyringText {
        active,
        records,
        damage,
    })
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn arbitrary_stored_bytes_are_refused_with_the_right_reason(
        blob in vec(any::<u8>(), 0..96),
        version_one in any::<bool>(),
    ) {
        let mut blob = blob;
        if version_one && !blob.is_empty() {
            blob[0] = envelope::VERSION;
        }
        let c = cipher(&[7; 32]);
        let reason = envelope::open(&c, "secret/data/app", &blob).unwrap_err();
        match envelope::term_of(&blob) {
            Err(header) => prop_assert_eq!(reason, header),
            Ok(_) => prop_assert_eq!(reason, Invalid::AuthenticationFailed),
        }
        prop_assert_eq!(reason == Invalid::TooShort, blob.len() < MIN_LEN);
        let key = Key256::from_slice(&[7; 32]).unwrap();
        prop_assert!(matches!(Keyring::unwrap(&key, &blob), Err(UnwrapError::Envelope(_))));
        prop_assert!(seal::unwrap_root_key(&key, &blob).is_err());
    }

    #[test]
    fn a_sealed_value_opens_only_as_written(
        key in any::<[u8; 32]>(),
        term in any::<u32>(),
        path in "[^\\p{Cc}]{0,16}",
        plaintext in vec(any::<u8>(), 0..256),
        flip in any::<Index>(),
        bit in 0u8..8,
        cut in any::<Index>(),
    ) {
        let c = cipher(&key);
        let blob = envelope::seal(&c, term, &path, &plaintext).unwrap();
        prop_assert_eq!(blob.len(), MIN_LEN + plaintext.len());
        prop_assert_eq!(envelope::term_of(&blob), Ok(term));
        prop_assert_eq!(envelope::open(&c, &path, &blob).unwrap().expose_secret().to_vec(), plaintext);

        let other = format!("{path}x");
        prop_assert_eq!(envelope::open(&c, &other, &blob).unwrap_err(), Invalid::AuthenticationFailed);
        let mut flipped = blob.clone();
        flipped[flip.index(blob.len())] ^= 1 << bit;
        prop_assert!(envelope::open(&c, &path, &flipped).is_err());
        let cut = cut.index(blob.len());
        prop_assert!(envelope::open(&c, &path, &blob[..cut]).is_err());
    }

    /// The keyring decoder only ever sees authenticated bytes, so they are
    /// sealed here under the root key first.
    #[test]
    fn any_keyring_plaintext_is_decoded_or_refused(
        text in prop_oneof![keyring_text().prop_map(|k| (k.bytes(), Some(k))), vec(any::<u8>(), 0..200).prop_map(|b| (b, None))],
        root in any::<[u8; 32]>(),
    ) {
        let (plain, model) = text;
        let key = Key256::from_slice(&root).unwrap();
        let wrapped = envelope::seal(&cipher(&root), 0, KEYRING_PATH, &plain).unwrap();
        match Keyring::unwrap(&key, &wrapped) {
            Ok(keyring) => {
                if let Some(model) = &model {
                    prop_assert!(model.well_formed(), "{:?} accepted", model);
                    prop_assert_eq!(keyring.active_term().number(), model.active);
                    for record in &model.records {
                        prop_assert!(keyring.term(record.0).is_some());
                    }
                }
                let again = Keyring::unwrap(&key, &keyring.wrap().unwrap()).unwrap();
                prop_assert_eq!(again.active_term().number(), keyring.active_term().number());
            }
            Err(UnwrapError::Malformed) => {
                if let Some(model) = &model {
                    prop_assert!(!model.well_formed(), "{:?} refused", model);
                }
            }
            Err(other) => panic!("an authentic keyring blob gave {other:?}"),
        }
        // Under another root key, nothing opens.
        let mut wrong = root;
        wrong[0] ^= 1;
        let wrong = Key256::from_slice(&wrong).unwrap();
        prop_assert!(matches!(Keyring::unwrap(&wrong, &wrapped), Err(UnwrapError::Envelope(_))));
    }

    #[test]
    fn only_32_authentic_bytes_are_a_root_key(plain in vec(any::<u8>(), 0..64)) {
        let key = Key256::from_slice(&[9; 32]).unwrap();
        let wrapped = envelope::seal(&cipher(&[9; 32]), 0, ROOT_KEY_PATH, &plain).unwrap();
        let unwrapped = seal::unwrap_root_key(&key, &wrapped);
        prop_assert_eq!(unwrapped.is_ok(), plain.len() == 32);
        if let Ok(root) = unwrapped {
            prop_assert_eq!(&root.expose_secret()[..], &plain[..]);
        }
    }
}

/// The same through the public barrier: whatever a backend hands back is a
/// value or an integrity error.
#[test]
fn the_barrier_refuses_garbage_and_moved_values_in_storage() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let backend = Arc::new(MemoryBackend::new());
    let vault = Vault::new(backend.clone());
    runtime.block_on(async {
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        vault.barrier().put("app/real", b"value").await.unwrap();
    });
    let real = runtime
        .block_on(backend.get("app/real"))
        .unwrap()
        .expect("just written");

    let mut runner = TestRunner::new(Config::with_cases(128));
    let strategy = prop_oneof![
        vec(any::<u8>(), 0..96),
        // A real envelope's header (version and term) with another body.
        vec(any::<u8>(), 0..64).prop_map({
            let real = real.clone();
            move |body| [&real[..17], &body[..]].concat()
        }),
        // The real value, whole, at another path.
        Just(real.clone()),
    ];
    runner
        .run(&strategy, |blob| {
            runtime.block_on(async {
                backend.put("app/garbage", blob).await.unwrap();
                let got = vault.barrier().get("app/garbage").await;
                assert!(
                    matches!(got, Err(BarrierError::Integrity { .. })),
                    "{got:?}"
                );
            });
            Ok(())
        })
        .unwrap();
}

// ------------------------------------------------------------------ Shamir

/// A share as shown to operators, `y || x`.
fn bytes(share: &Share) -> Vec<u8> {
    share.to_bytes().expose_secret().to_vec()
}

/// `n`, `threshold`, and the order in which the shares are handed back.
fn quorum() -> impl Strategy<Value = (u8, u8, Vec<usize>)> {
    (1u8..=12).prop_flat_map(|n| {
        (
            Just(n),
            1..=n,
            Just((0..usize::from(n)).collect::<Vec<_>>()).prop_shuffle(),
        )
    })
}

proptest! {
    #![proptest_config(Config::with_cases(128))]

    #[test]
    fn any_threshold_of_a_split_recovers_the_secret(
        secret in vec(any::<u8>(), 1..48),
        (n, t, order) in quorum(),
    ) {
        let shares = shamir::split(&secret, n, t).unwrap();
        prop_assert_eq!(shares.len(), usize::from(n));
        let pick: Vec<Share> = order.iter().take(usize::from(t)).map(|&i| shares[i].clone()).collect();
        prop_assert_eq!(shamir::combine(&pick).unwrap().expose_secret().to_vec(), secret.clone());
        // More than the threshold recover it too.
        prop_assert_eq!(shamir::combine(&shares).unwrap().expose_secret().to_vec(), secret.clone());
        // Fewer give some other value (equal by chance with probability
        // 2^-(8 * len), so only asserted for long secrets).
        if t > 1 && secret.len() >= 16 {
            let fewer = shamir::combine(&pick[1..]).unwrap();
            prop_assert_ne!(fewer.expose_secret(), &secret[..]);
        }
        // What an operator is shown parses back to the same share.
        for share in &pick {
            for text in [share.to_hex(), share.to_base64()] {
                let back = Share::parse(&format!(" {}\n", text.expose_secret()), secret.len()).unwrap();
                prop_assert_eq!(bytes(&back), bytes(share));
            }
        }
    }

    #[test]
    fn bad_split_parameters_are_refused(secret in vec(any::<u8>(), 0..4), n in any::<u8>(), t in any::<u8>()) {
        prop_assume!(t == 0 || n == 0 || t > n || secret.is_empty());
        prop_assert!(shamir::split(&secret, n, t).is_err());
    }
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn share_parse_never_panics(
        text in prop_oneof![any::<String>(), "[0-9a-fA-F]{0,140}", "[ \\t]?[A-Za-z0-9+/=]{0,100}[ \\n]?"],
        secret_len in 0usize..70,
    ) {
        if let Ok(share) = Share::parse(&text, secret_len) {
            prop_assert_ne!(share.x(), 0);
            prop_assert_eq!(share.to_bytes().len(), secret_len + 1);
            let again = Share::parse(share.to_hex().expose_secret(), secret_len).unwrap();
            prop_assert_eq!(bytes(&again), bytes(&share));
        }
    }

    /// Shares as typed: each `y || x` in hex, parsed for its own length.
    #[test]
    fn any_parsed_shares_combine_or_are_refused(
        typed in vec((vec(any::<u8>(), 0..6), any::<u8>()), 0..6),
    ) {
        let shares: Vec<Share> = typed
            .iter()
            .filter_map(|(y, x)| {
                let text: String = y.iter().chain([x]).map(|b| format!("{b:02x}")).collect();
                Share::parse(&text, y.len()).ok()
            })
            .collect();
        prop_assert_eq!(shares.len(), typed.iter().filter(|(_, x)| *x != 0).count());
        let lengths_agree = shares.windows(2).all(|w| w[0].to_bytes().len() == w[1].to_bytes().len());
        let mut xs: Vec<u8> = shares.iter().map(Share::x).collect();
        xs.sort_unstable();
        xs.dedup();
        let distinct = xs.len() == shares.len();
        match shamir::combine(&shares) {
            Ok(secret) => {
                prop_assert!(lengths_agree && distinct && !shares.is_empty());
                prop_assert_eq!(secret.len() + 1, shares[0].to_bytes().len());
            }
            Err(ShamirError::NoShares) => prop_assert!(shares.is_empty()),
            Err(ShamirError::LengthMismatch) => prop_assert!(!lengths_agree),
            Err(ShamirError::DuplicateShare) => prop_assert!(!distinct),
            Err(other) => panic!("{other:?}"),
        }
    }
}

// ------------------------------------------------------------------- paths

/// What a normalised path must be (the `path_normalize` fuzz target's check).
fn check_normalized(raw: &str, list: bool) -> Option<String> {
    let out = normalize(raw, list).ok()?;
    assert!(!out.starts_with('/'), "{raw:?} -> {out:?}");
    assert!(!out.chars().any(char::is_control), "{raw:?} -> {out:?}");
    assert_eq!(out.ends_with('/'), list, "{raw:?} -> {out:?}");
    let body = out.strip_suffix('/').unwrap_or(&out);
    for segment in body.split('/') {
        assert!(!matches!(segment, "" | "." | ".."), "{raw:?} -> {out:?}");
    }
    assert_eq!(
        normalize(&out, list).as_deref(),
        Ok(out.as_str()),
        "not idempotent"
    );
    if !list {
        assert_eq!(normalize(&out, true), Ok(format!("{out}/")));
    }
    Some(out)
}

const PATH_PIECES: &[&str] = &[
    "a", "secret", "data", "/", "//", ".", "..", "...", ".a", "%2e", " ", "é", "\u{0}", "\n", "\t",
    "\u{7f}", "\u{85}", "\u{200b}", "*", "+",
];

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn normalize_gives_a_canonical_path_or_an_error(
        raw in prop_oneof![any::<String>(), vec(select(PATH_PIECES), 0..12).prop_map(|p| p.concat())],
        list in any::<bool>(),
    ) {
        check_normalized(&raw, list);
    }

    /// Paths made of good segments are accepted, and keep their segments.
    #[test]
    fn good_segments_are_kept(
        leading in 0usize..3,
        segments in vec("[^\\p{Cc}/]{1,8}".prop_filter("dot segment", |s| s != "." && s != ".."), 1..6),
        trailing in any::<bool>(),
        list in any::<bool>(),
    ) {
        let joined = segments.join("/");
        let raw = format!("{}{joined}{}", "/".repeat(leading), if trailing { "/" } else { "" });
        let out = check_normalized(&raw, list);
        match (list, trailing) {
            (true, _) => prop_assert_eq!(out, Some(format!("{joined}/"))),
            (false, false) => prop_assert_eq!(out, Some(joined)),
            (false, true) => prop_assert_eq!(out, None),
        }
    }
}

// -------------------------------------------------------- username templates

/// What any template gives (the `username_template` fuzz target's check): a
/// name PostgreSQL holds as written, or a refusal that says it is the
/// template's fault.
fn check_template(template: &str, role: &str, display: &str) -> Option<String> {
    match preview_username(template, role, display, 1_795_770_308_123) {
        Ok(name) => {
            assert!(!name.is_empty(), "{template:?}");
            assert!(name.len() <= 63, "{template:?} -> {name:?}");
            assert!(!name.chars().any(char::is_control), "{name:?}");
            Some(name)
        }
        Err(EngineError::InvalidRequest(why)) => {
            assert!(why.starts_with("invalid username_template: "), "{why}");
            None
        }
        Err(other) => panic!("{template:?} gave {other:?}"),
    }
}

/// Pieces of template syntax, valid and not.
const TEMPLATE_TOKENS: &[&str] = &[
    "{{",
    "}}",
    "(",
    ")",
    "|",
    " ",
    ".RoleName",
    ".DisplayName",
    ".Nope",
    "random",
    "truncate",
    "truncate_sha256",
    "uppercase",
    "lowercase",
    "replace",
    "sha256",
    "base64",
    "uuid",
    "unix_time",
    "unix_time_millis",
    "printf",
    "sanitize",
    "\"%s-%d-%v-%%\"",
    "\"a\\\"b\"",
    "\"",
    "`raw`",
    "`",
    "0",
    "8",
    "20",
    "-1",
    "99999999999999999999",
    "x",
    "é",
    "\n",
];

/// A name as a caller could set it: anything, or something close to an
/// attack on the statement it will be put in.
fn display_name() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\"'; -]{0,80}"]
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn a_template_gives_a_name_or_an_error_on_any_text(text in any::<String>()) {
        check_template(&text, "role", "token");
    }

    #[test]
    fn a_template_gives_a_name_or_an_error_on_template_like_text(
        tokens in vec(select(TEMPLATE_TOKENS), 0..40),
        display in display_name(),
    ) {
        check_template(&tokens.concat(), "role", &display);
    }

    /// Issue 18: each `(` was a frame of the parser, so a
    /// role write with 200,000 of them aborted the daemon. Past 32 levels
    /// the template is refused.
    #[test]
    fn deep_template_nesting_is_refused_not_a_stack_overflow(
        depth in prop_oneof![0usize..33, 33usize..100, 100_000usize..200_001],
        closed in any::<bool>(),
    ) {
        let close = if closed { ")".repeat(depth) } else { String::new() };
        let text = format!("{{{{ {}.RoleName{close} }}}}", "(".repeat(depth));
        let name = check_template(&text, "role", "token");
        if depth > 32 {
            prop_assert_eq!(name, None);
        } else if closed {
            prop_assert_eq!(name.as_deref(), Some("role"));
        }
    }

    /// The default template makes a plain ASCII name from any role and
    /// caller names.
    #[test]
    fn the_default_template_is_plain_ascii_for_any_names(
        role in display_name(),
        display in display_name(),
    ) {
        let name = check_template(DEFAULT_USERNAME_TEMPLATE, &role, &display)
            .expect("the default template always renders");
        prop_assert!(
            name.starts_with("v-")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{}", name
        );
    }
}

// ------------------------------------------------------- JWTs and templates

/// What any token or key set gives (the `jwt_parse` fuzz target's check).
fn check_jwt(text: &str) {
    let _ = vault_core::auth::jwt::jwks::parse(text.as_bytes());
    if let Ok(token) = vault_core::auth::jwt::verify::parse(text) {
        let _ = token.kid();
        assert!(token.verify(&[]).is_err(), "verified without a key");
    }
}

/// What any templated path gives (the `policy_template` fuzz target's
/// check): never more globs than the text had, whatever the values.
fn check_policy_template(path: &str, value: &str) {
    use vault_core::policy::template::{IdentityContext, check, render};
    let identity = IdentityContext {
        entity_id: value.to_owned(),
        entity_name: value.to_owned(),
        metadata: std::collections::BTreeMap::from([("k".to_owned(), value.to_owned())]),
        ..IdentityContext::default()
    };
    let _ = check(path);
    if let Ok(out) = render(path, &identity) {
        let globs = |s: &str| s.chars().filter(|c| matches!(c, '*' | '+')).count();
        assert!(globs(&out) <= globs(path), "{path:?} -> {out:?}");
    }
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    #[test]
    fn any_token_text_parses_or_is_refused(
        parts in vec(prop_oneof![
            Just("eyJhbGciOiJFUzI1NiJ9".to_owned()),
            Just("eyJhbGciOiJub25lIn0".to_owned()),
            Just(".".to_owned()),
            "[A-Za-z0-9_-]{0,40}",
            Just("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}".to_owned()),
        ], 0..12),
    ) {
        check_jwt(&parts.concat());
    }

    #[test]
    fn any_templated_path_narrows_or_is_refused(
        parts in vec(prop_oneof![
            Just("{{identity.entity.name}}".to_owned()),
            Just("{{identity.entity.metadata.k}}".to_owned()),
            Just("{{identity.entity.id}}".to_owned()),
            Just("{{".to_owned()),
            Just("}}".to_owned()),
            "[a-z/*+ ._-]{0,10}",
        ], 0..12),
        value in "[a-z*+/{}. -]{0,8}",
    ) {
        check_policy_template(&parts.concat(), &value);
    }
}
