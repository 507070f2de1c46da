//! Due-time arithmetic shared by interval and cron schedules (internal).

use std::time::{Duration, SystemTime};

#[cfg(feature = "cron")]
use crate::cron::CronSchedule;
use crate::error::AutomationError;

/// The times at which runs become due.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// `anchor + k * every` for k = 0, 1, 2, ...
    Interval { anchor: SystemTime, every: Duration },
    /// The occurrences of a cron expression.
    #[cfg(feature = "cron")]
    Cron(CronSchedule),
}

/// The next due time and whether it collapses ticks that were missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The (unjittered) due time.
    pub(crate) at: SystemTime,
    /// True when one or more due times passed while a run was in flight or the process was
    /// down; `at` is then the latest of them and the run is eligible at once.
    pub(crate) collapsed: bool,
}

impl Schedule {
    /// The first due time at or after `from`.
    pub(crate) fn first_at_or_after(
        &self,
        from: SystemTime,
    ) -> Result<Option<SystemTime>, AutomationError> {
        match self {
            Schedule::Interval { anchor, every } => {
                if from <= *anchor {
                    Ok(Some(*anchor))
                } else {
                    Ok(grid_after(*anchor, *every, from, true))
                }
            }
            #[cfg(feature = "cron")]
            Schedule::Cron(cron) => cron.next_at_or_after(from),
        }
    }

    /// The first due time strictly after `after`.
    pub(crate) fn next_after(
        &self,
        after: SystemTime,
    ) -> Result<Option<SystemTime>, AutomationError> {
        match self {
            Schedule::Interval { anchor, every } => {
                if after < *anchor {
                    Ok(Some(*anchor))
                } else {
                    Ok(grid_after(*anchor, *every, after, false))
                }
            }
            #[cfg(feature = "cron")]
            Schedule::Cron(cron) => cron.next_after(after),
        }
    }

    /// The last due time at or before `at`.
    pub(crate) fn latest_at_or_before(
        &self,
        at: SystemTime,
    ) -> Result<Option<SystemTime>, AutomationError> {
        match self {
            Schedule::Interval { anchor, every } => {
                let Ok(elapsed) = at.duration_since(*anchor) else {
                    return Ok(None);
                };
                let k = elapsed.as_nanos() / every.as_nanos().max(1);
                Ok(grid_point(*anchor, *every, k))
            }
            #[cfg(feature = "cron")]
            Schedule::Cron(cron) => cron.latest_at_or_before(at),
        }
    }

    /// The slot after the one at `previous`, judged at wall-clock time `now`: the next due time
    /// if it is still ahead, otherwise the latest due time that has passed (missed ticks
    /// collapse into that one run).
    pub(crate) fn slot_after(
        &self,
        previous: SystemTime,
        now: SystemTime,
    ) -> Result<Option<Slot>, AutomationError> {
        let Some(next) = self.next_after(previous)? else {
            return Ok(None);
        };
        if next > now {
            return Ok(Some(Slot {
                at: next,
                collapsed: false,
            }));
        }
        let latest = self.latest_at_or_before(now)?.unwrap_or(next).max(next);
        Ok(Some(Slot {
            at: latest,
            collapsed: true,
        }))
    }
}

/// The first grid point after `t` (or at it, when `inclusive`), for `t >= anchor`.
fn grid_after(
    anchor: SystemTime,
    every: Duration,
    t: SystemTime,
    inclusive: bool,
) -> Option<SystemTime> {
    let elapsed = t.duration_since(anchor).ok()?.as_nanos();
    let step = every.as_nanos().max(1);
    let k = elapsed / step;
    let on_grid = elapsed % step == 0;
    let k = if inclusive && on_grid { k } else { k + 1 };
    grid_point(anchor, every, k)
}

/// `anchor + k * every`, or `None` on overflow.
fn grid_point(anchor: SystemTime, every: Duration, k: u128) -> Option<SystemTime> {
    let nanos = every.as_nanos().checked_mul(k)?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    anchor.checked_add(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn interval_grid_points() {
        let s = Schedule::Interval {
            anchor: at(100),
            every: Duration::from_secs(10),
        };
        assert_eq!(s.next_after(at(50)).unwrap(), Some(at(100)));
        assert_eq!(s.next_after(at(100)).unwrap(), Some(at(110)));
        assert_eq!(s.next_after(at(115)).unwrap(), Some(at(120)));
        assert_eq!(s.first_at_or_after(at(120)).unwrap(), Some(at(120)));
        assert_eq!(s.first_at_or_after(at(121)).unwrap(), Some(at(130)));
        assert_eq!(s.latest_at_or_before(at(99)).unwrap(), None);
        assert_eq!(s.latest_at_or_before(at(139)).unwrap(), Some(at(130)));
    }

    #[test]
    fn missed_ticks_collapse_into_the_latest() {
        let s = Schedule::Interval {
            anchor: at(0),
            every: Duration::from_secs(10),
        };
        assert_eq!(
            s.slot_after(at(10), at(15)).unwrap(),
            Some(Slot {
                at: at(20),
                collapsed: false
            })
        );
        assert_eq!(
            s.slot_after(at(10), at(47)).unwrap(),
            Some(Slot {
                at: at(40),
                collapsed: true
            })
        );
    }

    #[test]
    fn grid_overflow_ends_the_schedule() {
        let s = Schedule::Interval {
            anchor: at(0),
            every: Duration::from_secs(u64::MAX / 2),
        };
        let far = s.next_after(at(0)).unwrap().unwrap();
        assert_eq!(s.next_after(far).unwrap(), None);
    }
}
