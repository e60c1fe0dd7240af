//! Durations, rates and bandwidths as people write them: `"150ms"`, `"2.5s"`, `"1m"`,
//! `"200/s"`, `"1Gbit/s"`, `"100MB/s"`. Durations and bandwidths are parsed exactly in
//! integers (nanoseconds, bits per second), never through floats.

use dsim_core::SimDuration;

/// Units a duration may use, with their size in nanoseconds.
const DURATION_UNITS: [(&str, u64); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Units a bandwidth may use, with their size in bits per second: bits in decimal
/// (SI) multiples, bytes (8 bits) in decimal and binary multiples.
const BANDWIDTH_UNITS: [(&str, u64); 13] = [
    ("bit/s", 1),
    ("kbit/s", 1_000),
    ("Mbit/s", 1_000_000),
    ("Gbit/s", 1_000_000_000),
    ("Tbit/s", 1_000_000_000_000),
    ("B/s", 8),
    ("kB/s", 8_000),
    ("MB/s", 8_000_000),
    ("GB/s", 8_000_000_000),
    ("TB/s", 8_000_000_000_000),
    ("KiB/s", 8 << 10),
    ("MiB/s", 8 << 20),
    ("GiB/s", 8 << 30),
];

/// What a bandwidth looks like, for error messages.
pub const BANDWIDTH_HELP: &str = "a bandwidth above zero like \"1Gbit/s\", \"100Mbit/s\" or \"125MB/s\" (units: bit/s, kbit/s, Mbit/s, Gbit/s, Tbit/s, B/s, kB/s, MB/s, GB/s, TB/s, KiB/s, MiB/s, GiB/s)";

/// Parses a bandwidth such as `"2.5Gbit/s"` into bits per second; `None` if malformed,
/// finer than a bit per second, or too large. Zero parses (callers refuse it with a
/// message of their own).
pub fn parse_bandwidth(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = BANDWIDTH_UNITS
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|(_, scale)| *scale)?;
    scaled_decimal(number, scale)
}

/// What a duration looks like, for error messages.
pub const DURATION_HELP: &str =
    "a duration like \"150ms\", \"2.5s\" or \"1m\" (units: ns, us, ms, s, m, h)";

/// What a rate looks like, for error messages.
pub const RATE_HELP: &str = "a rate like \"200/s\", \"5/ms\" or \"30/m\"";

/// Parses a non-negative duration such as `"2.5s"`; `None` if malformed or too large.
pub fn parse_duration(text: &str) -> Option<SimDuration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|(_, scale)| *scale)?;
    scaled_decimal(number, scale).map(SimDuration)
}

/// Parses a duration that may be negative (clock offsets): `"-50ms"`.
pub fn parse_signed_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = i64::try_from(parse_duration(rest)?.as_nanos()).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Parses a rate `"N/unit"` into operations per second.
pub fn parse_rate(text: &str) -> Option<f64> {
    let (count, unit) = text.trim().split_once('/')?;
    let count: f64 = count.trim().replace('_', "").parse().ok()?;
    let per_unit_ns = match unit.trim() {
        "s" | "sec" => 1e9,
        "ms" => 1e6,
        "us" => 1e3,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let rate = count * 1e9 / per_unit_ns;
    (rate.is_finite() && rate >= 0.0).then_some(rate)
}

/// `"2.5"` times `scale`, exactly; `None` when malformed, when the fraction is finer
/// than a nanosecond, or on overflow.
fn scaled_decimal(number: &str, scale: u64) -> Option<u64> {
    let number = number.replace('_', "");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut total = whole.parse::<u64>().ok()?.checked_mul(scale)?;
    let mut place = scale;
    for digit in fraction.bytes() {
        if !place.is_multiple_of(10) {
            // More decimal places than the unit has nanoseconds.
            return None;
        }
        place /= 10;
        total = total.checked_add(u64::from(digit - b'0') * place)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_exactly() {
        assert_eq!(parse_duration("150ms"), Some(SimDuration::from_millis(150)));
        assert_eq!(parse_duration("2.5s"), Some(SimDuration::from_millis(2500)));
        assert_eq!(parse_duration("1m"), Some(SimDuration::from_secs(60)));
        assert_eq!(parse_duration("0.000000001s"), Some(SimDuration(1)));
        assert_eq!(parse_duration("1_000ns"), Some(SimDuration(1000)));
        assert_eq!(parse_duration("10 ms"), Some(SimDuration::from_millis(10)));
    }

    #[test]
    fn malformed_durations_are_refused() {
        for bad in [
            "",
            "ms",
            "5",
            "5 parsecs",
            "-5ms",
            "1.5ns",
            "1e3ms",
            ".5s",
            "5.s",
            "99999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?} should not parse");
        }
    }

    #[test]
    fn bandwidths_parse_exactly_in_bits_per_second() {
        // A unit scaled wrong (bytes taken as bits, binary as decimal) changes every
        // transmission time by that factor.
        assert_eq!(parse_bandwidth("1Gbit/s"), Some(1_000_000_000));
        assert_eq!(parse_bandwidth("2.5 Mbit/s"), Some(2_500_000));
        assert_eq!(parse_bandwidth("8bit/s"), Some(8));
        assert_eq!(parse_bandwidth("125MB/s"), Some(1_000_000_000));
        assert_eq!(parse_bandwidth("1KiB/s"), Some(8_192));
        assert_eq!(parse_bandwidth("0bit/s"), Some(0));
        for bad in [
            "", "1", "1Gb", "1 gbit/s", "-1Mbit/s", "NaN", "0.5bit/s", "1e9bit/s",
        ] {
            assert_eq!(parse_bandwidth(bad), None, "{bad:?} should not parse");
        }
    }

    #[test]
    fn signed_durations_and_rates() {
        assert_eq!(parse_signed_duration("-50ms"), Some(-50_000_000));
        assert_eq!(parse_signed_duration("2s"), Some(2_000_000_000));
        assert_eq!(parse_rate("200/s"), Some(200.0));
        assert_eq!(parse_rate("5/ms"), Some(5000.0));
        assert_eq!(parse_rate("30/m"), Some(0.5));
        assert_eq!(parse_rate("fast"), None);
        assert_eq!(parse_rate("-1/s"), None);
    }
}
