//! Time zones from the system's TZif files (`/usr/share/zoneinfo`, or
//! `$TZDIR`), parsed by `tz-rs`; no database is compiled in (chrono-tz alone
//! would be larger than the rest of the scheduler). Plus the civil-time
//! arithmetic the scheduler needs: unix seconds ↔ calendar fields, and a
//! local wall-clock time → the instant it names, across DST changes.

use std::path::PathBuf;
use std::sync::Arc;

/// The name used for UTC and for "no zone".
pub const UTC: &str = "UTC";

/// A loaded zone. Cheap to clone.
#[derive(Clone)]
pub struct Zone {
    name: Arc<str>,
    tz: Arc<tz::TimeZone>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Why a zone name did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownZone(pub String);

impl std::fmt::Display for UnknownZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn zoneinfo_dir() -> PathBuf {
    std::env::var_os("TZDIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"))
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: Arc::from(UTC),
            tz: Arc::new(tz::TimeZone::utc()),
        }
    }

    /// Loads an IANA zone by name ("Europe/Berlin"), "UTC", or "local"
    /// (`/etc/localtime`). Blocking: reads one small file.
    pub fn load(name: &str) -> Result<Zone, UnknownZone> {
        let name = name.trim();
        if name.eq_ignore_ascii_case(UTC) || name.eq_ignore_ascii_case("Etc/UTC") {
            return Ok(Zone::utc());
        }
        let path = if name == "local" {
            PathBuf::from("/etc/localtime")
        } else {
            // A name is a relative path under the zoneinfo directory; refuse
            // anything that could climb out of it.
            let safe = !name.is_empty()
                && !name.starts_with('/')
                && name
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
            if !safe {
                return Err(UnknownZone(format!(
                    "{name:?} is not a time zone name (use an IANA name such as Europe/Berlin, or UTC)"
                )));
            }
            zoneinfo_dir().join(name)
        };
        let data = std::fs::read(&path).map_err(|e| {
            UnknownZone(format!(
                "unknown time zone {name:?} ({}: {e}); use an IANA name such as Europe/Berlin, or UTC",
                path.display()
            ))
        })?;
        let tz = tz::TimeZone::from_tz_data(&data).map_err(|e| {
            UnknownZone(format!(
                "time zone {name:?}: {} is not a valid TZif file ({e})",
                path.display()
            ))
        })?;
        Ok(Zone {
            name: Arc::from(name),
            tz: Arc::new(tz),
        })
    }

    /// [`Zone::load`], falling back to UTC; the error says why.
    pub fn load_or_utc(name: &str) -> (Zone, Option<UnknownZone>) {
        match Zone::load(name) {
            Ok(z) => (z, None),
            Err(e) => (Zone::utc(), Some(e)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Seconds east of UTC at instant `t`.
    pub fn offset_at(&self, t: i64) -> i64 {
        self.tz
            .find_local_time_type(t)
            .map_or(0, |l| i64::from(l.ut_offset()))
    }

    /// The civil time at instant `t`.
    pub fn civil(&self, t: i64) -> Civil {
        Civil::from_unix(t + self.offset_at(t))
    }

    /// The instant a wall-clock time names. A time that happens twice (the
    /// hour repeated when clocks go back) is its first occurrence; a time
    /// that never happens (skipped when clocks go forward) is the moment
    /// the clocks jumped, i.e. the first valid time after the gap.
    pub fn instant(&self, local: Civil) -> i64 {
        let l = local.to_unix();
        // Zones change offset at most once within a day of any instant, so
        // the offsets a day either side are the only candidates.
        let before = self.offset_at(l - 86_400);
        let after = self.offset_at(l + 86_400);
        let fits = |o: i64| self.offset_at(l - o) == o;
        match (fits(before), fits(after)) {
            (true, true) => (l - before).min(l - after),
            (true, false) => l - before,
            (false, true) => l - after,
            (false, false) => self.transition_between(l - before.max(after), l - before.min(after)),
        }
    }

    /// The first instant in `(lo, hi]` whose offset differs from `lo`'s.
    fn transition_between(&self, mut lo: i64, mut hi: i64) -> i64 {
        let first = self.offset_at(lo);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.offset_at(mid) == first {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

/// A wall-clock date and time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// Fields as if `t` were seconds since 1970-01-01 00:00 on this clock.
    pub fn from_unix(t: i64) -> Civil {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }

    pub fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    /// The date `n` days later, at midnight.
    pub fn next_day(self, n: i64) -> Civil {
        let (year, month, day) =
            civil_from_days(days_from_civil(self.year, self.month, self.day) + n);
        Civil {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }
}

impl std::fmt::Display for Civil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> Civil {
        Civil {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: 0,
        }
    }

    #[test]
    fn civil_dates_round_trip_through_unix_days() {
        for days in [-800_000, -1, 0, 59, 11_016, 20_454, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(Civil::from_unix(951_782_400), civil(2000, 2, 29, 0, 0));
        assert_eq!(civil(2000, 2, 29, 0, 0).to_unix(), 951_782_400);
    }

    #[test]
    fn berlin_wall_clock_times_map_to_instants_across_both_dst_changes() {
        let z = Zone::load("Europe/Berlin").unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            z.instant(civil(2025, 1, 15, 9, 0)),
            civil(2025, 1, 15, 8, 0).to_unix()
        );
        assert_eq!(
            z.instant(civil(2025, 7, 15, 9, 0)),
            civil(2025, 7, 15, 7, 0).to_unix()
        );
        // 2025-03-30 02:30 never happens (02:00 → 03:00): it is the jump,
        // 01:00 UTC.
        assert_eq!(
            z.instant(civil(2025, 3, 30, 2, 30)),
            civil(2025, 3, 30, 1, 0).to_unix()
        );
        // 2025-10-26 02:30 happens twice: the first one, 00:30 UTC.
        assert_eq!(
            z.instant(civil(2025, 10, 26, 2, 30)),
            civil(2025, 10, 26, 0, 30).to_unix()
        );
        assert_eq!(
            z.civil(civil(2025, 10, 26, 1, 30).to_unix()),
            civil(2025, 10, 26, 2, 30)
        );
    }

    #[test]
    fn names_that_are_not_zones_are_refused_and_fall_back_to_utc() {
        for bad in [
            "../../etc/passwd",
            "/etc/localtime",
            "Europe/../Berlin",
            "",
            "Mars/Olympus",
        ] {
            assert!(Zone::load(bad).is_err(), "{bad:?}");
        }
        let (z, err) = Zone::load_or_utc("Mars/Olympus");
        assert_eq!(z.name(), "UTC");
        assert!(err
            .unwrap()
            .0
            .contains("unknown time zone \"Mars/Olympus\""));
        assert_eq!(Zone::load("utc").unwrap().offset_at(0), 0);
    }
}
