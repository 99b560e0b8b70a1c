//! Request paths, normalised once before the ACL and the router see them: any
//! text is a canonical path or an error, never a panic; a canonical path has no
//! `.`, `..` or empty segment, no control character and no leading `/`; and
//! normalising it again changes nothing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_core::path::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    for list in [false, true] {
        let Ok(out) = normalize(raw, list) else {
            continue;
        };
        assert!(!out.starts_with('/'), "{out:?}");
        assert!(!out.chars().any(char::is_control), "{out:?}");
        assert_eq!(out.ends_with('/'), list, "{out:?}");
        let body = out.strip_suffix('/').unwrap_or(&out);
        assert!(!body.is_empty());
        for segment in body.split('/') {
            assert!(!matches!(segment, "" | "." | ".."), "{out:?}");
        }
        assert_eq!(
            normalize(&out, list).as_deref(),
            Ok(out.as_str()),
            "not idempotent"
        );
        // Only leading slashes (and, for a list, one trailing one) are dropped.
        assert_eq!(
            body,
            raw.trim_start_matches('/')
                .strip_suffix('/')
                .unwrap_or(raw.trim_start_matches('/'))
        );
        if !list {
            assert_eq!(normalize(&out, true), Ok(format!("{out}/")));
        }
    }
});
