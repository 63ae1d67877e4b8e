//! The model of a link impairment: what one direction of a link does to the frames that
//! cross it (delay, jitter, loss, duplication, corruption, reordering, a rate, a queue
//! limit, a pulled cable), its value forms ([`value`]: what a topology file and the
//! command line write) and its one-line text form (`delay=20ms,loss=1%`, or `none`),
//! which plans, the relay's command line, its control channel and its stats file share.
//!
//! Plain data with no I/O, at the bottom of the layers: `topology` resolves a file's
//! `impair` tables into it, `plan` carries it in ops, and the engines of the `impair`
//! module (netem and tbf qdiscs, the userspace relay) make it so.
//!
//! # Semantics (shared by both engines, netem's where it has one)
//!
//! An impairment applies to the frames leaving through it. A frame is lost with
//! probability `loss`; one that is not is duplicated with probability `duplicate` (the
//! copy meets its own fate, but is not duplicated again), and has one bit flipped with
//! probability `corrupt` (any bit of the frame, link-layer header included; checksums
//! are left wrong, so the receiver's stack sees the damage). It then waits its turn on
//! the link (`rate`: each frame occupies the link for its length, link-layer header
//! included, at that many bits per second), then `delay` give or take `jitter` drawn
//! from `distribution`. A delay line with jitter does not keep order (netem's does not
//! either). With probability `reorder` (every `gap`-th frame at most) a frame skips the
//! delay and so overtakes the ones ahead of it. At most `limit` frames wait at once
//! (default 1000, netem's); a frame beyond that is dropped. With `carrier = false` every
//! frame is dropped: the ends stay up, as with a pulled cable.

pub mod value;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use value::{Distribution, Percent};

/// netem's default queue limit, in frames.
pub const DEFAULT_LIMIT: u32 = 1000;

/// What one direction of a link does to the frames crossing it. The default does
/// nothing (a plain wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Impairment {
    /// Added to every frame's trip.
    pub delay: Duration,
    /// How far a frame's delay strays from `delay` (for `uniform`, at most this far).
    pub jitter: Duration,
    pub distribution: Distribution,
    pub loss: Percent,
    pub duplicate: Percent,
    pub corrupt: Percent,
    /// The share of frames that skip the delay (needs a delay).
    pub reorder: Percent,
    /// Reorder at most every `gap`-th frame (netem's gap; 0: not set, which is 1).
    pub gap: u32,
    /// Bits per second of link-layer frames.
    pub rate: Option<u64>,
    /// Frames that may wait at once; default [`DEFAULT_LIMIT`].
    pub limit: Option<u32>,
    /// Makes the fate of each frame reproducible (see the userspace engine's `impair::fate`).
    pub seed: Option<u64>,
    /// False: every frame is dropped, both ends stay up.
    pub carrier: bool,
}

impl Default for Impairment {
    fn default() -> Impairment {
        Impairment {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            distribution: Distribution::Uniform,
            loss: Percent::ZERO,
            duplicate: Percent::ZERO,
            corrupt: Percent::ZERO,
            reorder: Percent::ZERO,
            gap: 0,
            rate: None,
            limit: None,
            seed: None,
            carrier: true,
        }
    }
}

/// The keys of the text form, in the order it prints them.
pub const KEYS: [&str; 13] = [
    "delay",
    "jitter",
    "distribution",
    "loss",
    "duplicate",
    "corrupt",
    "reorder",
    "gap",
    "rate",
    "limit",
    "seed",
    "carrier",
    "none",
];

impl Impairment {
    /// True when it changes nothing: frames pass as on a plain wire.
    pub fn is_none(&self) -> bool {
        *self == Impairment { limit: self.limit, seed: self.seed, ..Impairment::default() }
    }

    /// The queue limit in force.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    /// Sets one field from its text form, as `key=value` gives it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = |what: &str| format!("`{value}` is not a {what}");
        match key {
            "delay" => self.delay = value::parse_duration(value)?,
            "jitter" => self.jitter = value::parse_duration(value)?,
            "distribution" => self.distribution = value.parse()?,
            "loss" => self.loss = value.parse()?,
            "duplicate" => self.duplicate = value.parse()?,
            "corrupt" => self.corrupt = value.parse()?,
            "reorder" => self.reorder = value.parse()?,
            "gap" => self.gap = value.parse().map_err(|_| number("gap: expected a whole number of frames"))?,
            "rate" => self.rate = Some(value::parse_rate(value)?),
            "limit" => {
                let limit: u32 = value.parse().map_err(|_| number("limit: expected a number of frames"))?;
                if limit == 0 {
                    return Err("the limit must be at least 1 frame".into());
                }
                self.limit = Some(limit)
            }
            "seed" => self.seed = Some(value.parse().map_err(|_| number("seed: expected a whole number"))?),
            "carrier" => {
                self.carrier = match value {
                    "true" | "on" => true,
                    "false" | "off" => false,
                    _ => return Err(format!("`{value}` is not a carrier state: expected true or false")),
                }
            }
            _ => return Err(format!("unknown impairment `{key}`: expected one of {}", KEYS[..12].join(", "))),
        }
        Ok(())
    }

    /// Everything that does not make sense together, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.reorder.is_zero() && self.delay.is_zero() {
            problems.push("reorder needs a delay: a reordered frame is one sent without it".to_owned());
        }
        if self.gap > 0 && self.reorder.is_zero() {
            problems.push("gap needs reorder: it says how often a frame may be reordered".to_owned());
        }
        if self.distribution != Distribution::Uniform && self.jitter.is_zero() {
            problems.push(format!("distribution {} needs a jitter to shape", self.distribution));
        }
        if !self.jitter.is_zero() && self.delay.is_zero() {
            problems.push("jitter needs a delay to vary around".to_owned());
        }
        problems
    }

    /// [`problems`](Self::problems) as one error.
    pub fn validate(&self) -> Result<(), String> {
        match self.problems().as_slice() {
            [] => Ok(()),
            problems => Err(problems.join("; ")),
        }
    }
}

/// `delay=20ms,jitter=5ms,loss=1%`: the fields that differ from the default, in
/// [`KEYS`] order; `none` for the default.
impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let d = Impairment::default();
        if self.delay != d.delay {
            parts.push(format!("delay={}", value::format_duration(self.delay)));
        }
        if self.jitter != d.jitter {
            parts.push(format!("jitter={}", value::format_duration(self.jitter)));
        }
        if self.distribution != d.distribution {
            parts.push(format!("distribution={}", self.distribution));
        }
        for (key, p) in
            [("loss", self.loss), ("duplicate", self.duplicate), ("corrupt", self.corrupt), ("reorder", self.reorder)]
        {
            if !p.is_zero() {
                parts.push(format!("{key}={p}"));
            }
        }
        if self.gap != 0 {
            parts.push(format!("gap={}", self.gap));
        }
        if let Some(rate) = self.rate {
            parts.push(format!("rate={}", value::format_rate(rate)));
        }
        if let Some(limit) = self.limit {
            parts.push(format!("limit={limit}"));
        }
        if let Some(seed) = self.seed {
            parts.push(format!("seed={seed}"));
        }
        if !self.carrier {
            parts.push("carrier=false".to_owned());
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// The text form [`Display`](fmt::Display) prints: `key=value` pairs separated by commas
/// (`none` or nothing for no impairment), each key at most once, checked as a whole.
impl FromStr for Impairment {
    type Err = String;

    fn from_str(s: &str) -> Result<Impairment, String> {
        let mut imp = Impairment::default();
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(imp);
        }
        let mut seen: Vec<&str> = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not key=value (like delay=20ms or loss=1%)"))?;
            let key = key.trim();
            if seen.contains(&key) {
                return Err(format!("`{key}` is given twice"));
            }
            seen.push(key);
            imp.set(key, value.trim())?;
        }
        imp.validate()?;
        Ok(imp)
    }
}

/// In JSON (ops, records): the text form, as a string.
impl serde::Serialize for Impairment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Impairment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Impairment, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips() {
        let full = "delay=20ms,jitter=5ms,distribution=normal,loss=1.5%,duplicate=1%,corrupt=0.1%,reorder=25%,gap=5,\
                    rate=10mbit,limit=2000,seed=7,carrier=false";
        let imp: Impairment = full.parse().unwrap();
        assert_eq!(imp.delay, Duration::from_millis(20));
        assert_eq!(imp.jitter, Duration::from_millis(5));
        assert_eq!(imp.distribution, Distribution::Normal);
        assert_eq!(imp.loss, "1.5%".parse().unwrap());
        assert_eq!(imp.gap, 5);
        assert_eq!(imp.rate, Some(10_000_000));
        assert_eq!(imp.limit(), 2000);
        assert_eq!(imp.seed, Some(7));
        assert!(!imp.carrier);
        assert_eq!(imp.to_string(), full);
        assert_eq!(imp.to_string().parse::<Impairment>(), Ok(imp));
        // Any order, spaces, other spellings of the same values.
        let imp: Impairment = " loss = 10 , delay=0.05s ".parse().unwrap();
        assert_eq!(imp.to_string(), "delay=50ms,loss=10%");
        let json = serde_json::to_string(&imp).unwrap();
        assert_eq!(json, "\"delay=50ms,loss=10%\"");
        assert_eq!(serde_json::from_str::<Impairment>(&json).unwrap(), imp);
        assert!(serde_json::from_str::<Impairment>("\"loss=200%\"").is_err());
        for none in ["", "none", "  "] {
            assert_eq!(none.parse::<Impairment>(), Ok(Impairment::default()));
        }
        assert_eq!(Impairment::default().to_string(), "none");
    }

    #[test]
    fn nothing_set_is_a_plain_wire() {
        assert!(Impairment::default().is_none());
        assert!("seed=3,limit=10".parse::<Impairment>().unwrap().is_none(), "a seed alone changes no frame");
        for some in ["delay=1ms", "loss=1%", "rate=1mbit", "carrier=false", "duplicate=0.000001%"] {
            assert!(!some.parse::<Impairment>().unwrap().is_none(), "{some}");
        }
    }

    #[test]
    fn bad_text_says_what_is_wrong() {
        for (bad, why) in [
            ("delay", "not key=value"),
            ("delay=20", "no unit"),
            ("latency=20ms", "unknown impairment `latency`: expected one of delay, jitter"),
            ("loss=1%,loss=2%", "given twice"),
            ("loss=200%", "more than 100%"),
            ("rate=10mb", "unknown rate unit"),
            ("limit=0", "at least 1 frame"),
            ("limit=lots", "not a limit"),
            ("seed=-1", "not a seed"),
            ("carrier=maybe", "true or false"),
            ("reorder=10%", "reorder needs a delay"),
            ("delay=10ms,gap=3", "gap needs reorder"),
            ("delay=10ms,distribution=normal", "needs a jitter"),
            ("jitter=10ms", "jitter needs a delay"),
            ("distribution=gaussian", "not a distribution"),
        ] {
            let err = bad.parse::<Impairment>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
