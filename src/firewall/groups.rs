//! Device groups as a name every lab's firewall can read: which lab a link belongs to, and
//! what kind of traffic it may route.
//!
//! A netlab link's group is `CLASS << 28 | hash28(lab)`. The hash (FNV-1a of the lab's mark,
//! as today) lets `down` delete a lab's links with one request per class; the class lets the
//! forwarding guard of *any* lab's table tell, with `meta iifgroup & 0xf0000000`, which
//! forwarded packets some lab asked to be routed:
//!
//! | class | links | routed by the host when netlab turned forwarding on? |
//! |---|---|---|
//! | `0x1` plain | every other link netlab makes | no: islands stay islands |
//! | `0x2` routing | the host-side links of a lab whose `[host] sysctl` turns forwarding on | yes: that lab asked for host routing |
//! | `0x3` nat bridge | the bridge of a `nat = true` network, wherever it lives | yes, within that network's own rules |
//!
//! Links inside a node keep class 1 even in a routing lab: `[host]` speaks for the host only.
//! Groups are not proof of ownership (the ifalias mark is); a host device someone else put
//! in group 0x2xxxxxxx or 0x3xxxxxxx would be routed like a lab's.

/// The bits of a group that hold the class.
pub const CLASS_MASK: u32 = 0xf000_0000;

/// What kind of traffic a link of a lab may carry through a forwarding host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Plain = 1,
    Routing = 2,
    NatBridge = 3,
}

impl Class {
    /// The class's value under [`CLASS_MASK`].
    pub fn bits(self) -> u32 {
        (self as u32) << 28
    }

    /// Its name in plans and messages.
    pub fn name(self) -> &'static str {
        match self {
            Class::Plain => "plain",
            Class::Routing => "routing",
            Class::NatBridge => "nat bridge",
        }
    }
}

/// The 28-bit hash of a lab (the one its links' group always had, so a lab's plain links
/// keep their group).
pub fn lab_hash(lab: &str) -> u32 {
    fnv1a(format!("netlab:{lab}").as_bytes()) & 0x0fff_ffff
}

/// 32-bit FNV-1a: the lab's hash here, a rule's text hash in its comment.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The group of a link of `lab` in `class`.
pub fn group(lab: &str, class: Class) -> u32 {
    class.bits() | lab_hash(lab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_class_keeps_todays_group() {
        // The group every link of a lab had before classes: plain links do not move.
        assert_eq!(group("docker", Class::Plain), crate::ownership::Marks::of("docker").group);
        assert_eq!(group("docker", Class::NatBridge) & !CLASS_MASK, lab_hash("docker"));
        assert_eq!(group("docker", Class::NatBridge) & CLASS_MASK, 0x3000_0000);
        assert_ne!(lab_hash("a"), lab_hash("b"));
    }
}
