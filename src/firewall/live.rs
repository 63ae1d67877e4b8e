//! The engine: nftables through the `nft` program.
//!
//! A change is an `nft -f` script, which nft sends as one netlink batch: it applies whole or
//! not at all. The same text is what `plan --format ip` prints, so what a reviewer reads is
//! byte for byte what `up` feeds the kernel. A table is read back with `nft -j list table`
//! into rule identities (each rule's comment, see [`super::ruleset`]) and handles; the
//! table's own comment, which nft 1.0.6 leaves out of its JSON, comes from the text listing.
//!
//! Why `nft` and not nf_tables netlink: bench/firewall.sh measured both (see its header and
//! bench/README.md); netlink encodes every expression by hand (payload offsets, register
//! numbers, set lookups), the part of nftables that changes most, while the text and JSON
//! forms are nftables' documented, stable interface.

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use super::netns::NetnsPath;
use super::ruleset::{Chain, Family, Table};

/// `nft` failed: the command, its exit status and what it said.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("cannot run nft (install nftables): {0}")]
    Spawn(std::io::Error),
    #[error("nft {args}: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("nft {args} printed JSON netlab cannot read: {detail}")]
    Json { args: String, detail: String },
    #[error(
        "table {table} is in the way: it is not netlab's (its comment is {}, not \"{want}\"); netlab does not touch it",
        found.as_deref().map(|c| format!("\"{c}\"")).unwrap_or_else(|| "missing".into())
    )]
    NotOurs { table: String, found: Option<String>, want: String },
}

/// `nft` in one network namespace.
#[derive(Debug, Clone, Default)]
pub struct Nft {
    netns: NetnsPath,
}

/// A rule as read back: its identity and its handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub comment: Option<String>,
    pub handle: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChain {
    pub name: String,
    /// `type hook priority` of a base chain, as in [`Chain::spec`].
    pub hook: Option<(String, String, i64)>,
    pub rules: Vec<LiveRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    pub family: String,
    pub name: String,
    /// The table's comment (netlab's mark), if it has one.
    pub mark: Option<String>,
    pub chains: Vec<LiveChain>,
}

impl Nft {
    pub fn new(netns: NetnsPath) -> Nft {
        Nft { netns }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
        let mut cmd = self.netns.command("nft").map_err(NftError::Spawn)?;
        cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(NftError::Spawn)?;
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(text.as_bytes()).map_err(NftError::Spawn)?;
        }
        let out = child.wait_with_output().map_err(NftError::Spawn)?;
        if !out.status.success() {
            return Err(NftError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Applies a script in one transaction (`nft -f -`).
    pub fn apply(&self, script: &str) -> Result<(), NftError> {
        self.run(&["-f", "-"], Some(script)).map(drop)
    }

    /// Every table in the namespace, as (family, name).
    pub fn tables(&self) -> Result<Vec<(String, String)>, NftError> {
        let v = self.json(&["-j", "list", "tables"])?;
        Ok(objects(&v, "table").map(|t| (str_of(t, "family"), str_of(t, "name"))).collect())
    }

    /// The whole ruleset as nft's JSON (for [`super::warnings`]).
    pub fn ruleset(&self) -> Result<Value, NftError> {
        self.json(&["-j", "list", "ruleset"])
    }

    fn json(&self, args: &[&str]) -> Result<Value, NftError> {
        let out = self.run(args, None)?;
        serde_json::from_str(&out).map_err(|e| NftError::Json { args: args.join(" "), detail: e.to_string() })
    }

    /// Reads a table back; `None` when there is no table of that name.
    pub fn read(&self, family: Family, name: &str) -> Result<Option<LiveTable>, NftError> {
        let v = match self.json(&["-j", "list", "table", family.as_str(), name]) {
            Ok(v) => v,
            // nft's words for ENOENT: there is no such table.
            Err(NftError::Failed { stderr, .. }) if stderr.contains("No such file or directory") => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = self.run(&["list", "table", family.as_str(), name], None)?;
        Ok(Some(parse_table(&v, &text, family, name)))
    }

    /// Deletes a table after checking it is the lab's; a table already gone is fine.
    pub fn delete(&self, family: Family, name: &str, mark: &str) -> Result<bool, NftError> {
        match self.read(family, name)? {
            None => Ok(false),
            Some(t) => {
                owned(&t, mark)?;
                self.apply(&format!("delete table {} {name}\n", family.as_str()))?;
                Ok(true)
            }
        }
    }
}

/// Builds a [`LiveTable`] from `nft -j list table` and the text listing (for the comment).
pub fn parse_table(json: &Value, text: &str, family: Family, name: &str) -> LiveTable {
    let mut chains: Vec<LiveChain> = objects(json, "chain")
        .map(|c| LiveChain {
            name: str_of(c, "name"),
            hook: c.get("hook").map(|h| {
                (str_of(c, "type"), h.as_str().unwrap_or_default().to_string(), c["prio"].as_i64().unwrap_or_default())
            }),
            rules: Vec::new(),
        })
        .collect();
    for r in objects(json, "rule") {
        let chain = str_of(r, "chain");
        if let Some(c) = chains.iter_mut().find(|c| c.name == chain) {
            c.rules.push(LiveRule {
                comment: r.get("comment").and_then(Value::as_str).map(str::to_string),
                handle: r["handle"].as_u64().unwrap_or_default(),
            });
        }
    }
    LiveTable { family: family.as_str().into(), name: name.into(), mark: table_comment(text), chains }
}

/// The `comment "..."` line that follows `table F N {` in nft's text listing.
fn table_comment(text: &str) -> Option<String> {
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with("table "));
    lines.next()?;
    let line = lines.next()?.trim();
    line.strip_prefix("comment \"")?.strip_suffix('"').map(str::to_string)
}

fn objects<'a>(v: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    v["nftables"].as_array().into_iter().flatten().filter_map(move |o| o.get(kind))
}

fn str_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// Refuses a table that does not carry the lab's mark.
pub fn owned(t: &LiveTable, mark: &str) -> Result<(), NftError> {
    if t.mark.as_deref() == Some(mark) {
        return Ok(());
    }
    Err(NftError::NotOurs { table: format!("{} {}", t.family, t.name), found: t.mark.clone(), want: mark.into() })
}

/// One change to a lab's table; a converge is a list of them, applied in one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The table does not exist: make it whole.
    Create(Table),
    /// A chain is missing.
    AddChain {
        table: String,
        chain: Chain,
    },
    /// A chain netlab no longer wants (its rules go with it).
    DeleteChain {
        table: String,
        chain: String,
    },
    /// An ordered chain whose rules differ, or a chain whose hook differs: flushed and refilled.
    Rewrite {
        table: String,
        chain: Chain,
    },
    AddRule {
        table: String,
        chain: String,
        rule: super::ruleset::Rule,
    },
    DeleteRule {
        table: String,
        chain: String,
        handle: u64,
        comment: String,
    },
}

impl Change {
    /// The change as `nft -f` lines.
    pub fn script(&self) -> String {
        match self {
            Change::Create(t) => t.block(),
            Change::AddChain { table, chain } => {
                let mut s = format!("add chain {table} {} {}\n", chain.name, chain.spec());
                for r in &chain.rules {
                    s += &format!("add rule {table} {} {}\n", chain.name, r.line());
                }
                s
            }
            Change::DeleteChain { table, chain } => {
                format!("flush chain {table} {chain}\ndelete chain {table} {chain}\n")
            }
            Change::Rewrite { table, chain } => {
                let mut s = format!("flush chain {table} {}\n", chain.name);
                for r in &chain.rules {
                    s += &format!("add rule {table} {} {}\n", chain.name, r.line());
                }
                s
            }
            Change::AddRule { table, chain, rule } => format!("add rule {table} {chain} {}\n", rule.line()),
            Change::DeleteRule { table, chain, handle, comment } => {
                format!("# {comment}\ndelete rule {table} {chain} handle {handle}\n")
            }
        }
    }
}

/// What turns `live` into `desired`: nothing when they hold the same rules; a table that is
/// not the lab's is refused. Chains are compared by name and hook, rules by identity.
pub fn converge(desired: &Table, live: Option<&LiveTable>) -> Result<Vec<Change>, NftError> {
    let Some(live) = live else { return Ok(vec![Change::Create(desired.clone())]) };
    owned(live, &desired.mark)?;
    let table = desired.id();
    let mut changes = Vec::new();
    for lc in &live.chains {
        if !desired.chains.iter().any(|c| c.name == lc.name) {
            changes.push(Change::DeleteChain { table: table.clone(), chain: lc.name.clone() });
        }
    }
    for chain in &desired.chains {
        let Some(lc) = live.chains.iter().find(|c| c.name == chain.name) else {
            changes.push(Change::AddChain { table: table.clone(), chain: chain.clone() });
            continue;
        };
        let hook = chain.hook.as_ref().map(|h| (h.kind.to_string(), h.hook.to_string(), i64::from(h.priority)));
        if hook != lc.hook {
            // A base chain's hook cannot be changed in place.
            changes.push(Change::DeleteChain { table: table.clone(), chain: chain.name.into() });
            changes.push(Change::AddChain { table: table.clone(), chain: chain.clone() });
            continue;
        }
        let live_ids: Vec<Option<&str>> = lc.rules.iter().map(|r| r.comment.as_deref()).collect();
        let want_ids: Vec<Option<&str>> = chain.rules.iter().map(|r| Some(r.comment.as_str())).collect();
        if live_ids == want_ids {
            continue;
        }
        if chain.ordered {
            changes.push(Change::Rewrite { table: table.clone(), chain: chain.clone() });
            continue;
        }
        for r in &lc.rules {
            if !chain.rules.iter().any(|w| Some(w.comment.as_str()) == r.comment.as_deref()) {
                changes.push(Change::DeleteRule {
                    table: table.clone(),
                    chain: chain.name.into(),
                    handle: r.handle,
                    comment: r.comment.clone().unwrap_or_else(|| "(a rule without a comment)".into()),
                });
            }
        }
        for w in &chain.rules {
            if !lc.rules.iter().any(|r| r.comment.as_deref() == Some(w.comment.as_str())) {
                changes.push(Change::AddRule { table: table.clone(), chain: chain.name.into(), rule: w.clone() });
            }
        }
    }
    Ok(changes)
}

/// The changes as one `nft -f` script.
pub fn script(changes: &[Change]) -> String {
    changes.iter().map(Change::script).collect()
}

/// The script as a line of `plan --format ip`: `nft -f - <<'EOF' ... EOF`.
pub fn shell(script: &str) -> String {
    format!("nft -f - <<'EOF'\n{script}EOF\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::ruleset::{compute, tests::docker_lab};

    fn live_of(t: &Table) -> LiveTable {
        let mut handle = 0;
        LiveTable {
            family: t.family.as_str().into(),
            name: t.name.clone(),
            mark: Some(t.mark.clone()),
            chains: t
                .chains
                .iter()
                .map(|c| LiveChain {
                    name: c.name.into(),
                    hook: c.hook.as_ref().map(|h| (h.kind.into(), h.hook.into(), i64::from(h.priority))),
                    rules: c
                        .rules
                        .iter()
                        .map(|r| {
                            handle += 1;
                            LiveRule { comment: Some(r.comment.clone()), handle }
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn in_sync_is_no_change() {
        let t = compute(&docker_lab()).tables.remove(0);
        assert_eq!(converge(&t, Some(&live_of(&t))).unwrap(), []);
        assert!(matches!(converge(&t, None).unwrap()[..], [Change::Create(_)]));
    }

    #[test]
    fn a_port_added_or_removed_changes_only_its_rule() {
        let before = compute(&docker_lab()).tables.remove(0);
        let mut lab = docker_lab();
        let mut second = lab.published[0].clone();
        second.binding.host_port = Some(8081);
        lab.published.push(second);
        let after = compute(&lab).tables.remove(0);
        let changes = converge(&after, Some(&live_of(&before))).unwrap();
        assert_eq!(changes.len(), 1, "{changes:#?}");
        let s = script(&changes);
        assert!(s.starts_with("add rule inet netlab-docker published meta nfproto ipv4 tcp dport 8081 dnat"), "{s}");
        let back = converge(&before, Some(&live_of(&after))).unwrap();
        assert!(matches!(&back[..], [Change::DeleteRule { chain, .. }] if chain == "published"), "{back:#?}");
        assert!(script(&back).contains("delete rule inet netlab-docker published handle"));
    }

    #[test]
    fn an_ordered_chain_is_rewritten_whole() {
        let before = compute(&docker_lab()).tables.remove(0);
        let mut lab = docker_lab();
        lab.networks.remove(1);
        let after = compute(&lab).tables.remove(0);
        let changes = converge(&after, Some(&live_of(&before))).unwrap();
        let s = script(&changes);
        assert!(s.contains("flush chain inet netlab-docker forward\n"), "{s}");
        assert!(!s.contains("\"br0\""), "{s}");
        assert!(s.contains("delete rule inet netlab-docker postrouting handle"), "{s}");
    }

    #[test]
    fn a_strangers_table_is_in_the_way() {
        let t = compute(&docker_lab()).tables.remove(0);
        let mut live = live_of(&t);
        live.mark = None;
        let e = converge(&t, Some(&live)).unwrap_err().to_string();
        assert_eq!(
            e,
            "table inet netlab-docker is in the way: it is not netlab's (its comment is missing, not \"netlab:docker\"); netlab does not touch it"
        );
    }

    #[test]
    fn the_table_comment_comes_from_the_text_listing() {
        let text = "table inet netlab-docker {\n\tcomment \"netlab:docker\"\n\tchain forward {\n";
        assert_eq!(table_comment(text).as_deref(), Some("netlab:docker"));
        assert_eq!(table_comment("table inet x {\n\tchain c {\n"), None);
    }

    #[test]
    fn a_json_listing_parses_into_identities() {
        let json: Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "netlab-docker", "handle": 1}},
            {"chain": {"family": "inet", "table": "netlab-docker", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
            {"chain": {"family": "inet", "table": "netlab-docker", "name": "published", "handle": 5}},
            {"rule": {"family": "inet", "table": "netlab-docker", "chain": "published", "handle": 9, "comment": "web: x #1", "expr": []}},
            {"rule": {"family": "inet", "table": "netlab-docker", "chain": "forward", "handle": 10, "expr": []}}]}"#,
        )
        .unwrap();
        let t = parse_table(
            &json,
            "table inet netlab-docker {\n\tcomment \"netlab:docker\"\n",
            Family::Inet,
            "netlab-docker",
        );
        assert_eq!(t.mark.as_deref(), Some("netlab:docker"));
        assert_eq!(t.chains[0].hook, Some(("filter".into(), "forward".into(), 0)));
        assert_eq!(t.chains[0].rules, [LiveRule { comment: None, handle: 10 }]);
        assert_eq!(t.chains[1].rules, [LiveRule { comment: Some("web: x #1".into()), handle: 9 }]);
    }
}
