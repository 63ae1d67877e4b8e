//! The engine: nftables through the `nft` program.
//!
//! A change is an `nft -f` script, which nft sends as one netlink batch: it applies whole or
//! not at all. The same text is what `plan --format ip` prints, so what a reviewer reads is
//! byte for byte what `up` feeds the kernel. A table is read back with `nft -j list table`
//! into rule identities (each rule's comment, see [`super::ruleset`]) and handles; the
//! table's own comment (netlab's mark), which nft 1.0.6 leaves out of its JSON, comes from
//! the text listing.
//!
//! Why `nft` and not nf_tables netlink: bench/firewall.sh measured both (see its header and
//! bench/README.md); netlink encodes every expression by hand (payload offsets, register
//! numbers, set lookups), the part of nftables that changes most, while the text and JSON
//! forms are nftables' documented, stable interface.

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use super::netns::NetnsPath;
use super::ruleset::{Chain, Family, Hook};

/// `nft` failed: the command, its exit status and what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NftError {
    #[error("cannot run nft (install nftables): {0}")]
    Spawn(String),
    #[error("nft {args}: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("nft {args} printed JSON netlab cannot read: {detail}")]
    Json { args: String, detail: String },
}

impl NftError {
    /// nft's words for ENOENT: the table, chain or rule is not there.
    pub fn is_absent(&self) -> bool {
        matches!(self, NftError::Failed { stderr, .. } if stderr.contains("No such file or directory"))
    }

    /// nft's words for EEXIST.
    pub fn is_taken(&self) -> bool {
        matches!(self, NftError::Failed { stderr, .. } if stderr.contains("File exists"))
    }
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
    pub chain: Chain,
    pub rules: Vec<LiveRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    pub family: Family,
    pub name: String,
    /// The table's comment (netlab's mark), if it has one.
    pub mark: Option<String>,
    pub chains: Vec<LiveChain>,
}

impl LiveTable {
    /// The chains as they are declared (name and hook), in the order nft lists them.
    pub fn chain_specs(&self) -> Vec<Chain> {
        self.chains.iter().map(|c| c.chain.clone()).collect()
    }

    /// The handle of the rule with this identity in `chain`.
    pub fn handle(&self, chain: &str, comment: &str) -> Option<u64> {
        let c = self.chains.iter().find(|c| c.chain.name == chain)?;
        c.rules.iter().find(|r| r.comment.as_deref() == Some(comment)).map(|r| r.handle)
    }

    /// Every rule, as (chain, comment), the ones without a comment as `None`.
    pub fn rules(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.chains.iter().flat_map(|c| c.rules.iter().map(move |r| (c.chain.name.as_str(), r.comment.as_deref())))
    }
}

impl Nft {
    pub fn new(netns: NetnsPath) -> Nft {
        Nft { netns }
    }

    /// Runs `nft ARGS` in the namespace, with `stdin`; what it printed.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
        let spawn = |e: std::io::Error| NftError::Spawn(e.to_string());
        let mut cmd = self.netns.command("nft").map_err(spawn)?;
        cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(spawn)?;
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(text.as_bytes()).map_err(spawn)?;
        }
        let out = child.wait_with_output().map_err(spawn)?;
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
            Err(e) if e.is_absent() => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = match self.run(&["list", "table", family.as_str(), name], None) {
            Ok(t) => t,
            // Gone between the two listings.
            Err(e) if e.is_absent() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(parse_table(&v, &text, family, name)))
    }
}

/// Builds a [`LiveTable`] from `nft -j list table` and the text listing (for the comment).
pub fn parse_table(json: &Value, text: &str, family: Family, name: &str) -> LiveTable {
    let mut chains: Vec<LiveChain> = objects(json, "chain")
        .map(|c| LiveChain {
            chain: Chain {
                name: str_of(c, "name"),
                hook: c.get("hook").map(|h| Hook {
                    kind: str_of(c, "type"),
                    hook: h.as_str().unwrap_or_default().to_string(),
                    priority: c["prio"].as_i64().and_then(|p| i32::try_from(p).ok()).unwrap_or_default(),
                }),
            },
            rules: Vec::new(),
        })
        .collect();
    for r in objects(json, "rule") {
        let chain = str_of(r, "chain");
        if let Some(c) = chains.iter_mut().find(|c| c.chain.name == chain) {
            c.rules.push(LiveRule {
                comment: r.get("comment").and_then(Value::as_str).map(str::to_string),
                handle: r["handle"].as_u64().unwrap_or_default(),
            });
        }
    }
    LiveTable { family, name: name.into(), mark: table_comment(text), chains }
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

/// An `nft -f` script as a line of a shell script: `nft -f - <<'EOF' ... EOF`.
pub fn heredoc(command: &str, script: &str) -> String {
    format!("{command} -f - <<'EOF'\n{script}EOF")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(t.chains[0].chain.hook, Some(Hook { kind: "filter".into(), hook: "forward".into(), priority: 0 }));
        assert_eq!(t.chains[0].rules, [LiveRule { comment: None, handle: 10 }]);
        assert_eq!(t.handle("published", "web: x #1"), Some(9));
        assert_eq!(t.handle("forward", "web: x #1"), None);
        assert_eq!(t.rules().collect::<Vec<_>>(), [("forward", None), ("published", Some("web: x #1"))]);
    }

    #[test]
    fn errors_say_what_nft_meant() {
        let absent = NftError::Failed { args: "-f -".into(), stderr: "Error: No such file or directory".into() };
        let taken =
            NftError::Failed { args: "-f -".into(), stderr: "Error: Could not process rule: File exists".into() };
        assert!(absent.is_absent() && !absent.is_taken());
        assert!(taken.is_taken() && !taken.is_absent());
    }
}
