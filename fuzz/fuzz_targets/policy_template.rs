//! Templated policy paths, filled per request: any text is checked and
//! rendered or refused, never a panic; a rendered path never holds more
//! globs than the text it came from, whatever the caller's values.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use vault_core::policy::template::{IdentityContext, check, render};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, value) = text.split_once('\n').unwrap_or((text, "*"));
    let identity = IdentityContext {
        entity_id: value.to_owned(),
        entity_name: value.to_owned(),
        metadata: BTreeMap::from([("k".to_owned(), value.to_owned())]),
        ..IdentityContext::default()
    };
    let _ = check(path);
    if let Ok(out) = render(path, &identity) {
        let globs = |s: &str| s.chars().filter(|c| matches!(c, '*' | '+')).count();
        assert!(globs(&out) <= globs(path), "{path:?} -> {out:?}");
    }
});
