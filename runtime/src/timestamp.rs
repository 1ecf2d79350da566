//! The RFC 3339 times runtimes write (Docker's and libpod's inspect output, CRI log lines),
//! read by one parser, and the one form in which the agent writes a log line's time.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

/// A timestamp that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {0:?}")]
pub struct TimestampError(pub String);

/// Parses an RFC 3339 time with any number of fraction digits (nanoseconds kept, more
/// digits truncated) and any offset.
pub fn parse(text: &str) -> Result<SystemTime, TimestampError> {
    DateTime::parse_from_rfc3339(text)
        .map(SystemTime::from)
        .map_err(|_| TimestampError(text.to_owned()))
}

/// Parses a time from an inspect answer, where Go's zero time (`0001-01-01T00:00:00Z`) or an
/// empty string means "never": `Ok(None)`. Nothing a runtime records happened before 1970,
/// so anything earlier is "never" rather than a date to represent.
pub fn parse_or_never(text: &str) -> Result<Option<SystemTime>, TimestampError> {
    if text.is_empty() {
        return Ok(None);
    }
    let time = parse(text)?;
    Ok((time >= UNIX_EPOCH).then_some(time))
}

/// `time` in UTC with nine fraction digits (`2024-05-01T12:34:56.120000000Z`), Go's
/// `RFC3339NanoFixed`: how the kubelet and Docker prefix log lines with their time, so the
/// prefixes of one log line up.
pub fn format_nanos(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn parses_nanosecond_timestamps() {
        // date -u -d 2024-05-01T12:34:56Z +%s == 1714566896
        assert_eq!(
            parse("2024-05-01T12:34:56.123456789Z"),
            Ok(at(1_714_566_896, 123_456_789))
        );
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(at(0, 0)));
        assert_eq!(
            parse("2000-02-29T23:59:59.5Z"),
            Ok(at(951_868_799, 500_000_000))
        );
    }

    #[test]
    fn applies_offsets() {
        assert_eq!(parse("2024-05-01T14:34:56+02:00"), Ok(at(1_714_566_896, 0)));
        assert_eq!(
            parse("2024-05-01T07:34:56.25-05:00"),
            Ok(at(1_714_566_896, 250_000_000))
        );
    }

    #[test]
    fn go_zero_time_and_empty_mean_never() {
        assert_eq!(parse_or_never("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(parse_or_never(""), Ok(None));
        assert_eq!(
            parse_or_never("2024-05-01T12:34:56Z"),
            Ok(Some(at(1_714_566_896, 0)))
        );
    }

    #[test]
    fn truncates_digits_beyond_nanoseconds() {
        assert_eq!(
            parse("2024-05-01T12:34:56.1234567891Z"),
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
            assert_eq!(parse(bad), Err(TimestampError(bad.to_owned())), "{bad}");
            assert_eq!(parse_or_never(bad), Err(TimestampError(bad.to_owned())));
        }
    }

    #[test]
    fn formats_with_nine_fraction_digits_in_utc() {
        assert_eq!(
            format_nanos(at(1_714_566_896, 120_000_000)),
            "2024-05-01T12:34:56.120000000Z"
        );
        assert_eq!(format_nanos(at(0, 0)), "1970-01-01T00:00:00.000000000Z");
        let time = at(1_714_566_896, 123_456_789);
        assert_eq!(parse(&format_nanos(time)), Ok(time));
    }
}
