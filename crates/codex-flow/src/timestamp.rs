//! RFC 3339 UTC timestamps (formatted by `chrono`).

use chrono::{DateTime, SecondsFormat, Utc};

/// The current time as an RFC 3339 UTC timestamp with milliseconds, e.g.
/// `2026-11-22T00:16:17.123Z`.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Formats milliseconds since the Unix epoch as an RFC 3339 UTC timestamp; an instant chrono
/// cannot represent (hundreds of thousands of years away) is clamped to the Unix epoch.
pub fn format_unix_millis(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_unix_millis(1_709_210_096_789),
            "2024-02-29T12:34:56.789Z"
        );
        assert_eq!(format_unix_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn now_is_rfc3339_with_millis() {
        let now = now_rfc3339();
        assert!(DateTime::parse_from_rfc3339(&now).is_ok(), "{now}");
        assert!(now.ends_with('Z') && now.len() == 24, "{now}");
    }
}
