//! The value forms of an impairment, parsed and printed: durations (`20ms`), percentages
//! (`1.5%`, or a number 0-100), rates (`10mbit`, tc's suffixes), distribution names.
//!
//! Each parser is a plain function returning the value or a one-sentence error that says
//! what would be right; the topology layer adds the file, line and column. Every value
//! prints back in a form its parser reads to the same value, so an impairment's text form
//! (plans, the relay's control channel) round-trips exactly.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A probability as a percentage with up to six decimals (`0.000001%` to `100%`), kept
/// exact so that what a file says prints back unchanged and compares equal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent {
    /// Millionths of a percent: 100% is 100_000_000.
    micro: u32,
}

impl Percent {
    pub const ZERO: Percent = Percent { micro: 0 };
    pub const HUNDRED: Percent = Percent { micro: 100_000_000 };
    const SCALE: u64 = 1_000_000;

    pub fn is_zero(self) -> bool {
        self.micro == 0
    }

    /// Millionths of a percent: 100% is 100,000,000.
    pub fn micro(self) -> u32 {
        self.micro
    }

    /// From netem's scale (see [`Percent::netem_scaled`]), exactly: one millionth of a
    /// percent is 43 steps of it.
    pub fn from_netem_scaled(scaled: u32) -> Percent {
        let micro = (f64::from(scaled) / f64::from(u32::MAX) * 100_000_000.0).round();
        Percent { micro: micro as u32 }
    }

    /// From a number of percent, as a file gives it (`loss = 1.5`).
    pub fn from_number(p: f64) -> Result<Percent, String> {
        if !p.is_finite() || !(0.0..=100.0).contains(&p) {
            return Err(format!("{p} is not a percentage: expected a number from 0 to 100, like 1.5 or \"1.5%\""));
        }
        let micro = (p * Self::SCALE as f64).round();
        if (micro / Self::SCALE as f64 - p).abs() > 1e-9 {
            return Err(format!("{p}% has more than six decimals"));
        }
        Ok(Percent { micro: micro as u32 })
    }

    /// The fraction, 0.0 to 1.0.
    pub fn fraction(self) -> f64 {
        f64::from(self.micro) / 100_000_000.0
    }

    /// The probability on netem's scale, as tc computes it: `rint(p * UINT32_MAX)`.
    pub fn netem_scaled(self) -> u32 {
        (self.fraction() * f64::from(u32::MAX)).round_ties_even() as u32
    }

    /// True with this probability for a uniformly drawn `draw`: exact for 0% and 100%.
    pub fn hits(self, draw: u64) -> bool {
        // draw / 2^64 < micro / 10^8, without rounding.
        u128::from(draw) * 100_000_000 < u128::from(self.micro) << 64
    }
}

/// In JSON: `"1.5%"`.
impl serde::Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// `1.5%` or `1.5`, a percentage from 0 to 100 with up to six decimals.
impl FromStr for Percent {
    type Err = String;

    fn from_str(s: &str) -> Result<Percent, String> {
        let number = s.strip_suffix('%').unwrap_or(s).trim();
        let bad = || format!("`{s}` is not a percentage: expected a number from 0 to 100, like \"1.5%\" or 1.5");
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        if frac.len() > 6 {
            return Err(format!("`{s}` has more than six decimals"));
        }
        let int: u64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
        let frac_micro: u64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
        let micro = int.checked_mul(Self::SCALE).and_then(|m| m.checked_add(frac_micro)).ok_or_else(bad)?;
        if micro > u64::from(Self::HUNDRED.micro) {
            return Err(format!("`{s}` is more than 100%"));
        }
        Ok(Percent { micro: micro as u32 })
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = u64::from(self.micro) / Self::SCALE;
        let frac = u64::from(self.micro) % Self::SCALE;
        if frac == 0 {
            write!(f, "{int}%")
        } else {
            let digits = format!("{frac:06}");
            write!(f, "{int}.{}%", digits.trim_end_matches('0'))
        }
    }
}

/// A duration with a unit, as tc reads it: `20ms`, `1.5s`, `500us`, `100ns` (also `sec`,
/// `msec`, `usec`, `nsec` and their plurals, any case). A bare number is refused: tc takes
/// it as nanoseconds and older tc as microseconds, so it means different things to people.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let hint = "expected a number and a unit, like \"20ms\", \"1.5s\" or \"500us\"";
    if number.is_empty() || number.bytes().filter(|&b| b == b'.').count() > 1 || number == "." {
        return Err(format!("`{s}` is not a duration: {hint}"));
    }
    let ns_per_unit: f64 = match unit.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" => 1e9,
        "ms" | "msec" | "msecs" => 1e6,
        "us" | "usec" | "usecs" => 1e3,
        "ns" | "nsec" | "nsecs" => 1.0,
        "" => return Err(format!("`{s}` has no unit: {hint}")),
        other => return Err(format!("`{s}`: unknown unit `{other}` ({hint})")),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{s}` is not a duration: {hint}"))?;
    let ns = (value * ns_per_unit).round();
    if ns > u64::MAX as f64 / 2.0 {
        return Err(format!("`{s}` is too long"));
    }
    if (ns - value * ns_per_unit).abs() > 0.01 {
        return Err(format!("`{s}` is finer than a nanosecond"));
    }
    Ok(Duration::from_nanos(ns as u64))
}

/// A duration in the largest unit that shows it exactly: `20ms`, `1500us`, `2s`.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0 => "0ms".to_owned(),
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}us", n / 1_000),
        n => format!("{n}ns"),
    }
}

/// tc's rate suffixes (iproute2 lib/utils_math.c), in bits per second: decimal `kbit`,
/// `mbit`, `gbit`, `tbit`, binary `kibit`..., and bytes per second `bps`, `kbps`...
const RATE_SUFFIXES: [(&str, f64); 18] = [
    ("bit", 1.0),
    ("kibit", 1024.0),
    ("kbit", 1e3),
    ("mibit", 1024.0 * 1024.0),
    ("mbit", 1e6),
    ("gibit", 1024.0 * 1024.0 * 1024.0),
    ("gbit", 1e9),
    ("tibit", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("tbit", 1e12),
    ("bps", 8.0),
    ("kibps", 8.0 * 1024.0),
    ("kbps", 8e3),
    ("mibps", 8.0 * 1024.0 * 1024.0),
    ("mbps", 8e6),
    ("gibps", 8.0 * 1024.0 * 1024.0 * 1024.0),
    ("gbps", 8e9),
    ("tibps", 8.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("tbps", 8e12),
];

/// A rate in bits per second of link-layer frames (the Ethernet header counts, as in tc),
/// written as tc writes it: `10mbit` is 10,000,000 bit/s; a bare number is bits per
/// second; the suffixes and their case rules are tc's (`kbit`, `Mbit`, `MBps` = 8 Mbit/s).
/// At least 8 bit/s: the kernel counts rates in bytes per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let hint = "expected bits per second with tc's suffixes, like \"10mbit\", \"512kbit\" or \"1gbit\"";
    let value: f64 = number.parse().map_err(|_| format!("`{s}` is not a rate: {hint}"))?;
    let scale = if unit.is_empty() {
        1.0
    } else {
        RATE_SUFFIXES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, scale)| scale)
            .ok_or_else(|| format!("`{s}`: unknown rate unit `{unit}` ({hint})"))?
    };
    let bits = (value * scale).floor();
    if bits < 8.0 {
        return Err(format!("`{s}` is below 8bit (one byte per second), the smallest rate the kernel knows"));
    }
    if bits >= u64::MAX as f64 {
        return Err(format!("`{s}` is too fast"));
    }
    Ok(bits as u64)
}

/// A rate in the largest decimal unit that shows it exactly: `10mbit`, `1500kbit`.
pub fn format_rate(bits: u64) -> String {
    for (unit, scale) in [("tbit", 1_000_000_000_000u64), ("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1_000)]
    {
        if bits % scale == 0 && bits >= scale {
            return format!("{}{unit}", bits / scale);
        }
    }
    format!("{bits}bit")
}

/// How jitter spreads the delay around its mean. The non-uniform shapes are netem's
/// tables (see [`super::dist`]), so the kernel and the userspace line draw alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Evenly between delay - jitter and delay + jitter (netem's default).
    #[default]
    Uniform,
    /// Normal, with jitter as its standard deviation.
    Normal,
    /// Pareto (a long tail of late packets).
    Pareto,
    /// A mix: a quarter normal, three quarters Pareto.
    ParetoNormal,
}

impl Distribution {
    pub const ALL: [Distribution; 4] =
        [Distribution::Uniform, Distribution::Normal, Distribution::Pareto, Distribution::ParetoNormal];

    pub fn name(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Normal => "normal",
            Distribution::Pareto => "pareto",
            Distribution::ParetoNormal => "paretonormal",
        }
    }
}

impl FromStr for Distribution {
    type Err = String;

    fn from_str(s: &str) -> Result<Distribution, String> {
        Distribution::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| {
            format!("`{s}` is not a distribution: expected \"uniform\", \"normal\", \"pareto\" or \"paretonormal\"")
        })
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_as_text_or_number_and_print_back() {
        for (text, micro, shown) in [
            ("1.5%", 1_500_000, "1.5%"),
            ("1.5", 1_500_000, "1.5%"),
            ("0%", 0, "0%"),
            ("100", 100_000_000, "100%"),
            ("0.000001%", 1, "0.000001%"),
            ("10.250%", 10_250_000, "10.25%"),
            (".5%", 500_000, "0.5%"),
        ] {
            let p: Percent = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(p.micro, micro, "{text}");
            assert_eq!(p.to_string(), shown);
            assert_eq!(shown.parse::<Percent>(), Ok(p), "round trip of {shown}");
        }
        assert_eq!(Percent::from_number(1.5), Ok("1.5%".parse().unwrap()));
        assert_eq!(Percent::from_number(0.1), Ok("0.1%".parse().unwrap()));
        assert!(Percent::from_number(100.5).unwrap_err().contains("from 0 to 100"));
        assert!(Percent::from_number(-1.0).unwrap_err().contains("from 0 to 100"));
        assert!(Percent::from_number(f64::NAN).unwrap_err().contains("from 0 to 100"));
        assert!(Percent::from_number(0.0000001).unwrap_err().contains("six decimals"));
        for (bad, why) in [
            ("101%", "more than 100%"),
            ("-1%", "not a percentage"),
            ("abc", "not a percentage"),
            ("%", "not a percentage"),
            ("1e2", "not a percentage"),
            ("1.2.3", "not a percentage"),
            ("0.0000001%", "six decimals"),
            ("99999999999999999999%", "not a percentage"),
        ] {
            let err = bad.parse::<Percent>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn percentages_scale_like_tc_and_hit_exactly_at_the_ends() {
        // tc: rint(p * UINT32_MAX).
        assert_eq!("1%".parse::<Percent>().unwrap().netem_scaled(), 42_949_673);
        assert_eq!(Percent::HUNDRED.netem_scaled(), u32::MAX);
        assert_eq!(Percent::ZERO.netem_scaled(), 0);
        for micro in [0, 1, 2, 1_500_000, 33_333_333, 99_999_999, 100_000_000] {
            let p = Percent { micro };
            assert_eq!(Percent::from_netem_scaled(p.netem_scaled()), p, "{p}");
        }
        assert!(!Percent::ZERO.hits(0));
        assert!(Percent::HUNDRED.hits(u64::MAX));
        let half: Percent = "50%".parse().unwrap();
        assert!(half.hits(u64::MAX / 2 - 1));
        assert!(!half.hits(u64::MAX / 2 + 1));
    }

    #[test]
    fn durations_need_a_unit_and_print_exactly() {
        for (text, ns, shown) in [
            ("20ms", 20_000_000, "20ms"),
            ("1.5s", 1_500_000_000, "1500ms"),
            ("500us", 500_000, "500us"),
            ("100ns", 100, "100ns"),
            ("2sec", 2_000_000_000, "2s"),
            ("7MSECS", 7_000_000, "7ms"),
            ("0.25ms", 250_000, "250us"),
            ("0ms", 0, "0ms"),
        ] {
            let d = parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d.as_nanos(), ns, "{text}");
            assert_eq!(format_duration(d), shown);
            assert_eq!(parse_duration(shown), Ok(d));
        }
        for (bad, why) in [
            ("20", "no unit"),
            ("ms", "not a duration"),
            ("20 minutes", "unknown unit"),
            ("20h", "unknown unit"),
            ("-5ms", "not a duration"),
            ("1.2.3ms", "not a duration"),
            ("0.5ns", "finer than a nanosecond"),
            ("1e30s", "unknown unit"),
            ("99999999999999s", "too long"),
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn rates_use_tcs_suffixes_in_bits_per_second() {
        for (text, bits, shown) in [
            ("10mbit", 10_000_000, "10mbit"),
            ("10Mbit", 10_000_000, "10mbit"),
            ("1gbit", 1_000_000_000, "1gbit"),
            ("512kbit", 512_000, "512kbit"),
            ("1.5mbit", 1_500_000, "1500kbit"),
            ("1000", 1000, "1kbit"),
            ("1kibit", 1024, "1024bit"),
            ("1MBps", 8_000_000, "8mbit"),
            ("100bps", 800, "800bit"),
            ("40gbit", 40_000_000_000, "40gbit"),
        ] {
            let r = parse_rate(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r, bits, "{text}");
            assert_eq!(format_rate(r), shown);
            assert_eq!(parse_rate(shown), Ok(r));
        }
        for (bad, why) in [
            ("fast", "not a rate"),
            ("10 mbit/s", "unknown rate unit"),
            ("10mb", "unknown rate unit"),
            ("0mbit", "below 8bit"),
            ("4bit", "below 8bit"),
            ("-1mbit", "not a rate"),
        ] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn distributions_by_name() {
        for d in Distribution::ALL {
            assert_eq!(d.name().parse(), Ok(d));
        }
        let err = "gaussian".parse::<Distribution>().unwrap_err();
        assert!(err.contains("\"normal\""), "{err}");
    }
}
