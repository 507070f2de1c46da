//! Human durations for the command line: `90s`, `30m`, `8h`, `1d`, `500ms`, and sums of them
//! such as `1h30m`.

use crate::error::CliError;
use std::time::Duration;

/// Parses `90s`, `30m`, `8h`, `2d`, `250ms` or a sum like `1h30m` (whitespace is ignored).
pub fn parse_duration(input: &str) -> Result<Duration, CliError> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(CliError::EmptyDuration);
    }
    let owned = || input.trim().to_string();
    let mut total = Duration::ZERO;
    let mut rest = compact.as_str();
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(CliError::MissingNumber { input: owned() });
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| CliError::DurationOverflow { input: owned() })?;
        rest = &rest[digits..];
        let unit_len = rest.len() - rest.trim_start_matches(|c: char| c.is_alphabetic()).len();
        if unit_len == 0 {
            return Err(CliError::MissingUnit { input: owned() });
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit.to_ascii_lowercase().as_str() {
            "ms" => Some(Duration::from_millis(number)),
            "s" | "sec" | "secs" => Some(Duration::from_secs(number)),
            "m" | "min" | "mins" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            "d" => number.checked_mul(86_400).map(Duration::from_secs),
            _ => {
                return Err(CliError::UnknownUnit {
                    input: owned(),
                    unit: unit.to_string(),
                })
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| CliError::DurationOverflow { input: owned() })?;
    }
    Ok(total)
}

/// [`parse_duration`] that also refuses zero (intervals and timeouts).
pub fn parse_positive_duration(input: &str) -> Result<Duration, CliError> {
    let d = parse_duration(input)?;
    if d.is_zero() {
        return Err(CliError::ZeroDuration {
            input: input.trim().to_string(),
        });
    }
    Ok(d)
}

/// `HH:MM:SS` (hours grow past 24: `49:00:00`), rounded up to the second.
pub fn format_hms(d: Duration) -> String {
    let mut secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs += 1;
    }
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// A short human form for run durations: `850ms`, `12.3s`, `4m05s`.
pub fn format_short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5min"), Ok(Duration::from_secs(300)));
    }

    #[test]
    fn sums_and_whitespace() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_input_names_the_problem() {
        assert_eq!(parse_duration(""), Err(CliError::EmptyDuration));
        assert_eq!(
            parse_duration("30"),
            Err(CliError::MissingUnit { input: "30".into() })
        );
        assert_eq!(
            parse_duration("5x"),
            Err(CliError::UnknownUnit {
                input: "5x".into(),
                unit: "x".into()
            })
        );
        assert_eq!(
            parse_duration("h"),
            Err(CliError::MissingNumber { input: "h".into() })
        );
        assert_eq!(
            parse_duration("-5m"),
            Err(CliError::MissingNumber {
                input: "-5m".into()
            })
        );
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(CliError::DurationOverflow {
                input: "99999999999999999999s".into()
            })
        );
        assert_eq!(
            parse_duration("999999999999999999d"),
            Err(CliError::DurationOverflow {
                input: "999999999999999999d".into()
            })
        );
        let msg = parse_duration("5x").unwrap_err().to_string();
        assert!(msg.contains("`x`") && msg.contains("`5x`"), "{msg}");
    }

    #[test]
    fn zero_is_refused_where_a_positive_duration_is_needed() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(
            parse_positive_duration("0m"),
            Err(CliError::ZeroDuration { input: "0m".into() })
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_hms(Duration::from_secs(12 * 60 + 41)), "00:12:41");
        assert_eq!(format_hms(Duration::from_millis(1)), "00:00:01");
        assert_eq!(format_hms(Duration::from_secs(49 * 3600)), "49:00:00");
        assert_eq!(format_short(Duration::from_millis(850)), "850ms");
        assert_eq!(format_short(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_short(Duration::from_secs(245)), "4m05s");
    }
}
