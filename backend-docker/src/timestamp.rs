//! Parsing of the RFC 3339 timestamps Docker writes in inspect output
//! (`2024-05-01T12:00:00.123456789Z`), where Go's zero time `0001-01-01T00:00:00Z` means
//! "never".

use std::time::{SystemTime, UNIX_EPOCH};

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
    let time =
        chrono::DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError(text.to_owned()))?;
    // Go's zero time is 0001-01-01T00:00:00Z: nothing Docker records happened before 1970,
    // so anything earlier is "never" rather than a date to represent.
    let time = SystemTime::from(time);
    Ok((time >= UNIX_EPOCH).then_some(time))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
