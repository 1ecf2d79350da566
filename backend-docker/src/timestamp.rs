//! Parsing of the RFC 3339 timestamps Docker writes in inspect output
//! (`2024-05-01T12:00:00.123456789Z`), where Go's zero time `0001-01-01T00:00:00Z` means
//! "never". Small enough to write here rather than pull in a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A timestamp that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {0:?}")]
pub struct TimestampError(pub String);

/// Parses a Docker timestamp. `Ok(None)` for "never": Go's zero time (any year-1 date) or an
/// empty string.
pub fn parse_docker_time(text: &str) -> Result<Option<SystemTime>, TimestampError> {
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = || TimestampError(text.to_owned());
    let (seconds, nanos) = parse_rfc3339(text).ok_or_else(invalid)?;
    // Go's zero time is 0001-01-01T00:00:00Z: nothing Docker records happened before 1970,
    // so anything earlier is "never" rather than a date to represent.
    if seconds < 0 {
        return Ok(None);
    }
    let since_epoch = Duration::new(seconds.unsigned_abs(), nanos);
    UNIX_EPOCH
        .checked_add(since_epoch)
        .map(Some)
        .ok_or_else(invalid)
}

/// Seconds since the Unix epoch (possibly negative) and nanoseconds of an RFC 3339 timestamp.
fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = digits(&text[0..4])?;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        // Digits beyond nanoseconds are truncated.
        let kept = &fraction[..len.min(9)];
        nanos = u32::try_from(digits(kept)?).ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &fraction[len..];
    }

    let offset_seconds = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(std::str::from_utf8(&[*h1, *h2]).ok()?)?;
            let minutes = digits(std::str::from_utf8(&[*m1, *m2]).ok()?)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    // A leap second (60) is folded into the next second, as Go does.
    let local = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some((local - offset_seconds, nanos))
}

/// A run of ASCII digits as a number.
fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, nanos: u32) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::new(seconds, nanos))
    }

    #[test]
    fn parses_docker_nanosecond_timestamps() {
        // date -u -d 2024-05-01T12:34:56Z +%s == 1714566896
        assert_eq!(
            parse_docker_time("2024-05-01T12:34:56.123456789Z"),
            Ok(at(1_714_566_896, 123_456_789))
        );
        assert_eq!(parse_docker_time("1970-01-01T00:00:00Z"), Ok(at(0, 0)));
        assert_eq!(
            parse_docker_time("2000-02-29T23:59:59.5Z"),
            Ok(at(951_868_799, 500_000_000))
        );
    }

    #[test]
    fn applies_offsets() {
        assert_eq!(
            parse_docker_time("2024-05-01T14:34:56+02:00"),
            Ok(at(1_714_566_896, 0))
        );
        assert_eq!(
            parse_docker_time("2024-05-01T07:34:56.25-05:00"),
            Ok(at(1_714_566_896, 250_000_000))
        );
    }

    #[test]
    fn go_zero_time_and_empty_mean_never() {
        assert_eq!(parse_docker_time("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(parse_docker_time(""), Ok(None));
    }

    #[test]
    fn truncates_digits_beyond_nanoseconds() {
        assert_eq!(
            parse_docker_time("2024-05-01T12:34:56.1234567891Z"),
            Ok(at(1_714_566_896, 123_456_789))
        );
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "2024-05-01",
            "2024-05-01T12:34:56",
            "2024-13-01T12:34:56Z",
            "2023-02-29T12:34:56Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:34:56.Z",
            "2024-05-01T12:34:56+0200",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(
                parse_docker_time(bad),
                Err(TimestampError(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
