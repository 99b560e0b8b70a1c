//! Durations as the vault writes them: `"90"` (seconds), `"90s"`, `"15m"`,
//! `"1h30m"`, `"2d"`, `"500ms"`. The same syntax the server accepts for
//! `increment` and TTL fields, so a value a user typed means the same here.

use std::time::Duration;

use crate::ClientError;

/// Parses a duration in the vault's syntax.
pub fn parse_duration(text: &str) -> Result<Duration, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidDuration {
        text: text.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid("empty (use e.g. 90s, 15m, 1h30m, 2d)"));
    }
    if let Ok(secs) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid("not a duration (use e.g. 90s, 15m, 1h30m, 2d)"));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| invalid("too long"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let millis_per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid("unknown unit (use ms, s, m, h or d)")),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(millis_per_unit)
            .map(Duration::from_millis)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| invalid("too long"))?;
    }
    Ok(total)
}

/// Formats whole seconds as the vault shows durations: `1h30m0s`, `2m5s`, `0s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_vault_syntax() {
        let secs = Duration::from_secs;
        assert_eq!(parse_duration("90").unwrap(), secs(90));
        assert_eq!(parse_duration(" 90s ").unwrap(), secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), secs(5400));
        assert_eq!(parse_duration("2d").unwrap(), secs(172_800));
        assert_eq!(
            parse_duration("1s500ms").unwrap(),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "s", "1x", "-5s", "1.5h", "99999999999999999999d"] {
            assert!(
                matches!(
                    parse_duration(bad),
                    Err(ClientError::InvalidDuration { .. })
                ),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn formats_like_the_vault() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m5s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
