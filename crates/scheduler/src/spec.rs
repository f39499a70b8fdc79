//! When a job is due: `at` (one instant), `every` (a fixed period) and
//! `cron` (a 5-field Vixie expression, parsed by `cronp`, read as wall-clock
//! time in a zone). Parsing what the model writes, and the next due time.

use cronp::{CivilDateTime, Schedule, Vixie};

use crate::zone::{days_in_month, Civil, Zone};

/// How far ahead a cron expression is searched: "0 0 29 2 1" (Feb 29 on a
/// Monday) recurs within 28 years; anything rarer is refused as "never".
const CRON_HORIZON_DAYS: i64 = 366 * 30;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Spec {
    /// Once, at this instant (unix seconds).
    At(i64),
    /// Every `secs` seconds, counted from the previous due time.
    Every(i64),
    /// A cron expression in a zone.
    Cron(Box<Schedule<Vixie>>, Zone),
}

impl Spec {
    /// The kind as stored: "at", "every" or "cron".
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::At(_) => "at",
            Spec::Every(_) => "every",
            Spec::Cron(..) => "cron",
        }
    }

    /// Rebuilds a stored spec. A cron job whose zone is no longer on the
    /// machine runs in UTC; the error is returned for the log.
    pub fn from_stored(kind: &str, spec: &str, tz: &str) -> Result<(Spec, Option<String>), String> {
        match kind {
            "at" => spec
                .parse()
                .map(|t| (Spec::At(t), None))
                .map_err(|_| format!("bad stored time {spec:?}")),
            "every" => spec
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .map(|s| (Spec::Every(s), None))
                .ok_or_else(|| format!("bad stored period {spec:?}")),
            "cron" => {
                let (zone, err) = Zone::load_or_utc(tz);
                let expr = parse_cron(spec)?;
                Ok((
                    Spec::Cron(Box::new(expr), zone),
                    err.map(|e| format!("{e}; using UTC")),
                ))
            }
            other => Err(format!("unknown job kind {other:?}")),
        }
    }

    /// The first due time of a new job created at `now`.
    pub fn first(&self, now: i64) -> Option<i64> {
        match self {
            Spec::At(t) => Some(*t),
            Spec::Every(s) => Some(now + s),
            Spec::Cron(expr, zone) => cron_next(expr, zone, now),
        }
    }

    /// The due time after `due`, later than `now` (missed ones in between
    /// are not counted); `None` when the job is done.
    pub fn next(&self, due: i64, now: i64) -> Option<i64> {
        match self {
            Spec::At(_) => None,
            Spec::Every(s) => {
                let behind = now.saturating_sub(due).max(0);
                Some(due + s * (behind / s + 1))
            }
            Spec::Cron(expr, zone) => cron_next(expr, zone, due.max(now)),
        }
    }
}

/// A 5-field expression (or `@daily`-style nickname). `@every` and
/// `@reboot` are refused: `every` jobs exist for the first, and the second
/// means nothing to a job.
pub fn parse_cron(text: &str) -> Result<Schedule<Vixie>, String> {
    let expr = Schedule::<Vixie>::parse(text.trim())
        .map_err(|e| format!("bad cron expression {text:?}: {e}"))?;
    if expr.calendar().is_none() {
        return Err(format!(
            "{text:?}: use kind \"every\" for periods; cron takes 5 fields (minute hour day month weekday)"
        ));
    }
    Ok(expr)
}

/// The first instant after `after` that `expr` matches in `zone`.
///
/// Local wall-clock times are visited in order and mapped to instants with
/// [`Zone::instant`]: a time skipped by a DST jump fires once, at the jump;
/// a time that happens twice fires at its first occurrence only. That
/// mapping never goes backwards, so the first match later than `after` is
/// the earliest.
fn cron_next(expr: &Schedule<Vixie>, zone: &Zone, after: i64) -> Option<i64> {
    let cal = expr.calendar()?;
    let hours: Vec<u8> = (0..24).filter(|h| cal.admits_hour(*h)).collect();
    let minutes: Vec<u8> = (0..60).filter(|m| cal.admits_minute(*m)).collect();
    let (first_h, first_m) = (*hours.first()?, *minutes.first()?);
    let start = zone.civil(after).next_day(0);
    for d in 0..CRON_HORIZON_DAYS {
        let day = start.next_day(d);
        if !cal.admits_month(day.month as u8) || day.day > days_in_month(day.year, day.month) {
            continue;
        }
        let year = u16::try_from(day.year).ok()?;
        let probe = CivilDateTime::new(year, day.month as u8, day.day as u8, first_h, first_m, 0);
        if !probe.is_ok_and(|p| expr.matches(p)) {
            continue;
        }
        for h in &hours {
            for m in &minutes {
                let local = Civil {
                    hour: u32::from(*h),
                    minute: u32::from(*m),
                    ..day
                };
                let t = zone.instant(local);
                if t > after {
                    return Some(t);
                }
            }
        }
    }
    None
}

/// `"in 20m"`, `"in 1h30m"`, `"in 2 days"` → seconds.
pub fn parse_relative(text: &str) -> Option<i64> {
    let rest = text.trim().strip_prefix("in ")?;
    parse_duration(rest)
}

/// `"90"`, `"90s"`, `"20m"`, `"1h 30m"`, `"2 days"` → seconds (a bare
/// number is seconds).
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return (n > 0).then_some(n);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 7 * 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = rest[unit_len..].trim_start_matches([' ', ',']);
        rest = rest.strip_prefix("and ").unwrap_or(rest);
    }
    (total > 0).then_some(total)
}

/// `"2026-12-03T09:00"`, `"2026-12-03 09:00:30"`, optionally ending in `Z`
/// or `±HH:MM`; without an offset the time is read in `zone`.
pub fn parse_iso(text: &str, zone: &Zone) -> Option<i64> {
    let text = text.trim();
    let (body, offset) = split_offset(text)?;
    let (date, time) = body.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let mut t = time.splitn(3, ':');
    let hour: u32 = t.next()?.parse().ok()?;
    let minute: u32 = t.next()?.parse().ok()?;
    let second: u32 = match t.next() {
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let civil = Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
    };
    Some(match offset {
        Some(o) => civil.to_unix() - o,
        None => zone.instant(civil),
    })
}

/// Splits a trailing `Z` or `±HH:MM` off; the offset in seconds east.
fn split_offset(text: &str) -> Option<(&str, Option<i64>)> {
    if let Some(body) = text.strip_suffix(['Z', 'z']) {
        return Some((body, Some(0)));
    }
    // A sign after the time part ("…T09:00+02:00"); the date's own dashes
    // come before the 'T' or space.
    let time_start = text.find(['T', ' '])?;
    let Some(pos) = text[time_start..].rfind(['+', '-']).map(|p| p + time_start) else {
        return Some((text, None));
    };
    let (body, off) = text.split_at(pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits = off[1..].replace(':', "");
    if digits.len() != 4 {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some((body, Some(sign * (h * 3600 + m * 60))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_and_durations_are_read_in_seconds() {
        assert_eq!(parse_relative("in 20m"), Some(1200));
        assert_eq!(parse_relative("in 1h30m"), Some(5400));
        assert_eq!(parse_relative("in 2 days"), Some(172_800));
        assert_eq!(parse_relative("in 1 hour and 5 minutes"), Some(3900));
        assert_eq!(parse_relative("20m"), None);
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("5 fortnights"), None);
    }

    #[test]
    fn iso_times_take_an_offset_or_the_zone() {
        let utc = Zone::utc();
        assert_eq!(parse_iso("2026-01-02T03:04:05Z", &utc), Some(1_767_323_045));
        assert_eq!(
            parse_iso("2026-01-02 05:04:05+02:00", &utc),
            Some(1_767_323_045)
        );
        assert_eq!(
            parse_iso("2026-01-01T22:04:05-05:00", &utc),
            Some(1_767_323_045)
        );
        let berlin = Zone::load("Europe/Berlin").unwrap();
        assert_eq!(
            parse_iso("2026-01-02T04:04:05", &berlin),
            Some(1_767_323_045)
        );
        assert_eq!(parse_iso("2026-02-30T04:00", &berlin), None);
        assert_eq!(parse_iso("tomorrow", &berlin), None);
    }

    #[test]
    fn every_skips_missed_periods_and_keeps_its_phase() {
        let s = Spec::Every(60);
        assert_eq!(s.first(1000), Some(1060));
        assert_eq!(s.next(1060, 1060), Some(1120));
        // Down for 5 minutes: the next due time is the next on the grid.
        assert_eq!(s.next(1060, 1390), Some(1420));
        assert_eq!(Spec::At(5).next(5, 5), None);
    }

    fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Civil {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: 0,
        }
        .to_unix()
    }

    /// Due times of `expr` in `zone` after `from`, `n` of them.
    fn fires(expr: &str, zone: &str, from: i64, n: usize) -> Vec<i64> {
        let spec = Spec::Cron(
            Box::new(parse_cron(expr).unwrap()),
            Zone::load(zone).unwrap(),
        );
        let mut out = vec![spec.first(from).unwrap()];
        while out.len() < n {
            let due = *out.last().unwrap();
            out.push(spec.next(due, due).unwrap());
        }
        out
    }

    #[test]
    fn a_berlin_job_in_the_skipped_hour_fires_at_the_jump_and_once_in_the_repeated_hour() {
        // 2025-03-30: 02:00 CET → 03:00 CEST, so 02:30 never happens and
        // the job runs at the jump (01:00 UTC); then 02:30 CEST again.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", utc(2025, 3, 29, 0, 0), 3),
            [
                utc(2025, 3, 29, 1, 30),
                utc(2025, 3, 30, 1, 0),
                utc(2025, 3, 31, 0, 30)
            ]
        );
        // 2025-10-26: 03:00 CEST → 02:00 CET, so 02:30 happens twice; the
        // job runs at the first (00:30 UTC), not again at 01:30 UTC.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", utc(2025, 10, 25, 0, 0), 3),
            [
                utc(2025, 10, 25, 0, 30),
                utc(2025, 10, 26, 0, 30),
                utc(2025, 10, 27, 1, 30)
            ]
        );
    }

    #[test]
    fn weekday_and_day_of_month_rules_follow_vixie_cron() {
        // 2026-01-01 is a Thursday. Weekdays at 09:00 UTC.
        assert_eq!(
            fires("0 9 * * 1-5", "UTC", utc(2026, 1, 1, 10, 0), 3),
            [
                utc(2026, 1, 2, 9, 0),
                utc(2026, 1, 5, 9, 0),
                utc(2026, 1, 6, 9, 0)
            ]
        );
        // Both day fields restricted: either matches (the 13th, or a Friday).
        assert_eq!(
            fires("0 0 13 * 5", "UTC", utc(2026, 1, 1, 0, 0), 3),
            [
                utc(2026, 1, 2, 0, 0),
                utc(2026, 1, 9, 0, 0),
                utc(2026, 1, 13, 0, 0)
            ]
        );
        // Leap day: the next one is 2028.
        assert_eq!(
            fires("0 12 29 2 *", "UTC", utc(2026, 1, 1, 0, 0), 1),
            [utc(2028, 2, 29, 12, 0)]
        );
    }

    #[test]
    fn cron_refuses_periods_and_garbage() {
        assert!(parse_cron("@every 5m").is_err());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("* * *").is_err());
        assert!(parse_cron("@daily").is_ok());
    }
}
