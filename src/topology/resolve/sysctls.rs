//! `sysctl` tables of nodes and of `[host]`: keys that map onto one file under /proc/sys,
//! values the kernel reads as text.

use std::collections::HashMap;

use super::Resolver;
use crate::diagnostics::{shown, Problem};
use crate::spec::Sp;
use crate::topology::{names, Netns, Sysctl};

impl Resolver<'_> {
    /// `per_netns`: the table belongs to a node, so only `net.*` keys (the ones each network
    /// namespace has its own copy of) are allowed.
    pub(super) fn sysctls(&mut self, table: &[(Sp<String>, Sp<toml::Value>)], netns: &Netns) -> Vec<Sysctl> {
        let per_netns = *netns != Netns::Host;
        let mut out = Vec::new();
        // Each setting once: two keys the kernel keeps as one (ip_forward and
        // conf.all.forwarding, a device's two spellings) would fight over it.
        let mut settings: HashMap<String, String> = HashMap::new();
        for (key, value) in table {
            let k = key.get_ref();
            if let Err(e) = names::check_sysctl_key(k) {
                self.error(key.span(), e);
                continue;
            }
            let Some(k) = self.device_sysctl(key, netns) else { continue };
            if per_netns && !k.starts_with("net.") {
                self.problem(
                    Problem::new(
                        key.span(),
                        format!(
                            "sysctl {k} is not per network namespace: \
                             setting it in a node would change the whole machine"
                        ),
                    )
                    .help("only net.* sysctls belong to a node; others go under [host]"),
                );
                continue;
            }
            if let Some(first) = settings.insert(names::sysctl_setting(&k).to_string(), key.get_ref().clone()) {
                self.problem(
                    Problem::new(
                        key.span(),
                        format!(
                            "sysctl {} is the same setting as {} above: the kernel keeps them as one",
                            shown(key.get_ref()),
                            shown(&first)
                        ),
                    )
                    .help("write the setting once"),
                );
                continue;
            }
            let Some(value) = self.report(sysctl_value(value)) else { continue };
            out.push(Sysctl { key: k, value });
        }
        out
    }
}

impl Resolver<'_> {
    /// The key as netlab writes it. A per-device key is in sysctl(8)'s spelling (a dot of
    /// the device's name as `/`), and in a node its device must be one of the node's
    /// interfaces: the kernel has no such file otherwise, and `up` would fail on it. The
    /// host's own interfaces are not in the file, so any device is allowed there.
    fn device_sysctl(&mut self, key: &Sp<String>, netns: &Netns) -> Option<String> {
        let Some(device_key) = names::DeviceKey::parse(key.get_ref()) else { return Some(key.get_ref().clone()) };
        let device = device_key.device.as_str();
        let known = matches!(device, "all" | "default") || self.has_iface(netns, device);
        if *netns != Netns::Host && !known {
            let in_ns = self.ifaces_of(netns);
            let problem = Problem::new(
                key.span(),
                format!(
                    "sysctl {} is for device `{}`, which is not an interface of {netns}",
                    shown(key.get_ref()),
                    shown(device)
                ),
            )
            .suggest(device, in_ns);
            self.problem(problem);
            return None;
        }
        Some(device_key.sysctl8())
    }
}

/// A sysctl value as the text written to its file: a number, a one-line string, or a
/// boolean as 1 or 0.
fn sysctl_value(value: &Sp<toml::Value>) -> Result<String, Problem> {
    match value.get_ref() {
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::String(s) => match names::check_sysctl_value(s) {
            Ok(()) => Ok(s.clone()),
            Err(e) => Err(Problem::new(value.span(), e)),
        },
        toml::Value::Boolean(b) => Ok(u8::from(*b).to_string()),
        other => {
            Err(Problem::new(value.span(), format!("a sysctl value is a number or a string, not {}", other.type_str())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: toml::Value) -> Result<String, Problem> {
        sysctl_value(&Sp::new(0..1, v))
    }

    #[test]
    fn sysctl_values_are_text() {
        assert_eq!(value(toml::Value::Integer(1)).unwrap(), "1");
        assert_eq!(value(toml::Value::Boolean(true)).unwrap(), "1");
        assert_eq!(value(toml::Value::Boolean(false)).unwrap(), "0");
        assert_eq!(value(toml::Value::String("4096 87380".into())).unwrap(), "4096 87380");
        assert_eq!(
            value(toml::Value::String("a\nb".into())).unwrap_err().message,
            "`\\n` is not allowed in sysctl value `a\\nb`: a value is one line of text"
        );
        assert_eq!(
            value(toml::Value::Float(1.5)).unwrap_err().message,
            "a sysctl value is a number or a string, not float"
        );
    }
}
