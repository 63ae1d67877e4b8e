//! `sysctl` tables of nodes and of `[host]`: keys that map onto one file under /proc/sys,
//! values the kernel reads as text.

use indexmap::IndexMap;

use super::Resolver;
use crate::diagnostics::Problem;
use crate::spec::Sp;
use crate::topology::{names, Sysctl};

impl Resolver<'_> {
    /// `per_netns`: the table belongs to a node, so only `net.*` keys (the ones each network
    /// namespace has its own copy of) are allowed.
    pub(super) fn sysctls(&mut self, table: &IndexMap<Sp<String>, Sp<toml::Value>>, per_netns: bool) -> Vec<Sysctl> {
        let mut out = Vec::new();
        for (key, value) in table {
            let k = key.get_ref();
            if let Err(e) = names::check_sysctl_key(k) {
                self.error(key.span(), e);
                continue;
            }
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
            let Some(value) = self.report(sysctl_value(value)) else { continue };
            out.push(Sysctl { key: k.clone(), value });
        }
        out
    }
}

/// A sysctl value as the text written to its file: a number, a one-line string, or a
/// boolean as 1 or 0.
fn sysctl_value(value: &Sp<toml::Value>) -> Result<String, Problem> {
    match value.get_ref() {
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::String(s) if !s.contains('\n') => Ok(s.clone()),
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
            "a sysctl value is a number or a string, not string"
        );
        assert_eq!(
            value(toml::Value::Float(1.5)).unwrap_err().message,
            "a sysctl value is a number or a string, not float"
        );
    }
}
