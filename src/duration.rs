//! Durations in configuration files: a number of seconds, or a number with
//! a unit (`"250ms"`, `"1.5s"`, `"5m"`), for serde's `deserialize_with`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Deserializes a [`Duration`] from seconds or a string with a unit.
///
/// # Errors
///
/// The format's error for a negative number, a number too large for a
/// `Duration`, or a string that [`parse`] refuses.
pub(crate) fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// [`duration`] for an optional setting: present means `Some`.
///
/// # Errors
///
/// As [`duration`].
pub(crate) fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserializer.deserialize_any(DurationVisitor).map(Some)
}

/// A duration: a number of seconds, or a number with a unit.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a duration: seconds, or a string like "250ms", "30s", "5m", "1h", "1d""#)
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs)
            .map(Duration::from_secs)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(secs), &self))
    }

    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(secs)
            .map_err(|_| E::invalid_value(de::Unexpected::Float(secs), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// `"250ms"`, `"1.5s"`, `"5m"`, `"30"` (seconds): a non-negative number and
/// an optional unit (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`). Whole numbers
/// are exact; fractions go through `f64`. `None` for anything else, or a
/// duration too large for a `Duration`.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = (text[..split].trim(), &text[split..]);
    let unit_ns: u64 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return None,
    };
    if number.bytes().all(|b| b.is_ascii_digit()) && !number.is_empty() {
        let nanos = u128::from(number.parse::<u64>().ok()?) * u128::from(unit_ns);
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    } else {
        let value: f64 = number.parse().ok()?;
        Duration::try_from_secs_f64(value * unit_ns as f64 / 1e9).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        let ms = Duration::from_millis;
        assert_eq!(parse("250ms"), Some(ms(250)));
        assert_eq!(parse("30s"), Some(ms(30_000)));
        assert_eq!(parse("30"), Some(ms(30_000)));
        assert_eq!(parse("1.5s"), Some(ms(1500)));
        assert_eq!(parse("5m"), Some(ms(300_000)));
        assert_eq!(parse("2h"), Some(ms(7_200_000)));
        assert_eq!(parse("1d"), Some(ms(86_400_000)));
        assert_eq!(parse("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse("7ns"), Some(Duration::from_nanos(7)));
        assert_eq!(parse(" 3 s "), Some(ms(3000)));
        for bad in ["", "s", "-1s", "1x", "1.2.3s", "abc", "1 s s", "NaNs"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert!(parse(&format!("{}d", u64::MAX)).is_none(), "overflow is refused");
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Settings {
        #[serde(deserialize_with = "duration")]
        every: Duration,
        #[serde(default, deserialize_with = "optional_duration")]
        until: Option<Duration>,
    }

    #[test]
    fn numbers_are_seconds_and_strings_have_units() {
        let read = |text: &str| toml::from_str::<Settings>(text);
        let s = read("every = 2\nuntil = \"250ms\"").unwrap();
        assert_eq!(
            s,
            Settings { every: Duration::from_secs(2), until: Some(Duration::from_millis(250)) }
        );
        let s = read("every = 0.5").unwrap();
        assert_eq!(s, Settings { every: Duration::from_millis(500), until: None });
        for bad in
            ["every = -1", "every = -0.5", "every = \"soon\"", "every = 1e300", "every = true"]
        {
            assert!(read(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
