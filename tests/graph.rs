//! `netlab graph` output is valid input for the tools it targets: Graphviz's `dot` renders
//! every shipped topology to SVG, and Mermaid's own parser accepts the flowcharts.
//! Both tools are installed by .ci/run; elsewhere a missing tool skips with the reason,
//! but under CI (CI set) a missing tool is a failure, so the check cannot silently vanish.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn topologies() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("topologies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn graph(path: &Path, format: &str) -> String {
    let out = assert_cmd::Command::cargo_bin("netlab")
        .unwrap()
        .args(["graph", "--format", format])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "graph {format} of {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether a required external tool is missing: fine on a laptop (the test says it
/// skipped), a failure in CI.
fn missing(tool: &str, probe: bool, install: &str) -> bool {
    if probe {
        return false;
    }
    assert!(std::env::var_os("CI").is_none(), "{tool} is missing in CI: {install}");
    eprintln!("skipped: {tool} is not installed ({install})");
    true
}

#[test]
fn dot_renders_every_topology() {
    let has_dot = Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success());
    if missing("graphviz (dot)", has_dot, "apt-get install graphviz") {
        return;
    }
    for path in topologies() {
        let dot = graph(&path, "dot");
        let svg = Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(dot.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let stderr = String::from_utf8_lossy(&svg.stderr);
        assert!(
            svg.status.success() && stderr.is_empty(),
            "dot rejects the graph of {}: {stderr}\n{dot}",
            path.display()
        );
        assert!(String::from_utf8_lossy(&svg.stdout).contains("<svg"), "no SVG for {}", path.display());
    }
}

#[test]
fn mermaid_parses_every_topology() {
    let dir = root().join("tests/mermaid");
    let ready = dir.join("node_modules/mermaid").exists() && Command::new("node").arg("--version").output().is_ok();
    if missing("mermaid (node + npm packages)", ready, "npm ci --prefix tests/mermaid") {
        return;
    }
    let tmp = std::env::temp_dir().join(format!("netlab-mermaid-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut files = Vec::new();
    for path in topologies() {
        let file = tmp.join(format!("{}.mmd", path.file_stem().unwrap().to_string_lossy()));
        std::fs::write(&file, graph(&path, "mermaid")).unwrap();
        files.push(file);
    }
    // A deliberately broken chart must be rejected, or the checker proves nothing.
    let broken = tmp.join("broken.mmd");
    std::fs::write(&broken, "flowchart LR\n  a ---|\"unterminated b\n").unwrap();
    let out = Command::new("node").arg(dir.join("check.mjs")).args(&files).arg(&broken).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::remove_dir_all(&tmp).unwrap();
    let invalid: Vec<&str> = report.lines().filter(|l| l.starts_with("INVALID")).collect();
    assert_eq!(invalid.len(), 1, "only the broken chart may fail:\n{report}");
    assert!(invalid[0].contains("broken.mmd"), "{report}");
}

#[test]
fn graphs_show_every_namespace_bridge_and_address() {
    let path = root().join("topologies/k8s-pods.toml");
    let t = netlab::load(&path).unwrap();
    for format in ["dot", "mermaid"] {
        let g = graph(&path, format);
        for node in &t.nodes {
            assert!(g.contains(&node.name), "{format} lacks node {}", node.name);
        }
        for bridge in &t.bridges {
            assert!(g.contains(&bridge.gateway.to_string()), "{format} lacks {}", bridge.gateway);
        }
        for veth in &t.veths {
            if let Some(a) = veth.ends[0].address {
                assert!(g.contains(&a.to_string()), "{format} lacks address {a}");
            }
        }
    }
}
