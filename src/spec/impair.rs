//! `impair = { ... }` (or `[{ ... }, { ... }]`, one per end) as written. The values are
//! kept as written (a percentage may be a string or a number): `topology` parses them,
//! so that every mistake is reported at once with its place.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Sp;

/// How an impairment is made: a qdisc in the kernel (netem, tbf) and nftables drops, or
/// netlab's userspace relay; `Auto` picks the kernel where it can do everything asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImpairMode {
    Auto,
    Kernel,
    Userspace,
}

/// An `impair` field: one table for both ends (both directions), or one per end.
#[derive(Debug)]
pub enum ImpairSpec {
    Both(Box<ImpairTable>),
    PerEnd(Vec<Sp<ImpairTable>>),
}

/// One `{ delay = "20ms", loss = "1%", ... }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpairTable {
    pub delay: Option<Sp<String>>,
    pub jitter: Option<Sp<String>>,
    pub distribution: Option<Sp<String>>,
    /// A percentage: `"1.5%"` or a number from 0 to 100.
    pub loss: Option<Sp<toml::Value>>,
    pub duplicate: Option<Sp<toml::Value>>,
    pub corrupt: Option<Sp<toml::Value>>,
    pub reorder: Option<Sp<toml::Value>>,
    /// Bits per second with tc's suffixes (`"10mbit"`), or a number of bits per second.
    pub rate: Option<Sp<toml::Value>>,
    pub limit: Option<Sp<u32>>,
    pub seed: Option<Sp<u64>>,
    pub mode: Option<Sp<ImpairMode>>,
    pub carrier: Option<Sp<bool>>,
}

/// A table or a list of tables; anything else is a located type error.
impl<'de> Deserialize<'de> for ImpairSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ImpairSpec, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = ImpairSpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an impairment table (like { delay = \"20ms\" }) or a list of two")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ImpairSpec, A::Error> {
                // Through toml's own map, so the fields keep their spans.
                ImpairTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| ImpairSpec::Both(Box::new(t)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ImpairSpec, A::Error> {
                let mut ends = Vec::new();
                while let Some(end) = seq.next_element()? {
                    ends.push(end);
                }
                Ok(ImpairSpec::PerEnd(ends))
            }
        }
        d.deserialize_any(Either)
    }
}
