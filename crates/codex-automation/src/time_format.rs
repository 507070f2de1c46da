//! RFC 3339 text for wall-clock times (messages and the JSON store).

use std::time::SystemTime;

// humantime, not chrono: the store and messages only need UTC RFC 3339, and chrono (with its
// time-zone machinery) is compiled only for the `cron` feature.

/// `at` as RFC 3339 in UTC with nanoseconds (`2026-12-07T22:45:08.000000000Z`), or a debug
/// rendering for a time humantime cannot represent (before 1970 or after 9999).
pub(crate) fn rfc3339(at: SystemTime) -> String {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) if d.as_secs() < 253_402_300_800 => humantime::format_rfc3339_nanos(at).to_string(),
        _ => format!("{at:?}"),
    }
}

/// Parses RFC 3339 text into a `SystemTime`: UTC (`Z`), as [`rfc3339`] writes it, or with a
/// numeric offset (`+02:00`), which is applied.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let bad = |e: &dyn std::fmt::Display| format!("{text:?} is not an RFC 3339 time: {e}");
    let trimmed = text.trim();
    // humantime parses only UTC: split off a numeric offset and apply it here.
    let (utc_part, offset_secs) = match trimmed.len().checked_sub(6).map(|i| trimmed.split_at(i)) {
        Some((head, tail))
            if !head.is_empty()
                && (tail.starts_with('+') || tail.starts_with('-'))
                && tail.as_bytes().get(3) == Some(&b':') =>
        {
            let hours: i64 = tail[1..3].parse().map_err(|e| bad(&e))?;
            let minutes: i64 = tail[4..6].parse().map_err(|e| bad(&e))?;
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            (format!("{head}Z"), sign * (hours * 3600 + minutes * 60))
        }
        _ => (trimmed.to_string(), 0),
    };
    let at = humantime::parse_rfc3339(&utc_part).map_err(|e| bad(&e))?;
    let shift = std::time::Duration::from_secs(offset_secs.unsigned_abs());
    // Local time minus a positive offset is the UTC instant.
    let shifted = if offset_secs >= 0 {
        at.checked_sub(shift)
    } else {
        at.checked_add(shift)
    };
    shifted.ok_or_else(|| bad(&"out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn round_trips_with_nanoseconds() {
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_765_147_508, 123_456_789);
        let text = rfc3339(at);
        assert_eq!(text, "2025-12-07T22:45:08.123456789Z");
        assert_eq!(parse_rfc3339(&text).unwrap(), at);
    }

    #[test]
    fn applies_a_numeric_offset() {
        let utc = parse_rfc3339("2026-12-07T22:45:08Z").unwrap();
        assert_eq!(parse_rfc3339("2026-12-07T23:45:08+01:00").unwrap(), utc);
        assert_eq!(parse_rfc3339("2026-12-07T20:15:08-02:30").unwrap(), utc);
    }

    #[test]
    fn refuses_text_that_is_not_a_time() {
        let err = parse_rfc3339("yesterday").unwrap_err();
        assert!(
            err.contains("\"yesterday\" is not an RFC 3339 time"),
            "{err}"
        );
    }
}

/// Serde adapter for `Option<SystemTime>` as an RFC 3339 string or `null`.
pub(crate) mod opt_rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(at) => serializer.serialize_some(&super::rfc3339(*at)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|t| super::parse_rfc3339(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
