//! Time-zone-aware cron schedules: [`CronSchedule`] (croner + chrono-tz).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::error::AutomationError;
use crate::time_format::rfc3339;

/// A cron expression evaluated in an IANA time zone.
///
/// Expressions have five fields (minute hour day-of-month month day-of-week) or six with a
/// leading seconds field; `@daily`-style nicknames work too. Daylight-saving changes follow
/// croner's rules (the Open Cron Pattern Specification): a fixed-time job whose wall-clock time
/// falls into a spring-forward gap runs at the first instant after the gap on that day; in a
/// fall-back overlap a fixed-time job runs once, at the first of the two wall-clock times.
///
/// ```
/// use std::time::SystemTime;
/// use codex_automation::CronSchedule;
///
/// let daily = CronSchedule::parse("30 2 * * *", "Europe/Berlin")?;
/// let next = daily.next_after(SystemTime::now())?;
/// assert!(next.is_some());
/// # Ok::<(), codex_automation::AutomationError>(())
/// ```
#[derive(Clone)]
pub struct CronSchedule {
    expression: String,
    cron: Arc<Cron>,
    tz: Tz,
}

impl CronSchedule {
    /// Parses `expression`, evaluated in the time zone `tz`.
    pub fn new(expression: &str, tz: Tz) -> Result<Self, AutomationError> {
        let cron = Cron::from_str(expression).map_err(|e| AutomationError::InvalidCron {
            expression: expression.to_string(),
            reason: e.to_string(),
        })?;
        Ok(CronSchedule {
            expression: expression.to_string(),
            cron: Arc::new(cron),
            tz,
        })
    }

    /// Parses `expression`, evaluated in the IANA time zone named `tz_name` (e.g. `"UTC"`,
    /// `"America/New_York"`).
    pub fn parse(expression: &str, tz_name: &str) -> Result<Self, AutomationError> {
        let tz = Tz::from_str(tz_name).map_err(|_| AutomationError::UnknownTimeZone {
            name: tz_name.to_string(),
        })?;
        Self::new(expression, tz)
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is evaluated in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The first occurrence strictly after `after`, or `None` when `after` is beyond the range
    /// chrono can represent.
    pub fn next_after(&self, after: SystemTime) -> Result<Option<SystemTime>, AutomationError> {
        // Cron works in whole seconds: every occurrence strictly after the whole second that
        // contains `after` is also strictly after `after`.
        let Some(start) = self.zoned(floor_to_second(after)) else {
            return Ok(None);
        };
        self.cron
            .find_next_occurrence(&start, false)
            .map(|dt| Some(SystemTime::from(dt)))
            .map_err(|e| self.search_error(after, e))
    }

    /// The first occurrence at or after `at`.
    pub fn next_at_or_after(&self, at: SystemTime) -> Result<Option<SystemTime>, AutomationError> {
        let floor = floor_to_second(at);
        if floor == at {
            let Some(start) = self.zoned(floor) else {
                return Ok(None);
            };
            self.cron
                .find_next_occurrence(&start, true)
                .map(|dt| Some(SystemTime::from(dt)))
                .map_err(|e| self.search_error(at, e))
        } else {
            self.next_after(at)
        }
    }

    /// The last occurrence at or before `at`.
    pub fn latest_at_or_before(
        &self,
        at: SystemTime,
    ) -> Result<Option<SystemTime>, AutomationError> {
        let Some(start) = self.zoned(floor_to_second(at)) else {
            return Ok(None);
        };
        match self.cron.find_previous_occurrence(&start, true) {
            Ok(dt) => Ok(Some(SystemTime::from(dt))),
            // No earlier occurrence within croner's search horizon: nothing was missed.
            Err(_) => Ok(None),
        }
    }

    fn zoned(&self, at: SystemTime) -> Option<DateTime<Tz>> {
        // chrono panics on SystemTime values outside its range; check first.
        let since_epoch = match at.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).ok()?,
            Err(e) => -i64::try_from(e.duration().as_secs()).ok()?,
        };
        let utc = DateTime::<Utc>::from_timestamp(since_epoch, 0)?;
        Some(utc.with_timezone(&self.tz))
    }

    fn search_error(&self, after: SystemTime, e: croner::errors::CronError) -> AutomationError {
        AutomationError::CronSearch {
            expression: self.expression.clone(),
            after: rfc3339(after),
            reason: e.to_string(),
        }
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronSchedule")
            .field("expression", &self.expression)
            .field("tz", &self.tz.name())
            .finish()
    }
}

/// Drops the sub-second part of `at` (towards the past, also before the epoch).
fn floor_to_second(at: SystemTime) -> SystemTime {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(e) => {
            let before = e.duration();
            let whole = Duration::from_secs(before.as_secs());
            if whole == before {
                at
            } else {
                SystemTime::UNIX_EPOCH - whole - Duration::from_secs(1)
            }
        }
    }
}
