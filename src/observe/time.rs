//! UTC timestamps as RFC 3339 text (`2026-01-14T12:34:56.123456Z`), which sort as they read.
//!
//! Only what ddx needs: formatting a time, parsing the forms users type for `--since`/`--until`
//! (a timestamp, a date, or an age such as `2h`), all in UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A time that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{text}` is not a time: write 2026-01-14, 2026-01-14T12:00:00Z, or an age such as 30m, 2h, 7d"
)]
pub struct TimeError {
    pub text: String,
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats seconds and microseconds since the epoch.
pub fn format_unix(secs: i64, micros: u32) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Formats a system time.
pub fn format(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format_unix(d.as_secs() as i64, d.subsec_micros())
}

/// Now, formatted.
pub fn now() -> String {
    format(SystemTime::now())
}

/// Parses `YYYY-MM-DD[THH:MM[:SS[.frac]]][Z]` into seconds since the epoch (UTC).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('Z');
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, ""));
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = 0i64;
    if !time.is_empty() {
        let time = time.split('.').next()?;
        let mut hms = time.split(':');
        let h: i64 = hms.next()?.parse().ok()?;
        let mi: i64 = hms.next().unwrap_or("0").parse().ok()?;
        let s: i64 = hms.next().unwrap_or("0").parse().ok()?;
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + s;
    }
    Some(days_from_civil(y, m, d) * 86_400 + secs)
}

/// Parses what a user types for `--since`/`--until` into a normalized timestamp.
pub fn parse_user_time(text: &str, now: SystemTime) -> Result<String, TimeError> {
    let err = || TimeError {
        text: text.to_owned(),
    };
    let t = text.trim();
    if let Some(secs) = parse_timestamp(t) {
        return Ok(format_unix(secs, 0));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| err())?;
    let unit_secs = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return Err(err()),
    };
    let ago = now
        .checked_sub(Duration::from_secs(n.saturating_mul(unit_secs)))
        .ok_or_else(err)?;
    Ok(format(ago))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        assert_eq!(format_unix(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_unix(1_768_394_096, 42),
            "2026-01-14T12:34:56.000042Z"
        );
        assert_eq!(parse_timestamp("2026-01-14T12:34:56Z"), Some(1_768_394_096));
        assert_eq!(
            parse_timestamp("2024-02-29"),
            Some(days_from_civil(2024, 2, 29) * 86_400)
        );
        assert_eq!(parse_timestamp("2026-13-01"), None);
        for secs in [0i64, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let text = format_unix(secs, 0);
            assert_eq!(parse_timestamp(&text), Some(secs), "{text}");
        }
    }

    #[test]
    fn user_times_accept_dates_and_ages() {
        let now = UNIX_EPOCH + Duration::from_secs(1_768_394_096);
        assert_eq!(
            parse_user_time("2h", now).unwrap(),
            "2026-01-14T10:34:56.000000Z"
        );
        assert_eq!(
            parse_user_time("2026-01-01", now).unwrap(),
            "2026-01-01T00:00:00.000000Z"
        );
        assert!(parse_user_time("soon", now).is_err());
    }
}
