//! The figures: milliseconds, medians and ranges, and how a cell of the table prints them.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Milliseconds from `t0` to `t`, negative when `t` came first.
pub fn since(t0: SystemTime, t: SystemTime) -> f64 {
    match t.duration_since(t0) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    }
}

/// The median; NaN for no samples.
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The smallest sample.
pub fn min(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The largest sample.
pub fn max(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// Median, range and samples, as the JSON report holds them.
pub fn stats(samples: &[f64]) -> Value {
    json!({
        "median_ms": median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "samples_ms": samples,
    })
}

/// `412 [401–430]`.
pub fn cell(samples: &[f64]) -> String {
    range(samples, |v| format!("{v:.0}"))
}

/// `+107 [+90–+130]`.
pub fn signed_cell(samples: &[f64]) -> String {
    range(samples, |v| format!("{v:+.0}"))
}

/// `median [min–max]`, each shown by `show`; `-` for no samples.
fn range(samples: &[f64], show: impl Fn(f64) -> String) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    format!(
        "{} [{}–{}]",
        show(median(samples)),
        show(min(samples)),
        show(max(samples))
    )
}
