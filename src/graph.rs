//! The topology as a picture: Graphviz dot or a Mermaid flowchart.
//!
//! Vertices are namespaces (named after the node that owns them, `host` for the root one)
//! and bridges; edges are veth pairs (with each end's name and address), bridge ports,
//! tunnels (dashed) and container-mode nodes (dotted, to the namespace they share).

use std::fmt::Write as _;

use crate::topology::{Mode, Netns, Topology, TunnelKind};

/// A vertex of the drawing.
struct Vertex {
    id: String,
    label: String,
    shape: Shape,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Namespace,
    Host,
    Bridge,
    Alias,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Solid,
    Dashed,
    Dotted,
}

struct Edge {
    from: usize,
    to: usize,
    label: String,
    style: Style,
}

struct Drawing {
    name: String,
    vertices: Vec<Vertex>,
    edges: Vec<Edge>,
}

/// The topology as a Graphviz digraph (`dot -Tsvg`).
pub fn dot(t: &Topology) -> String {
    Drawing::of(t).dot()
}

/// The topology as a Mermaid flowchart.
pub fn mermaid(t: &Topology) -> String {
    Drawing::of(t).mermaid()
}

impl Drawing {
    fn of(t: &Topology) -> Drawing {
        let mut vertices =
            vec![Vertex { id: "host".into(), label: "host (root namespace)".into(), shape: Shape::Host }];
        let mut netns_vertex = vec![(Netns::Host, 0)];
        let mut edges = Vec::new();
        for ns in &t.namespaces {
            netns_vertex.push((Netns::Named(ns.name.clone()), vertices.len()));
            let label = if ns.name == ns.node { ns.node.clone() } else { format!("{}\\nnetns {}", ns.node, ns.name) };
            vertices.push(Vertex { id: format!("n{}", vertices.len()), label, shape: Shape::Namespace });
        }
        let of = |netns: &Netns| netns_vertex.iter().find(|(n, _)| n == netns).map_or(0, |(_, v)| *v);
        for node in &t.nodes {
            let share = match &node.mode {
                Mode::Container { target } => format!("shares {target}'s netns"),
                Mode::Host => "host mode".into(),
                Mode::None | Mode::Bridge { .. } => continue,
            };
            let id = vertices.len();
            vertices.push(Vertex { id: format!("n{id}"), label: node.name.clone(), shape: Shape::Alias });
            edges.push(Edge { from: id, to: of(&node.netns), label: share, style: Style::Dotted });
        }
        let mut bridge_vertex = Vec::new();
        for bridge in &t.bridges {
            let id = vertices.len();
            bridge_vertex.push((bridge.netns.clone(), bridge.device.clone(), id));
            let name = if bridge.device == bridge.network {
                bridge.device.clone()
            } else {
                format!("{} (network {})", bridge.device, bridge.network)
            };
            let label = format!("{name}\\n{}", bridge.gateway);
            vertices.push(Vertex { id: format!("b{id}"), label, shape: Shape::Bridge });
            if bridge.netns != Netns::Host {
                edges.push(Edge { from: id, to: of(&bridge.netns), label: "inside".into(), style: Style::Dotted });
            }
        }
        for veth in &t.veths {
            let [a, b] = &veth.ends;
            let end = |e: &crate::topology::VethEnd| match e.address {
                Some(addr) => format!("{} {addr}", e.name),
                None => e.name.clone(),
            };
            let to = match &b.master {
                Some(master) => {
                    bridge_vertex.iter().find(|(n, d, _)| *n == b.netns && d == master).map_or(of(&b.netns), |v| v.2)
                }
                None => of(&b.netns),
            };
            let mtu = veth.mtu.map(|m| format!(" (mtu {m})")).unwrap_or_default();
            let label =
                if b.master.is_some() { format!("{}{mtu}", end(a)) } else { format!("{} — {}{mtu}", end(a), end(b)) };
            edges.push(Edge { from: of(&a.netns), to, label, style: Style::Solid });
        }
        for tunnel in &t.tunnels {
            let kind = match tunnel.kind {
                TunnelKind::Ipip { .. } => "ipip".to_string(),
                TunnelKind::Vxlan { vni, .. } => format!("vxlan {vni}"),
                TunnelKind::Udp { port } => format!("udp :{port}"),
            };
            // A mesh is drawn as a ring of its ends' pairs: every pair for up to four ends.
            for (i, a) in tunnel.ends.iter().enumerate() {
                for b in &tunnel.ends[i + 1..] {
                    let end = |e: &crate::topology::TunnelEnd| match e.address {
                        Some(addr) => format!(
                            "{} {}",
                            e.name,
                            if e.peer.is_some() { addr.addr().to_string() } else { addr.to_string() }
                        ),
                        None => e.name.clone(),
                    };
                    let label = format!("{kind}: {} — {}", end(a), end(b));
                    edges.push(Edge { from: of(&a.netns), to: of(&b.netns), label, style: Style::Dashed });
                }
            }
        }
        Drawing { name: t.lab.clone(), vertices, edges }
    }

    fn dot(&self) -> String {
        let mut out = format!("graph {} {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n", dot_str(&self.name));
        for v in &self.vertices {
            let attrs = match v.shape {
                Shape::Namespace => "shape=box, style=rounded",
                Shape::Host => "shape=box, style=\"rounded,bold\"",
                Shape::Bridge => "shape=ellipse",
                Shape::Alias => "shape=box, style=\"rounded,dotted\"",
            };
            let _ = writeln!(out, "  {} [label={}, {attrs}];", v.id, dot_str(&v.label));
        }
        for e in &self.edges {
            let style = match e.style {
                Style::Solid => "",
                Style::Dashed => ", style=dashed",
                Style::Dotted => ", style=dotted",
            };
            let _ = writeln!(
                out,
                "  {} -- {} [label={}{style}];",
                self.vertices[e.from].id,
                self.vertices[e.to].id,
                dot_str(&e.label)
            );
        }
        out.push_str("}\n");
        out
    }

    fn mermaid(&self) -> String {
        let mut out = format!("---\ntitle: {}\n---\nflowchart LR\n", self.name);
        for v in &self.vertices {
            let label = mermaid_str(&v.label);
            let _ = match v.shape {
                Shape::Namespace | Shape::Alias => writeln!(out, "  {}(\"{label}\")", v.id),
                Shape::Host => writeln!(out, "  {}[\"{label}\"]", v.id),
                Shape::Bridge => writeln!(out, "  {}([\"{label}\"])", v.id),
            };
        }
        for e in &self.edges {
            let arrow = match e.style {
                Style::Solid => "---",
                Style::Dashed | Style::Dotted => "-.-",
            };
            let _ = writeln!(
                out,
                "  {} {arrow}|\"{}\"| {}",
                self.vertices[e.from].id,
                mermaid_str(&e.label),
                self.vertices[e.to].id
            );
        }
        out
    }
}

/// A dot string literal; `\n` in labels is dot's own line break and is kept.
fn dot_str(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// Mermaid label text inside quotes: `"` becomes an entity, dot's `\n` becomes `<br/>`.
fn mermaid_str(s: &str) -> String {
    s.replace('"', "#quot;").replace("\\n", "<br/>")
}
