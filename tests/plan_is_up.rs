//! What `netlab plan` lists is what `netlab up` does: on a lab that is not up, `up` applies
//! the plan's ops in the plan's order and prints each as `plan` prints it, for every
//! shipped topology, each in its own throwaway host (whose host sysctls are all at their
//! defaults, so no host op is already satisfied and none is left out). And the order is
//! what the kernel sees: a node's `conf.default` sysctls reach the devices made after them.

mod common;

use std::path::{Path, PathBuf};

use common::{skip_unless_root, TempTopology, Throwaway};

/// The op lines of a `plan` or an `up`: everything but comments and the closing summary
/// (and what `--verify` says).
fn op_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#') && !l.starts_with("lab ") && !l.starts_with("read back")).collect()
}

/// Every shipped topology: `topologies/*.toml` and `tests/labs/*.toml`.
fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ["topologies", "tests/labs"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// `up` of `file` in a fresh throwaway host prints the lines `plan` prints; `None` when
/// this kernel cannot run the lab (and `up` said so and changed nothing).
fn up_is_plan(file: &Path) -> Option<usize> {
    let file = file.to_str().unwrap();
    let host = Throwaway::new();
    let planned = host.netlab_ok(&["plan", file]);
    // Read back too: what up applied to a shipped lab, the kernel holds.
    let out = host.netlab(&["up", "--verify", file]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(1) && stderr.contains("this kernel cannot make") {
        host.assert_empty();
        return None;
    }
    assert!(out.status.success(), "netlab up {file} failed:\n{stdout}{stderr}");
    assert!(stdout.contains("read back: the kernel holds what this run applied"), "{stdout}");
    let (planned, done) = (op_lines(&planned), op_lines(&stdout));
    assert!(!planned.is_empty());
    assert_eq!(done, planned, "{file}: up did not do what plan lists, op by op");
    host.down_and_check(file);
    Some(planned.len())
}

#[test]
fn up_does_what_plan_lists_op_by_op_for_every_shipped_topology() {
    if skip_unless_root("plan is up") {
        return;
    }
    let files = shipped();
    assert!(files.len() >= 8, "{files:?}");
    let results: Vec<(String, std::thread::Result<Option<usize>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = files.iter().map(|f| (f, s.spawn(move || up_is_plan(f)))).collect();
        handles.into_iter().map(|(f, h)| (f.display().to_string(), h.join())).collect()
    });
    let mut failures = Vec::new();
    let mut compared = 0;
    for (file, result) in results {
        match result {
            Ok(Some(ops)) => {
                compared += 1;
                eprintln!("{file}: up did the plan's {ops} ops in its order");
            }
            Ok(None) => eprintln!("{file}: skipped (this kernel cannot run it)"),
            Err(panic) => failures.push(format!(
                "{file}: {}",
                panic.downcast_ref::<String>().cloned().unwrap_or_else(|| "panicked".into())
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(compared >= 6, "only {compared} shipped topologies were compared");
}

const DEFAULT_OFF: &str = r#"
[lab]
name = "v6off"

[nodes.a]
sysctl = { "net.ipv6.conf.default.disable_ipv6" = 1 }

[nodes.b]

[[links]]
endpoints = ["a:v0", "b:v0"]
addresses = ["10.0.0.1/24", "10.0.0.2/24"]
"#;

/// Issue 12's reproduction: the plan sets the node's `conf.default.disable_ipv6` before it
/// makes the node's veth, so the veth is born without IPv6; `up` used to make the veth
/// first, and it kept IPv6.
#[test]
fn a_nodes_default_sysctls_reach_the_devices_made_after_them() {
    if skip_unless_root("default sysctls") {
        return;
    }
    let host = Throwaway::new();
    let file = TempTopology::new("v6off", DEFAULT_OFF);
    let planned = host.netlab_ok(&["plan", &file.path]);
    let sysctl = planned.lines().position(|l| l.contains("disable_ipv6")).unwrap();
    let veth = planned.lines().position(|l| l.contains("veth add")).unwrap();
    assert!(sysctl < veth, "{planned}");

    host.up(&file.path);
    let disabled = |netns: &str| host.sh_ok(&format!("ip netns exec {netns} sysctl -n net.ipv6.conf.v0.disable_ipv6"));
    assert_eq!(disabled("v6off-a").trim(), "1", "the veth in a was made before a's default said no IPv6");
    assert_eq!(host.sh_ok("ip -n v6off-a -6 -o addr show dev v0"), "", "a's veth has IPv6 addresses");
    assert_eq!(disabled("v6off-b").trim(), "0");
    assert!(host.pings("v6off-a", "10.0.0.2"));
    host.down_and_check(&file.path);
}
