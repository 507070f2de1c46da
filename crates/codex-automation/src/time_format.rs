//! RFC 3339 text for wall-clock times (messages and the JSON store).

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// `at` as RFC 3339 in UTC with nanoseconds, or a debug rendering if chrono cannot represent it.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => match i64::try_from(d.as_secs())
            .ok()
            .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, d.subsec_nanos()))
        {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Nanos, true),
            None => format!("{at:?}"),
        },
        Err(_) => format!("{at:?}"),
    }
}

/// Parses RFC 3339 text into a `SystemTime`.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|dt| SystemTime::from(dt.with_timezone(&Utc)))
        .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))
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
