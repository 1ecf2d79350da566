//! Ages as kubectl shows them (`12s`, `3m12s`, `5h`, `2d3h`): apimachinery's
//! `duration.HumanDuration`, which kube-apiserver's printers use for every `AGE`, `LAST SEEN`
//! and `RESTARTS (... ago)` cell.

use std::time::{Duration, SystemTime};

/// How long ago `time` (RFC 3339) was at `now`; `<unknown>` without a time.
pub fn since(time: Option<&str>, now: SystemTime) -> String {
    let Some(then) = time.and_then(|t| humantime::parse_rfc3339_weak(t).ok()) else {
        return "<unknown>".to_string();
    };
    match now.duration_since(then) {
        Ok(age) => human(age),
        // A clock a second behind reads as now; further ahead is not a real age.
        Err(ahead) if ahead.duration() < Duration::from_secs(2) => "0s".to_string(),
        Err(_) => "<invalid>".to_string(),
    }
}

/// A duration with two or three significant figures, as `HumanDuration` writes it.
pub fn human(age: Duration) -> String {
    let seconds = age.as_secs();
    let minutes = seconds / 60;
    let hours = seconds / 3600;
    let days = hours / 24;
    let with = |big: u64, unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    match () {
        () if seconds < 120 => format!("{seconds}s"),
        () if minutes < 10 => with(minutes, "m", seconds % 60, "s"),
        () if minutes < 180 => format!("{minutes}m"),
        () if hours < 8 => with(hours, "h", minutes % 60, "m"),
        () if hours < 48 => format!("{hours}h"),
        () if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        () if hours < 24 * 365 * 2 => format!("{days}d"),
        () if hours < 24 * 365 * 8 => with(days / 365, "y", days % 365, "d"),
        () => format!("{}y", days / 365),
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (192, "3m12s"),
            (600, "10m"),
            (3600, "60m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 120, "5h2m"),
            (30 * 3600, "30h"),
            (3 * 86400, "3d"),
            (3 * 86400 + 7200, "3d2h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human(Duration::from_secs(seconds)), expected, "{seconds}");
        }
    }

    #[test]
    fn a_time_is_read_from_rfc_3339() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_012);
        assert_eq!(since(Some("2027-01-15T08:00:00Z"), now), "12s");
        assert_eq!(since(Some("2027-01-15T08:00:13Z"), now), "0s");
        assert_eq!(since(Some("2027-01-15T09:00:00Z"), now), "<invalid>");
        assert_eq!(since(None, now), "<unknown>");
        assert_eq!(since(Some("yesterday"), now), "<unknown>");
    }
}
