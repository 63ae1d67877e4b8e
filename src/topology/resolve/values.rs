//! Single values of the file (an address, a CIDR, a MAC, an MTU), parsed on their own.
//!
//! Each parser is a plain function from the spanned text to the value or to the one
//! [`Problem`] that explains what is wrong and what would be right. None of them looks at
//! the rest of the file: whether an address is taken or fits its network is decided by the
//! stage that knows the network.

use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

use crate::diagnostics::{shown, Problem};
use crate::spec::Sp;

/// A CIDR: an address with a prefix length, like `10.0.0.1/24`.
pub(super) fn cidr(s: &Sp<String>) -> Result<IpNet, Problem> {
    let text = s.get_ref();
    if !text.contains('/') {
        if let Ok(ip) = text.parse::<IpAddr>() {
            let example = if ip.is_ipv4() { "/24" } else { "/64" };
            return Err(
                Problem::new(s.span(), format!("`{text}` needs a prefix length")).help(format!("like {text}{example}"))
            );
        }
    }
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    let text = shown(text);
    Err(match prefix_too_long(s.get_ref()) {
        Some((ip, max)) => {
            let v = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            Problem::new(s.span(), format!("`{text}` has a prefix length longer than {v}'s {max} bits"))
                .help(format!("a prefix length from 0 to {max}"))
        }
        None => {
            Problem::new(s.span(), format!("`{text}` is not a CIDR address")).help("like 10.0.0.1/24 or fd00::1/64")
        }
    })
}

/// A network: a CIDR that is its own network address (`10.0.0.0/24`, not `10.0.0.1/24`).
/// `what` names it in the message, like "subnet" or "route destination".
pub(super) fn network(s: &Sp<String>, what: &str) -> Result<IpNet, Problem> {
    let net = cidr(s)?;
    let trunc = net.trunc();
    if trunc != net {
        return Err(
            Problem::new(s.span(), format!("{what} {net} has host bits set")).help(format!("did you mean {trunc}?"))
        );
    }
    Ok(net)
}

/// A bare address, like `10.0.0.1`.
pub(super) fn addr(s: &Sp<String>) -> Result<IpAddr, Problem> {
    let text = s.get_ref();
    text.parse::<IpAddr>().map_err(|_| {
        let text = shown(text);
        let help = if text.contains('/') {
            "an address here has no prefix length, like 10.0.0.1"
        } else {
            "like 10.0.0.1 or fd00::1"
        };
        Problem::new(s.span(), format!("`{text}` is not an IP address")).help(help)
    })
}

/// A bare address (point-to-point) or a CIDR: the address and the prefix length if any.
pub(super) fn addr_or_cidr(s: &Sp<String>) -> Result<(IpAddr, Option<u8>), Problem> {
    if s.get_ref().contains('/') {
        cidr(s).map(|n| (n.addr(), Some(n.prefix_len())))
    } else {
        addr(s).map(|a| (a, None))
    }
}

/// A unicast MAC address, lowercased: `02:42:AC:11:00:02` gives `02:42:ac:11:00:02`.
pub(super) fn mac(s: &Sp<String>) -> Result<String, Problem> {
    let text = s.get_ref();
    let octets: Vec<Option<u8>> =
        text.split(':').map(|o| if o.len() == 2 { u8::from_str_radix(o, 16).ok() } else { None }).collect();
    if octets.len() != 6 || octets.iter().any(Option::is_none) {
        return Err(Problem::new(s.span(), format!("`{}` is not a MAC address", shown(text)))
            .help("six hex octets, like 02:42:ac:11:00:02"));
    }
    if octets[0].is_some_and(|o| o & 1 == 1) {
        return Err(Problem::new(
            s.span(),
            format!("{text} is a multicast MAC address; an interface needs a unicast one"),
        )
        .help("clear the lowest bit of the first octet, like 02:..."));
    }
    Ok(text.to_ascii_lowercase())
}

/// An MTU the kernel accepts for an Ethernet-like device.
pub(super) fn mtu(mtu: &Sp<u32>) -> Result<u32, Problem> {
    let value = *mtu.get_ref();
    if !(68..=65535).contains(&value) {
        return Err(
            Problem::new(mtu.span(), format!("mtu {value} is out of range")).help("an MTU is between 68 and 65535")
        );
    }
    Ok(value)
}

/// The smallest mtu of a device with IPv6 (IPV6_MIN_MTU): below it the kernel turns IPv6
/// off on the device and refuses IPv6 addresses.
pub(super) const IPV6_MIN_MTU: u32 = 1280;

/// `what` would carry IPv6 with an mtu below [`IPV6_MIN_MTU`]; `span` is the mtu's.
pub(super) fn ipv6_mtu(span: Range<usize>, what: &str, mtu: u32) -> Problem {
    Problem::new(span, format!("{what} carries IPv6, which needs an mtu of at least {IPV6_MIN_MTU}; this one is {mtu}"))
        .help(format!("raise the mtu to {IPV6_MIN_MTU} or more (the kernel refuses IPv6 addresses below it)"))
}

/// The span of `part` (byte offsets into the string's value) within the file. Only a plain
/// `"..."` or `'...'` maps offsets one to one; a string with escapes keeps its whole span.
pub(super) fn part_span(s: &Sp<String>, part: Range<usize>) -> Range<usize> {
    let span = s.span();
    if span.len() == s.get_ref().len() + 2 && !part.is_empty() {
        span.start + 1 + part.start..span.start + 1 + part.end
    } else {
        span
    }
}

/// For `10.0.0.0/33`: the address and the longest prefix its version allows, when the
/// address is fine and only the prefix length is too long.
fn prefix_too_long(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len > u32::from(max)).then_some((ip, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` as it would stand, quoted, at offset 10 of a file.
    fn sp(text: &str) -> Sp<String> {
        Sp::new(10..12 + text.len(), text.to_string())
    }

    fn message<T: std::fmt::Debug>(r: Result<T, Problem>) -> String {
        r.expect_err("a problem").message
    }

    #[test]
    fn cidrs() {
        assert_eq!(cidr(&sp("10.0.0.1/24")).unwrap(), "10.0.0.1/24".parse::<IpNet>().unwrap());
        assert_eq!(cidr(&sp("fd00::1/64")).unwrap(), "fd00::1/64".parse::<IpNet>().unwrap());
        let p = cidr(&sp("10.0.0.1")).unwrap_err();
        assert_eq!(
            (p.message.as_str(), p.help.as_deref()),
            ("`10.0.0.1` needs a prefix length", Some("like 10.0.0.1/24"))
        );
        assert_eq!(cidr(&sp("fd00::1")).unwrap_err().help.as_deref(), Some("like fd00::1/64"));
        assert_eq!(message(cidr(&sp("10.0.0.0/33"))), "`10.0.0.0/33` has a prefix length longer than IPv4's 32 bits");
        assert_eq!(message(cidr(&sp("::/129"))), "`::/129` has a prefix length longer than IPv6's 128 bits");
        assert_eq!(message(cidr(&sp("10.0.0/8"))), "`10.0.0/8` is not a CIDR address");
        assert_eq!(cidr(&sp("x")).unwrap_err().span, 10..13, "the problem points at the value");
    }

    #[test]
    fn networks_have_no_host_bits() {
        assert!(network(&sp("10.0.0.0/24"), "subnet").is_ok());
        let p = network(&sp("10.0.0.1/24"), "subnet").unwrap_err();
        assert_eq!(p.message, "subnet 10.0.0.1/24 has host bits set");
        assert_eq!(p.help.as_deref(), Some("did you mean 10.0.0.0/24?"));
        assert_eq!(message(network(&sp("nope"), "subnet")), "`nope` is not a CIDR address");
    }

    #[test]
    fn addresses() {
        assert_eq!(addr(&sp("10.0.0.1")).unwrap(), IpAddr::from([10, 0, 0, 1]));
        let p = addr(&sp("10.0.0.1/24")).unwrap_err();
        assert_eq!(p.message, "`10.0.0.1/24` is not an IP address");
        assert_eq!(p.help.as_deref(), Some("an address here has no prefix length, like 10.0.0.1"));
        assert_eq!(addr(&sp("x")).unwrap_err().help.as_deref(), Some("like 10.0.0.1 or fd00::1"));
        assert_eq!(addr_or_cidr(&sp("10.0.0.1")).unwrap(), (IpAddr::from([10, 0, 0, 1]), None));
        assert_eq!(addr_or_cidr(&sp("10.0.0.1/16")).unwrap(), (IpAddr::from([10, 0, 0, 1]), Some(16)));
        assert_eq!(
            message(addr_or_cidr(&sp("10.0.0.1/40"))),
            "`10.0.0.1/40` has a prefix length longer than IPv4's 32 bits"
        );
    }

    #[test]
    fn macs() {
        assert_eq!(mac(&sp("02:42:AC:11:00:02")).unwrap(), "02:42:ac:11:00:02");
        assert_eq!(message(mac(&sp("02:42:ac:11:00"))), "`02:42:ac:11:00` is not a MAC address");
        assert_eq!(message(mac(&sp("02:42:ac:11:00:2"))), "`02:42:ac:11:00:2` is not a MAC address");
        assert_eq!(message(mac(&sp("0g:42:ac:11:00:02"))), "`0g:42:ac:11:00:02` is not a MAC address");
        assert_eq!(
            message(mac(&sp("01:00:5e:00:00:01"))),
            "01:00:5e:00:00:01 is a multicast MAC address; an interface needs a unicast one"
        );
    }

    #[test]
    fn mtus() {
        assert_eq!(mtu(&Sp::new(0..4, 1500)).unwrap(), 1500);
        assert_eq!(mtu(&Sp::new(0..2, 68)).unwrap(), 68);
        assert_eq!(mtu(&Sp::new(0..5, 65535)).unwrap(), 65535);
        assert_eq!(message(mtu(&Sp::new(0..2, 67))), "mtu 67 is out of range");
        assert_eq!(message(mtu(&Sp::new(0..5, 65536))), "mtu 65536 is out of range");
    }

    #[test]
    fn part_spans_map_into_plain_strings_only() {
        // "ns1:eth0" at offset 10: the quote is at 10, `n` at 11.
        assert_eq!(part_span(&sp("ns1:eth0"), 4..8), 15..19);
        assert_eq!(part_span(&sp("ns1:eth0"), 0..3), 11..14);
        // With an escape the text is longer than the value: keep the whole span.
        let escaped = Sp::new(10..21, "ns1:eth0".to_string());
        assert_eq!(part_span(&escaped, 4..8), 10..21);
        assert_eq!(part_span(&sp("ns1:"), 4..4), 10..16, "an empty part keeps the whole span");
    }
}
