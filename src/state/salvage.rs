//! What can be read of a damaged record: the way out for a lab whose record was cut short
//! (a full disk, a kill during a hand edit), holds bytes that are not UTF-8, or names
//! something no topology could. `down` takes such a lab down from the entries that can
//! be trusted and from the lab's marks in the kernel.
//!
//! The record's top-level fields are read one at a time, and its entries one by one, so
//! everything before the damage is kept; an entry that does not parse as an op, or whose
//! names fail the checks of `check`, is left out and said.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{check, Entry, Record};
use crate::topology::Netns;

/// The trusted part of a damaged record, and what was left out of it.
#[derive(Debug)]
pub struct Salvaged {
    /// The record with only what could be read and checked (its `lab` is the one its
    /// file is named for).
    pub record: Record,
    /// What was left out and why, in the order found.
    pub left_out: Vec<String>,
}

/// Reads what it can of `bytes` into `record` (a new record of the lab).
pub(super) fn salvage(bytes: &[u8], mut record: Record) -> Salvaged {
    let mut left_out = Vec::new();
    let mut reader = Reader { bytes, at: 0 };
    let read = reader.record(&mut |field| match field {
        Field::Lab(value) => {
            if let Err(why) = check::lab(&value, &record.lab) {
                left_out.push(why);
            }
        }
        Field::Topology(value) => match serde_json::from_value(value) {
            Ok(path) => record.topology = path,
            Err(e) => left_out.push(format!("topology: {e}")),
        },
        Field::Nodes(value) => match serde_json::from_value::<std::collections::BTreeMap<String, Netns>>(value) {
            Ok(nodes) => {
                for (node, netns) in nodes {
                    match check::node(&node, &netns) {
                        Ok(()) => {
                            record.nodes.insert(node, netns);
                        }
                        Err(e) => left_out.push(format!("node `{}`: {e}", node.escape_default())),
                    }
                }
            }
            Err(e) => left_out.push(format!("nodes: {e}")),
        },
        Field::Entry(number, value) => {
            let read = serde_json::from_value::<Entry>(value).map_err(|e| e.to_string());
            match read.and_then(|e| check::entry(&e).map(|()| e)) {
                Ok(entry) => record.entries.push(entry),
                Err(why) => left_out.push(format!("entry {number}: {why}")),
            }
        }
    });
    if let Err(why) = read {
        left_out.push(why);
    }
    Salvaged { record, left_out }
}

/// One top-level field of a record, as read.
enum Field {
    Lab(String),
    Topology(Value),
    Nodes(Value),
    /// The n-th entry (from 1), not yet checked.
    Entry(usize, Value),
}

/// A cursor over the record's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// Reads `{"version": .., "lab": .., "topology": .., "nodes": .., "entries": [..]}`
    /// in any order, handing each field (each entry) to `found` as soon as it is read.
    /// Stops at the first damage, and says what and where.
    fn record(&mut self, found: &mut dyn FnMut(Field)) -> Result<(), String> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            return Ok(());
        }
        loop {
            let key: String = self.value()?;
            self.expect(b':')?;
            match key.as_str() {
                "entries" => self.entries(found)?,
                "lab" => found(Field::Lab(self.value()?)),
                "topology" => found(Field::Topology(self.value()?)),
                "nodes" => found(Field::Nodes(self.value()?)),
                // The version, and whatever a later netlab adds: read past.
                _ => {
                    self.value::<Value>()?;
                }
            }
            match self.next_byte()? {
                b',' => continue,
                b'}' => return Ok(()),
                other => return Err(self.unexpected(other, "`,` or `}`")),
            }
        }
    }

    fn entries(&mut self, found: &mut dyn FnMut(Field)) -> Result<(), String> {
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        for number in 1.. {
            let entry: Value = self.value().map_err(|e| format!("entry {number} and after: {e}"))?;
            found(Field::Entry(number, entry));
            match self.next_byte()? {
                b',' => continue,
                b']' => return Ok(()),
                other => return Err(self.unexpected(other, "`,` or `]`")),
            }
        }
        Ok(())
    }

    /// One JSON value at the cursor.
    fn value<T: DeserializeOwned>(&mut self) -> Result<T, String> {
        self.skip_space();
        let mut values = serde_json::Deserializer::from_slice(&self.bytes[self.at..]).into_iter::<T>();
        match values.next() {
            Some(Ok(value)) => {
                self.at += values.byte_offset();
                Ok(value)
            }
            // serde's line and column count from the start of this value: the byte
            // where the value starts says where it is in the file.
            Some(Err(e)) => {
                let said = e.to_string();
                let said = said.split(" at line ").next().unwrap_or(&said).to_string();
                Err(format!("{said} (in the value from byte {})", self.at))
            }
            None => Err(format!("cut short at byte {}", self.at)),
        }
    }

    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    fn next_byte(&mut self) -> Result<u8, String> {
        let b = self.peek().ok_or_else(|| format!("cut short at byte {}", self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), String> {
        match self.next_byte()? {
            b if b == want => Ok(()),
            other => Err(self.unexpected(other, &format!("`{}`", want as char))),
        }
    }

    fn unexpected(&self, found: u8, want: &str) -> String {
        format!("at byte {}: {} where {want} belongs", self.at - 1, found.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Op;
    use crate::state::StateDir;
    use crate::testing::TempDir;

    fn record_bytes(state: &StateDir) -> Vec<u8> {
        let mut r = state.new_record("web");
        r.topology = Some("/labs/web.toml".into());
        r.nodes.insert("a".into(), Netns::Named("web-a".into()));
        for n in ["web-a", "web-b", "web-c"] {
            r.entries.push(Entry::pending(Op::NetnsAdd { netns: n.into() }));
        }
        serde_json::to_vec(&r).unwrap()
    }

    #[test]
    fn a_whole_record_is_salvaged_whole() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let s = salvage(&record_bytes(&state), state.new_record("web"));
        assert!(s.left_out.is_empty(), "{:?}", s.left_out);
        assert_eq!(s.record.entries.len(), 3);
        assert_eq!(s.record.nodes.len(), 1);
        assert_eq!(s.record.topology.as_deref(), Some(std::path::Path::new("/labs/web.toml")));
    }

    #[test]
    fn what_comes_before_the_damage_is_kept() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let bytes = record_bytes(&state);
        // Cut in the third entry.
        let cut = bytes.windows(5).rposition(|w| w == b"web-c").unwrap();
        let s = salvage(&bytes[..cut], state.new_record("web"));
        assert_eq!(s.record.entries.len(), 2);
        assert_eq!(s.left_out.len(), 1);
        assert!(s.left_out[0].starts_with("entry 3 and after: EOF while parsing"), "{:?}", s.left_out);
        let entry3 = bytes.windows(9).rposition(|w| w == b"{\"op\":\"ne").unwrap();
        assert!(s.left_out[0].ends_with(&format!("(in the value from byte {entry3})")), "{:?}", s.left_out);
        // Bytes that are not UTF-8 in the second.
        let mut bad = bytes.clone();
        let at = bad.windows(5).position(|w| w == b"web-b").unwrap();
        bad[at + 1] = 0xff;
        let s = salvage(&bad, state.new_record("web"));
        assert_eq!(s.record.entries.len(), 1, "{:?}", s.left_out);
        // Nothing readable at all: nothing salvaged, and it says so.
        let s = salvage(b"\xff\xfe", state.new_record("web"));
        assert!(s.record.entries.is_empty());
        assert_eq!(s.left_out, ["at byte 0: \\xff where `{` belongs"]);
    }

    #[test]
    fn entries_with_names_that_climb_out_are_left_out_and_the_rest_kept() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let mut r: Value = serde_json::from_slice(&record_bytes(&state)).unwrap();
        r["entries"].as_array_mut().unwrap().insert(1, serde_json::json!({"op": "netns_add", "netns": "../x"}));
        r["entries"].as_array_mut().unwrap().insert(2, serde_json::json!({"op": "no_such_op"}));
        r["lab"] = "other".into();
        let s = salvage(&serde_json::to_vec(&r).unwrap(), state.new_record("web"));
        assert_eq!(s.record.entries.len(), 3);
        assert_eq!(s.record.lab, "web", "the record of the file's lab, whatever it says");
        // (A JSON value's fields come out sorted: the entries before the lab.)
        assert_eq!(s.left_out.len(), 3, "{:?}", s.left_out);
        assert!(s.left_out[0].starts_with("entry 2: netns add: ") && s.left_out[0].contains("`../x`"));
        assert!(s.left_out[1].starts_with("entry 3: unknown variant `no_such_op`"), "{}", s.left_out[1]);
        assert_eq!(s.left_out[2], "it is the record of lab `other`, not of lab web");
    }
}
