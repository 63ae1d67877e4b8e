//! Another firewall on the host that would drop the lab's forwarded traffic: a base chain on
//! the forward hook, in a table that is not netlab's, whose policy is drop (Docker sets
//! iptables' FORWARD policy to DROP) or that ends in a drop or reject no interface match
//! narrows (firewalld's `filter_FORWARD`). nftables runs every base chain of a hook, and a
//! drop in any of them is final: netlab's accepts cannot help, the other firewall must let
//! the lab's interfaces through. The warning names the chain and the rules to add there.
//! (iptables-legacy rules are not in nftables and cannot be seen here.)

use std::fmt;

use serde_json::Value;

/// One chain that drops the lab's forwarded traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `ip filter FORWARD`
    pub chain: String,
    /// `policy drop`, or the rule that drops (`rule handle 7: reject`)
    pub what: String,
    /// The interfaces whose forwarded traffic it drops.
    pub interfaces: Vec<String>,
    /// Commands that let them through.
    pub fix: Vec<String>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} drops forwarded packets ({}): the lab's traffic through {} will be dropped; to let it through: {}",
            self.chain,
            self.what,
            self.interfaces.join(", "),
            self.fix.join("; ")
        )
    }
}

/// The warnings for a lab whose forwarded traffic goes through `interfaces`, from
/// `nft -j list ruleset`.
pub fn check(ruleset: &Value, interfaces: &[String]) -> Vec<Warning> {
    if interfaces.is_empty() {
        return Vec::new();
    }
    let objects: Vec<&Value> = ruleset["nftables"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let chains = objects.iter().filter_map(|o| o.get("chain"));
    let mut out = Vec::new();
    for c in chains {
        let (family, table, name) = (s(c, "family"), s(c, "table"), s(c, "name"));
        if c["hook"] != "forward" || !matches!(family, "ip" | "ip6" | "inet") || table.starts_with("netlab-") {
            continue;
        }
        let what = if c["policy"] == "drop" {
            Some("policy drop".to_string())
        } else {
            objects
                .iter()
                .filter_map(|o| o.get("rule"))
                .filter(|r| s(r, "family") == family && s(r, "table") == table && s(r, "chain") == name)
                .find_map(unconditional_drop)
        };
        if let Some(what) = what {
            let has_chain = |n: &str| {
                objects.iter().filter_map(|o| o.get("chain")).any(|c| s(c, "table") == table && s(c, "name") == n)
            };
            out.push(Warning {
                chain: format!("{family} {table} {name}"),
                what,
                interfaces: interfaces.to_vec(),
                fix: fix(family, table, name, has_chain("DOCKER-USER"), interfaces),
            });
        }
    }
    out
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// `rule handle N: drop` for a rule that drops or rejects whatever the interface.
fn unconditional_drop(rule: &Value) -> Option<String> {
    let expr = rule["expr"].as_array()?;
    let verdict = expr.iter().find_map(|e| ["drop", "reject"].into_iter().find(|v| e.get(*v).is_some()))?;
    let narrowed = expr.iter().any(|e| {
        let Some(m) = e.get("match") else { return false };
        // Only conntrack state leaves a rule unconditional for a new connection of the lab.
        m["left"].get("ct").is_none()
    });
    (!narrowed).then(|| format!("rule handle {}: {verdict}", rule["handle"]))
}

fn fix(family: &str, table: &str, chain: &str, docker_user: bool, interfaces: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for i in interfaces {
        match (family, table) {
            ("ip", "filter") if docker_user => {
                out.push(format!("iptables -I DOCKER-USER -i {i} -j ACCEPT"));
                out.push(format!("iptables -I DOCKER-USER -o {i} -j ACCEPT"));
            }
            ("ip", "filter") | ("ip6", "filter") => {
                let cmd = if family == "ip" { "iptables" } else { "ip6tables" };
                out.push(format!("{cmd} -I {chain} -i {i} -j ACCEPT"));
                out.push(format!("{cmd} -I {chain} -o {i} -j ACCEPT"));
            }
            ("inet", "firewalld") => out.push(format!("firewall-cmd --zone=trusted --add-interface={i}")),
            _ => {
                out.push(format!("nft insert rule {family} {table} {chain} iifname \"{i}\" accept"));
                out.push(format!("nft insert rule {family} {table} {chain} oifname \"{i}\" accept"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// What iptables-nft shows after Docker started: `ip filter FORWARD`, policy drop.
    const DOCKER: &str = r#"{"nftables": [
      {"table": {"family": "ip", "name": "filter", "handle": 1}},
      {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
      {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 2}},
      {"chain": {"family": "inet", "table": "netlab-other", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}
    ]}"#;

    #[test]
    fn dockers_forward_policy_drop() {
        let w = check(&ruleset(DOCKER), &["docker0".into()]);
        assert_eq!(w.len(), 1, "netlab's own tables are not another firewall: {w:?}");
        assert_eq!(
            w[0].to_string(),
            "ip filter FORWARD drops forwarded packets (policy drop): the lab's traffic through docker0 will be dropped; \
             to let it through: iptables -I DOCKER-USER -i docker0 -j ACCEPT; iptables -I DOCKER-USER -o docker0 -j ACCEPT"
        );
    }

    #[test]
    fn firewalld_final_reject() {
        let text = r#"{"nftables": [
          {"chain": {"family": "inet", "table": "firewalld", "name": "filter_FORWARD", "handle": 3, "type": "filter", "hook": "forward", "prio": 10, "policy": "accept"}},
          {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "handle": 7, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
          {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "handle": 8, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth9"}}, {"drop": null}]}},
          {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "handle": 9, "expr": [{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]}}
        ]}"#;
        let w = check(&ruleset(text), &["br0".into()]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].what, "rule handle 9: reject");
        assert_eq!(w[0].fix, ["firewall-cmd --zone=trusted --add-interface=br0"]);
    }

    #[test]
    fn an_accepting_host_gives_no_warning() {
        let text = r#"{"nftables": [
          {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
          {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 2, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}
        ]}"#;
        assert_eq!(check(&ruleset(text), &["br0".into()]), []);
        assert_eq!(check(&ruleset(DOCKER), &[]), [], "a lab that forwards nothing has nothing to warn about");
    }
}
