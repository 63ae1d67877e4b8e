//! The lab's names and each node's network mode: which namespace a node's stack lives in
//! (its own, a container-mode target's, or the host's), the namespaces netlab creates for
//! nodes and the second names of container-mode nodes, and the fields a mode makes
//! meaningless.

use std::ops::Range;

use super::Resolver;
use crate::diagnostics::{shown, Problem};
use crate::spec::{NodeSpec, Sp};
use crate::topology::names::{self, check_netns_name, check_netns_prefix};
use crate::topology::{Alias, Namespace, Netns};

/// How a node's `network` field reads, before references are followed.
#[derive(Clone, Copy)]
pub(super) enum RawMode<'a> {
    None,
    Host,
    Network(&'a Sp<String>),
    /// `container:TARGET`.
    Container(&'a str),
}

/// Where a node's network stack lives, by the index of the node (in file order) that has
/// it: 8 bytes, where a namespace name would be a string per node.
#[derive(Clone, Copy)]
pub(super) enum Stack {
    Host,
    /// The namespace netlab makes for node N (N is the node itself unless it is in
    /// container mode).
    Of(usize),
}

/// One `[nodes.X]` (the one at the same index of the file's nodes): its mode as written,
/// and where its stack lives, `None` when that could not be worked out.
pub(super) struct NodeMode<'a> {
    pub(super) mode: RawMode<'a>,
    pub(super) stack: Option<Stack>,
}

impl<'a> Resolver<'a> {
    /// The lab name and the namespace prefix built from it.
    pub(super) fn lab_names(&mut self) {
        let lab = self.spec.lab.get_ref();
        let name = lab.name.get_ref();
        let name_ok = names::check_lab_name(name).map_err(|e| {
            self.problem(
                Problem::new(lab.name.span(), e).help(format!("for example: name = \"{}\"", lab_name_like(name))),
            );
        });
        self.lab = name.clone();
        self.prefix = match &lab.prefix {
            Some(p) => {
                let prefix = p.get_ref();
                if !prefix.is_empty() && check_netns_prefix(prefix).is_err() {
                    self.problem(
                        Problem::new(p.span(), format!("prefix `{}` cannot start a namespace name", shown(prefix)))
                            .help(
                                "namespace names are files under /run/netns: use A-Z, a-z, 0-9, _, . and -, \
                             without `..`; \"\" gives bare node names",
                            ),
                    );
                    self.prefix_ok = false;
                }
                prefix.clone()
            }
            None => {
                self.prefix_ok = name_ok.is_ok();
                format!("{name}-")
            }
        };
    }

    /// Every node with a namespace name of its own (bridge, none and container mode) gets
    /// `<prefix><node>` under /run/netns, so that must be a safe file name.
    fn check_node_netns(&mut self, name: &str, span: Range<usize>) {
        // A bad prefix is already reported; checking names built on it would repeat that
        // once per node, so the node name is checked on its own.
        let prefix = if self.prefix_ok { self.prefix.as_str() } else { "" };
        if let Err(e) = check_netns_name(&format!("{prefix}{name}")) {
            let mut problem = Problem::new(span, e);
            if !prefix.is_empty() {
                problem = problem.help(format!(
                    "the namespace name is the prefix `{prefix}` followed by the node name `{}`; rename the node",
                    shown(name)
                ));
            }
            self.problem(problem);
        }
    }

    /// Reads each node's `network` field and works out where its stack lives.
    pub(super) fn node_modes(&mut self) {
        self.modes.reserve_exact(self.spec.nodes.len());
        for (key, node) in &self.spec.nodes {
            let name = key.get_ref().as_str();
            if name == "host" {
                self.problem(
                    Problem::new(key.span(), "`host` cannot be a node name: it means the root namespace").help(
                        "for a node that uses the host's namespace, \
                         write network = \"host\" on a node with another name",
                    ),
                );
            }
            let mode = raw_mode(node.get_ref());
            // Container-mode nodes count too: their second name is a file under /run/netns
            // and a directory under /etc/netns.
            if !matches!(mode, RawMode::Host) {
                self.check_node_netns(name, key.span());
            } else if let Err(e) = names::check_name("node", name) {
                // No namespace of its own, but its name is still echoed and typed.
                self.error(key.span(), e);
            }
            self.modes.push(NodeMode { mode, stack: None });
        }
        for i in 0..self.modes.len() {
            self.modes[i].stack = match self.modes[i].mode {
                RawMode::None | RawMode::Network(_) => Some(Stack::Of(i)),
                RawMode::Host => Some(Stack::Host),
                RawMode::Container(_) => self.follow_container(i),
            };
        }
    }

    /// The name of the node at index `i` (in file order).
    pub(super) fn node_name(&self, i: usize) -> &'a str {
        self.spec.nodes.get_index(i).expect("a node's index").0.get_ref()
    }

    /// The namespace netlab creates for a node (or, in container mode, its second name).
    pub(super) fn own_netns(&self, node: &str) -> Netns {
        Netns::Named(format!("{}{node}", self.prefix))
    }

    /// Where the stack of the node at index `i` lives, if that resolved.
    pub(super) fn netns_at(&self, i: usize) -> Option<Netns> {
        Some(match self.modes[i].stack? {
            Stack::Host => Netns::Host,
            Stack::Of(owner) => self.own_netns(self.node_name(owner)),
        })
    }

    /// Where the stack of node `name` lives, if there is such a node and that resolved;
    /// `host` is the root namespace.
    pub(super) fn netns_of(&self, name: &str) -> Option<Netns> {
        if name == "host" {
            return Some(Netns::Host);
        }
        self.netns_at(self.spec.nodes.get_index_of(name)?)
    }

    /// The span of a container-mode node's `network = "container:..."`.
    fn network_span(&self, i: usize) -> Range<usize> {
        let node = self.spec.nodes.get_index(i).expect("a node's index").1.get_ref();
        node.network.as_ref().map_or(0..0, Sp::span)
    }

    /// Follows a `container:` chain to the node that owns a namespace.
    fn follow_container(&mut self, start: usize) -> Option<Stack> {
        let mut chain = vec![self.node_name(start)];
        let mut i = start;
        loop {
            let RawMode::Container(target) = self.modes[i].mode else {
                return Some(match self.modes[i].mode {
                    RawMode::Host => Stack::Host,
                    _ => Stack::Of(i),
                });
            };
            let span = self.network_span(i);
            if target.is_empty() {
                if i == start {
                    self.problem(
                        Problem::new(span, "`container:` names no node")
                            .help("write the node whose namespace to share after the colon, like \"container:web\""),
                    );
                }
                return None;
            }
            let Some(next) = self.spec.nodes.get_index_of(target) else {
                if i == start {
                    let known: Vec<&str> =
                        self.spec.nodes.keys().map(|k| k.get_ref().as_str()).filter(|n| *n != chain[0]).collect();
                    self.problem(
                        Problem::new(span, format!("container mode names unknown node `{}`", shown(target)))
                            .label("no such node")
                            .suggest(target, known),
                    );
                }
                return None;
            };
            if chain.contains(&target) {
                self.container_cycle(start, chain, target);
                return None;
            }
            chain.push(target);
            i = next;
        }
    }

    /// A cycle is one mistake: it is reported once, at the member that comes first in the
    /// file, not once per member.
    fn container_cycle<'c>(&mut self, start: usize, mut chain: Vec<&'c str>, target: &'c str) {
        let first_member =
            chain.iter().skip_while(|n| **n != target).all(|n| self.spec.nodes.get_index_of(*n) >= Some(start));
        if target != chain[0] || !first_member {
            return;
        }
        chain.push(target);
        self.problem(
            Problem::new(
                self.network_span(start),
                format!("container mode goes round in a circle: {}", shown(&chain.join(" -> "))),
            )
            .help("one node in the chain must have a namespace of its own (network = \"none\" or a bridge network)"),
        );
    }

    /// The namespaces netlab creates (none and bridge mode), and the second names of
    /// container-mode nodes whose chain ends at one of them.
    pub(super) fn namespaces(&mut self) -> (Vec<Namespace>, Vec<Alias>) {
        let own = self.modes.iter().filter(|m| matches!(m.mode, RawMode::None | RawMode::Network(_))).count();
        let mut namespaces = Vec::with_capacity(own);
        let mut aliases = Vec::new();
        for (i, NodeMode { mode, .. }) in self.modes.iter().enumerate() {
            let name = self.node_name(i);
            match mode {
                RawMode::None | RawMode::Network(_) => {
                    let ns = format!("{}{name}", self.prefix);
                    namespaces.push(Namespace {
                        node: name.to_string(),
                        name: ns,
                        sysctls: vec![],
                        routes: vec![],
                        routes_traffic: false,
                    });
                }
                RawMode::Container(_) => {
                    if let Some(Netns::Named(target)) = self.netns_at(i) {
                        aliases.push(Alias { node: name.to_string(), name: format!("{}{name}", self.prefix), target });
                    }
                }
                RawMode::Host => {}
            }
        }
        (namespaces, aliases)
    }

    /// Fields a node's mode makes meaningless are errors, not silently ignored.
    pub(super) fn mode_fields(&mut self, name: &str, node: &NodeSpec, mode: &RawMode) {
        let name = shown(name);
        let set: Vec<(&str, Range<usize>)> = [
            node.ip.as_ref().map(|v| ("ip", v.span())),
            node.mtu.as_ref().map(|v| ("mtu", v.span())),
            node.routes.first().map(|v| ("routes", v.span())),
            node.sysctl.first().map(|(k, _)| ("sysctl", k.span())),
            node.hostname.as_ref().map(|v| ("hostname", v.span())),
            node.dns.first().map(|v| ("dns", v.span())),
            node.hosts.first().map(|(k, _)| ("hosts", k.span())),
            node.impair.as_ref().map(|v| ("impair", v.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (field, span) in set {
            let problem = match mode {
                RawMode::Host => Problem::new(
                    span,
                    format!(
                        "node {name} uses the host's own namespace (network = \"host\"); \
                         `{field}` would change the host"
                    ),
                )
                .help("host sysctls and routes go under [host]; netlab does not change the host's /etc files"),
                RawMode::Container(target) => {
                    let target = shown(target);
                    Problem::new(
                        span,
                        format!(
                            "node {name} shares node {target}'s network namespace (container mode), \
                         so it cannot have its own `{field}`"
                        ),
                    )
                    .help(format!("set `{field}` on node {target}"))
                }
                RawMode::None if field == "impair" => Problem::new(
                    span,
                    format!("`impair` applies to a node's link to its bridge network, and node {name} has none"),
                )
                .help("impair the node's [[links]] entry instead: impair = { delay = \"20ms\" }"),
                RawMode::None if matches!(field, "ip" | "mtu") => Problem::new(
                    span,
                    format!("`{field}` applies to a node's eth0 on a bridge network, and node {name} has none"),
                )
                .help(
                    "add network = \"NAME\" with a [networks.NAME] section, or give the address on a [[links]] entry",
                ),
                _ => continue,
            };
            self.problem(problem);
        }
    }
}

/// A node's `network` field: none (the default), host, container:NODE or a network name.
fn raw_mode(node: &NodeSpec) -> RawMode<'_> {
    match &node.network {
        None => RawMode::None,
        Some(n) => match n.get_ref().as_str() {
            "none" => RawMode::None,
            "host" => RawMode::Host,
            other => match other.strip_prefix("container:") {
                Some(target) => RawMode::Container(target),
                None => RawMode::Network(n),
            },
        },
    }
}

/// A lab name like the one given, made valid: "My_Lab" gives "my-lab".
fn lab_name_like(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' })
        .collect();
    let cleaned: String = cleaned.trim_matches('-').chars().take(names::LAB_MAX).collect();
    let cleaned = cleaned.trim_end_matches('-');
    if cleaned.is_empty() {
        "my-lab".into()
    } else {
        cleaned.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_are_made_valid() {
        assert_eq!(lab_name_like("My_Lab"), "my-lab");
        assert_eq!(lab_name_like("--x--"), "x");
        assert_eq!(lab_name_like("___"), "my-lab");
        assert_eq!(lab_name_like(&"a".repeat(40)).len(), names::LAB_MAX);
    }
}
