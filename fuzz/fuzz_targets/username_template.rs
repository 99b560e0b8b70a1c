//! Database username templates, as a role's `username_template` sets them:
//! any text is a name PostgreSQL can hold as written (not empty, at most 63
//! bytes, no control character) or a refusal that blames the template, never
//! a panic or a stack overflow. The input is the template, then optionally a
//! NUL and the caller's display name; the display name also goes through the
//! default template, which must always give a plain ASCII name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_core::engines::EngineError;
use vault_core::engines::database::{DEFAULT_USERNAME_TEMPLATE, preview_username};

const NOW_MS: u64 = 1_795_770_308_123;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, display) = text.split_once('\0').unwrap_or((text, "token"));
    match preview_username(template, "role", display, NOW_MS) {
        Ok(name) => {
            assert!(!name.is_empty(), "empty name from {template:?}");
            assert!(name.len() <= 63, "{} bytes: {name:?}", name.len());
            assert!(
                !name.chars().any(char::is_control),
                "control character in {name:?}"
            );
        }
        Err(EngineError::InvalidRequest(why)) => {
            assert!(why.starts_with("invalid username_template: "), "{why}");
        }
        Err(other) => panic!("{template:?} gave {other:?}"),
    }
    let name = preview_username(DEFAULT_USERNAME_TEMPLATE, display, display, NOW_MS)
        .expect("the default template always renders");
    assert!(
        name.len() <= 63
            && name.starts_with("v-")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{name:?}"
    );
});
