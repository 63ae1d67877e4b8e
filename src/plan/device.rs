//! The kinds of device netlab makes, and what else it needs of a kernel ([`Feature`]):
//! the one place their names are spelled.

use crate::impair::kernel::QdiscKind;

/// A device kind an op makes (see [`super::Op::device_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceKind {
    Bridge,
    Veth,
    Vxlan,
    Ipip,
    /// TUN devices, for netlab's forwarders.
    Tun,
}

impl DeviceKind {
    /// The kernel's name for the kind (IFLA_INFO_KIND, `ip -d link` shows it): what a
    /// live link's kind is compared with.
    pub fn kernel_name(self) -> &'static str {
        match self {
            DeviceKind::Bridge => "bridge",
            DeviceKind::Veth => "veth",
            DeviceKind::Vxlan => "vxlan",
            DeviceKind::Ipip => "ipip",
            DeviceKind::Tun => "tun",
        }
    }

    /// The kind in a sentence for people ("this kernel cannot make TUN devices").
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Tun => "TUN",
            DeviceKind::Bridge | DeviceKind::Veth | DeviceKind::Vxlan | DeviceKind::Ipip => self.kernel_name(),
        }
    }

    /// The kernel build option that provides the kind.
    pub fn config_option(self) -> &'static str {
        match self {
            DeviceKind::Bridge => "CONFIG_BRIDGE",
            DeviceKind::Veth => "CONFIG_VETH",
            DeviceKind::Vxlan => "CONFIG_VXLAN",
            DeviceKind::Ipip => "CONFIG_NET_IPIP",
            DeviceKind::Tun => "CONFIG_TUN, /dev/net/tun",
        }
    }

    /// Whether a live link's kind, as the kernel reports it, is this one.
    pub fn is(self, kind: Option<&str>) -> bool {
        kind == Some(self.kernel_name())
    }
}

/// Something an op needs of the kernel, which `up` tries before it changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    Device(DeviceKind),
    Qdisc(QdiscKind),
    /// nftables' netdev family (an ingress hook that drops), and the `nft` program.
    NetdevDrop,
}

impl Feature {
    /// What it is in a sentence: "this kernel cannot make {name} ({config_option})".
    pub fn name(self) -> String {
        match self {
            Feature::Device(kind) => format!("{} devices", kind.name()),
            Feature::Qdisc(kind) => format!("{} qdiscs", kind.name()),
            Feature::NetdevDrop => "nftables netdev drops".to_string(),
        }
    }

    pub fn config_option(self) -> &'static str {
        match self {
            Feature::Device(kind) => kind.config_option(),
            Feature::Qdisc(kind) => kind.config_option(),
            Feature::NetdevDrop => "CONFIG_NF_TABLES_NETDEV, and the nft program",
        }
    }
}
