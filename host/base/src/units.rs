//! Sizes and durations: how workflow files and flags write them, and how
//! messages show them. One owner, so a size or a duration reads the same in
//! every message, whichever crate prints it.
//!
//! The syntax is savepoint's own, not `humantime`'s: humantime accepts
//! `5 minutes`, `1m 30s`, `1.5s` and `64 MiB`-like spaces, and its errors read
//! differently, while a workflow file accepts exactly `30s`, `1m30s`, `64MiB`
//! (a typo stays an error that says what to write).

use std::time::Duration;

/// 1 KiB, in bytes.
pub const KIB: u64 = 1024;
/// 1 MiB, in bytes.
pub const MIB: u64 = 1024 * KIB;
/// 1 GiB, in bytes.
pub const GIB: u64 = 1024 * MIB;

/// Size units, as written; KB = 1000 bytes, KiB = 1024.
const SIZE_UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KB", 1000),
    ("KiB", KIB),
    ("MB", 1000 * 1000),
    ("MiB", MIB),
    ("GB", 1000 * 1000 * 1000),
    ("GiB", GIB),
];

/// Parses a size in bytes: a number and a unit (`B`, `KB`/`KiB`, `MB`/`MiB`,
/// `GB`/`GiB`; KB = 1000 bytes, KiB = 1024), e.g. `512KiB`, `64MiB`, `1GiB`, or a
/// plain number of bytes. Units are case-sensitive; no spaces, no fractions. Zero
/// is accepted; callers decide whether it makes sense.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let multiplier = match unit {
        "" => Some(1),
        _ => SIZE_UNITS.iter().find(|(u, _)| *u == unit).map(|(_, m)| *m),
    };
    let (false, Some(multiplier)) = (number.is_empty(), multiplier) else {
        return Err(format!(
            "invalid size \"{text}\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\""
        ));
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("invalid size \"{text}\": too large"))
}

/// Shows a size exactly, in the largest unit that holds it (binary units
/// first), a space before the unit: `64 MiB`, `1 MB`, `1500 B`. Without the
/// space it is what [`parse_size`] reads, so a message can name the value a
/// file set (`got 1 MB` for `"1MB"`).
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0 B".to_owned();
    }
    let binary = [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)];
    let decimal = [("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000)];
    binary
        .into_iter()
        .chain(decimal)
        .find(|(_, size)| bytes.is_multiple_of(*size))
        .map_or_else(
            || format!("{bytes} B"),
            |(unit, size)| format!("{} {unit}", bytes / size),
        )
}

/// Duration units, as written, from the largest to the smallest, in milliseconds.
const DURATION_UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration: a number and a unit (`ms`, `s`, `m`, `h`, `d`), or several
/// from the largest unit to the smallest, e.g. `250ms`, `30s`, `5m`, `2h`, `1d`,
/// `1m30s`. No spaces, no fractions. Zero (`0s`) is accepted; callers decide
/// whether it makes sense.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid duration \"{text}\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
        )
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    // Index into DURATION_UNITS of the last unit seen: units must strictly decrease.
    let mut last: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, after) = rest.split_at(digits);
        let letters = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_lowercase())
                .len();
        let (unit, after) = after.split_at(letters);
        if number.is_empty() {
            return Err(invalid());
        }
        let Some(index) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(invalid());
        };
        if last.is_some_and(|last| index <= last) {
            return Err(format!(
                "invalid duration \"{text}\": each unit may appear once, from the largest to \
                 the smallest (d, h, m, s, ms), e.g. \"1m30s\""
            ));
        }
        let too_large = || format!("invalid duration \"{text}\": too large");
        let amount = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(DURATION_UNITS[index].1))
            .ok_or_else(too_large)?;
        total = total.checked_add(amount).ok_or_else(too_large)?;
        last = Some(index);
        rest = after;
    }
    Ok(Duration::from_millis(total))
}

/// Shows a duration exactly, the way [`parse_duration`] reads it: `1m30s`,
/// `250ms`, `0s`. For a value a file or a flag set, so the message names it as
/// written. Sub-millisecond parts (never produced by the parser) are dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in DURATION_UNITS {
        let size = u128::from(size);
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}

/// Shows a duration in seconds, rounded for people: `30s`, `1.5s`, `250ms`
/// (under a second, in milliseconds). For a wait the clock measured (`parked
/// until ... (in 1.5s)`), where [`format_duration`]'s `1m29s874ms` would be
/// noise; a timeout message uses it too, as it always has.
pub fn humanize(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_sizes() {
        let cases = [
            ("0", 0),
            ("1", 1),
            ("1048576", MIB),
            ("0B", 0),
            ("512B", 512),
            ("1KB", 1000),
            ("1KiB", 1024),
            ("512KiB", 512 * 1024),
            ("2MB", 2_000_000),
            ("64MiB", 64 * MIB),
            ("1GB", 1_000_000_000),
            ("1GiB", GIB),
            ("4GiB", 4 * GIB),
            ("007MiB", 7 * MIB),
            ("4096MiB", 4 * GIB),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(
            parse_size("64 megs").unwrap_err(),
            "invalid size \"64 megs\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\""
        );
        for bad in [
            "",
            "MiB",
            "64 MiB",
            " 64MiB",
            "64MiB ",
            "64mib",
            "64mb",
            "64M",
            "64Mi",
            "64kib",
            "64kB",
            "1.5GiB",
            "-1MiB",
            "+1MiB",
            "1MiB1",
            "1MiB512KiB",
            "1TiB",
            "64b",
            "0x10",
        ] {
            assert_eq!(
                parse_size(bad).unwrap_err(),
                format!(
                    "invalid size \"{bad}\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\""
                ),
                "{bad}"
            );
        }
        for bad in [
            "18446744073709551616",
            "99999999999999999999GiB",
            "17179869184GiB",
        ] {
            assert_eq!(
                parse_size(bad).unwrap_err(),
                format!("invalid size \"{bad}\": too large")
            );
        }
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn formats_sizes_and_reads_them_back() {
        for (bytes, text) in [
            (0, "0 B"),
            (1, "1 B"),
            (1500, "1500 B"),
            (1000, "1 KB"),
            (1024, "1 KiB"),
            (64 * KIB, "64 KiB"),
            (MIB, "1 MiB"),
            (1_000_000, "1 MB"),
            (256 * MIB, "256 MiB"),
            (4 * GIB, "4 GiB"),
            (3 * 512 * MIB, "1536 MiB"),
            (4 * GIB + 1, "4294967297 B"),
            (u64::MAX, "18446744073709551615 B"),
        ] {
            assert_eq!(format_size(bytes), text);
            // What a file would say: the same without the space.
            assert_eq!(parse_size(&text.replace(' ', "")), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn parses_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("2h"), Ok(secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(secs(86_400)));
        assert_eq!(parse_duration("1m30s"), Ok(secs(90)));
        assert_eq!(parse_duration("1d2h3m4s5ms"), Ok(ms(93_784_005)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(secs(90)));
        assert_eq!(parse_duration("007s"), Ok(secs(7)));
    }

    #[test]
    fn rejects_bad_durations() {
        assert_eq!(
            parse_duration("5 minutes").unwrap_err(),
            "invalid duration \"5 minutes\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
        );
        for bad in [
            "", "5", "s", "5x", "5S", "1.5s", "-1s", " 5s", "5s ", "1m 30s", "5min", "m5", "5sec",
            "1ms1",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "invalid duration \"{bad}\": use a number and a unit"
                )),
                "{bad}: {err}"
            );
        }
        for bad in ["30s1m", "1m1m", "1s1s", "5ms1s"] {
            assert_eq!(
                parse_duration(bad).unwrap_err(),
                format!(
                    "invalid duration \"{bad}\": each unit may appear once, from the largest to \
                     the smallest (d, h, m, s, ms), e.g. \"1m30s\""
                )
            );
        }
        for bad in [
            "99999999999999999999s",
            "300000000000d",
            "213503982334d1000h",
        ] {
            assert_eq!(
                parse_duration(bad).unwrap_err(),
                format!("invalid duration \"{bad}\": too large")
            );
        }
    }

    #[test]
    fn formats_durations_as_written() {
        for text in [
            "0s",
            "250ms",
            "30s",
            "5m",
            "1m30s",
            "2h",
            "1d",
            "1d2h3m4s5ms",
        ] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(format_duration(Duration::from_micros(1_500)), "1ms");
    }

    #[test]
    fn humanizes_durations() {
        for (duration, text) in [
            (Duration::ZERO, "0ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(999), "999ms"),
            (secs(1), "1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(1_234), "1.2s"),
            (secs(90), "90s"),
            (secs(300), "300s"),
        ] {
            assert_eq!(humanize(duration), text);
        }
    }
}
