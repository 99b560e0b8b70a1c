//! Policy documents (HCL or JSON) as an operator or an API caller writes them:
//! any text is a policy or an error, never a panic or a stack overflow, and every
//! rule the parser accepts has a pattern the ACL can rely on.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_core::policy::{self, PolicyError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match policy::parse("fuzz", text) {
        Ok(parsed) => {
            assert_eq!(parsed.name(), "fuzz");
            assert!(!parsed.is_root());
            for rule in parsed.rules() {
                let p = &rule.pattern;
                assert!(!p.is_empty(), "empty pattern accepted");
                assert!(!p.starts_with('/'), "pattern keeps its leading '/': {p:?}");
                assert!(
                    p.find('*').is_none_or(|i| i + 1 == p.len()),
                    "'*' inside a pattern: {p:?}"
                );
                assert!(
                    !policy::template::is_templated(p) || policy::template::check(p).is_ok(),
                    "a bad template accepted: {p:?}"
                );
                assert!(
                    !p.chars().any(char::is_control),
                    "control character in a pattern: {p:?}"
                );
                for key in &rule.required_parameters {
                    assert!(!key.is_empty());
                    assert_eq!(key, &key.to_lowercase());
                }
            }
        }
        Err(PolicyError::Parse { line, column, .. }) => {
            assert!(line >= 1 && column >= 1, "position {line}:{column}");
            assert!(
                line <= text.lines().count().max(1) + 1,
                "line {line} past the end"
            );
        }
        Err(other) => panic!("a valid name gave {other:?}"),
    }
});
