//! Kubernetes resource quantities (`100m`, `128Mi`, `1.5`, `2e3`), parsed when the manifest is
//! read so that a bad quantity is an error with a line and column.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A parsed quantity: the text as written and its value in thousandths of the unit, rounded
/// up as the API server's `MilliValue` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    text: String,
    millis: i128,
}

/// Why a quantity did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {0:?}"
)]
pub struct QuantityError(String);

impl Quantity {
    /// Parses a quantity as the API server does.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let invalid = || QuantityError(text.to_string());
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(trimmed.len());
        let (number, suffix) = trimmed.split_at(split);
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number.strip_prefix('+').unwrap_or(number)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction)
        {
            return Err(invalid());
        }
        // value = mantissa * base^exp10-ish; track as (numerator digits, power of ten, binary multiplier).
        let (binary, decimal_exponent): (i128, i32) = match suffix {
            "" => (1, 0),
            "Ki" => (1 << 10, 0),
            "Mi" => (1 << 20, 0),
            "Gi" => (1 << 30, 0),
            "Ti" => (1 << 40, 0),
            "Pi" => (1 << 50, 0),
            "Ei" => (1 << 60, 0),
            "n" => (1, -9),
            "u" => (1, -6),
            "m" => (1, -3),
            "k" => (1, 3),
            "M" => (1, 6),
            "G" => (1, 9),
            "T" => (1, 12),
            "P" => (1, 15),
            "E" => (1, 18),
            exponent if exponent.starts_with(['e', 'E']) => {
                let value: i32 = exponent[1..].parse().map_err(|_| invalid())?;
                if !(-30..=30).contains(&value) {
                    return Err(invalid());
                }
                (1, value)
            }
            _ => return Err(invalid()),
        };
        let mantissa: i128 = format!("{whole}{fraction}")
            .parse()
            .map_err(|_| invalid())?;
        // millis = mantissa * binary * 10^(decimal_exponent - fraction_len + 3), rounded up.
        let fraction_len = i32::try_from(fraction.len()).map_err(|_| invalid())?;
        let power = decimal_exponent - fraction_len + 3;
        let scaled = mantissa.checked_mul(binary).ok_or_else(invalid)?;
        let millis = if power >= 0 {
            10i128
                .checked_pow(power.unsigned_abs())
                .and_then(|p| scaled.checked_mul(p))
                .ok_or_else(invalid)?
        } else {
            let divisor = 10i128
                .checked_pow(power.unsigned_abs())
                .ok_or_else(invalid)?;
            (scaled + divisor - 1) / divisor
        };
        Ok(Quantity {
            text: text.to_string(),
            millis: if negative { -millis } else { millis },
        })
    }

    /// The value in thousandths (CPU millicores for `cpu`).
    pub fn millis(&self) -> i128 {
        self.millis
    }

    /// The value in whole units, rounded up (bytes for `memory`).
    pub fn value(&self) -> i128 {
        (self.millis + 999).div_euclid(1000)
    }

    /// True for values below zero, which no resource accepts.
    pub fn is_negative(&self) -> bool {
        self.millis < 0
    }
}

/// A byte count as the API server writes it in binary SI: `2Mi`, `1Gi`, `1536Ki`, `0`.
pub fn binary_si(bytes: u64) -> String {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut value = bytes;
    let mut power = 0;
    while value != 0 && value.is_multiple_of(1024) && power + 1 < SUFFIXES.len() {
        value /= 1024;
        power += 1;
    }
    format!("{value}{}", SUFFIXES[power])
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 100m, 128Mi or 2")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_are_written_in_binary_si() {
        assert_eq!(binary_si(0), "0");
        assert_eq!(binary_si(2 << 20), "2Mi");
        assert_eq!(binary_si(1 << 30), "1Gi");
        assert_eq!(binary_si(1536 << 10), "1536Ki");
        assert_eq!(binary_si(1000), "1000");
    }

    #[test]
    fn parses_the_suffixes_kubernetes_accepts() {
        let millis = |s: &str| Quantity::parse(s).unwrap().millis();
        assert_eq!(millis("100m"), 100);
        assert_eq!(millis("1"), 1000);
        assert_eq!(millis("0.5"), 500);
        assert_eq!(millis("1.5k"), 1_500_000);
        assert_eq!(millis("2e3"), 2_000_000);
        assert_eq!(millis("1n"), 1, "sub-milli values round up");
        assert_eq!(Quantity::parse("128Mi").unwrap().value(), 128 * 1024 * 1024);
        assert_eq!(Quantity::parse("1G").unwrap().value(), 1_000_000_000);
        assert!(Quantity::parse("-1").unwrap().is_negative());
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in ["", "abc", "1.2.3", "12Qi", "1 Mi", ".", "1e99", "Mi"] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
