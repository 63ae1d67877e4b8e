//! A failure half-way through `up` leaves the host exactly as it was: the run undoes what
//! it applied. A `kill -9` half-way leaves a record from which `down` removes everything.
//!
//! Rollback at every op of every shipped lab is swept without root against an in-memory
//! kernel (src/apply/tests.rs). Here a real kernel refuses real ops, at three points of a
//! lab that uses every kind of op: a sysctl this kernel does not have (early: right after
//! the namespaces), a device sysctl it does not have (half-way: after every device), and a
//! host route whose gateway is on no subnet of the host (late: after every address and
//! link; `validate` refuses such a route in a node, but the host's interfaces are not in
//! the file, so there only the kernel can).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::{skip_unless_root, test_lab, TempTopology, Throwaway, NETLAB};

#[test]
fn a_kernel_refusal_at_any_stage_leaves_the_host_as_it_was() {
    if skip_unless_root("rollback of a refused op") {
        return;
    }
    let cases = [
        (
            "sysctl",
            "[nodes.router]",
            r#"sysctl = { "net.ipv4.ip_forward" = 1, "net.ipv4.conf.up0.rp_filter" = 0, "net.ipv4.netlab_no_such_key" = 1 }"#,
            "sysctl set every-router net.ipv4.netlab_no_such_key = 1: No such file or directory (ENOENT)",
        ),
        (
            "device sysctl",
            "[nodes.router]",
            r#"sysctl = { "net.ipv4.ip_forward" = 1, "net.ipv4.conf.up0.rp_filter" = 0, "net.ipv4.conf.up0.netlab_no_such_key" = 1 }"#,
            "sysctl set every-router net.ipv4.conf.up0.netlab_no_such_key = 1: No such file or directory (ENOENT)",
        ),
        (
            "route",
            "[host]",
            r#"routes = [{ to = "10.99.0.0/16", via = "10.1.0.2" }, { to = "10.98.0.0/16", via = "10.250.0.1" }]"#,
            "route add host 10.98.0.0/16 via 10.250.0.1: Network is unreachable (ENETUNREACH)",
        ),
    ];
    let host = Throwaway::new();
    let before = host.state();
    for (what, section, line, refused) in cases {
        // The section's own sysctl or routes line is replaced by the case's.
        let text = std::fs::read_to_string(test_lab("everything.toml")).unwrap();
        let key = line.split_once(" = ").unwrap().0;
        let old = text.lines().skip_while(|l| *l != section).find(|l| l.starts_with(key)).unwrap();
        let lab = TempTopology::new("every", &text.replacen(old, line, 1));
        let out = host.command(NETLAB).args(["up", &lab.path]).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{what}: up should exit 1\n{stdout}{stderr}");
        let failed = stderr.lines().find(|l| l.contains(" failed: ")).unwrap_or_else(|| panic!("{what}: {stderr}"));
        let n: usize = failed.split_whitespace().nth(2).and_then(|n| n.parse().ok()).expect("op N failed");
        assert!(n > 1, "{what}: the first op failed, nothing to undo\n{stderr}");
        assert!(
            failed.ends_with(&format!("op {n} failed: {refused}; undid the {} ops this run had applied", n - 1))
                || failed.contains(&format!("op {n} failed: {refused}; undid the ")),
            "{what}: the error must name the op and the kernel's answer\n{stderr}"
        );
        assert!(stderr.contains("undid the"), "{what}: the error must say what was undone\n{stderr}");
        let after = host.state();
        assert!(
            after == before,
            "{what}: the failed up left the host changed:\n{}\n{stdout}{stderr}",
            changed(&before, &after)
        );
    }
    // And with nothing refused, the same lab comes up and goes down cleanly.
    let file = test_lab("everything.toml");
    host.up(&file);
    host.down_and_check(&file);
}

/// The lines of `after` that are not in `before` and vice versa.
fn changed(before: &str, after: &str) -> String {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let gone = b.iter().filter(|l| !a.contains(l)).map(|l| format!("- {l}"));
    let new = a.iter().filter(|l| !b.contains(l)).map(|l| format!("+ {l}"));
    gone.chain(new).collect::<Vec<_>>().join("\n")
}

/// A lab of 60 namespaces with links, routes, sysctls and files: long enough to kill.
fn big_lab() -> String {
    let mut text = String::from(
        "[lab]\nname = \"kill\"\n\n[host]\nsysctl = { \"net.ipv4.ip_forward\" = 1 }\n\n\
         [networks.a]\nsubnet = \"10.60.0.0/24\"\n\n[networks.b]\nsubnet = \"10.61.0.0/24\"\nin = \"gw\"\n\n\
         [nodes.gw]\nsysctl = { \"net.ipv4.ip_forward\" = 1 }\n\n",
    );
    for i in 0..60 {
        let net = if i % 2 == 0 { "a" } else { "b" };
        text += &format!("[nodes.n{i}]\nnetwork = \"{net}\"\nhostname = \"n{i}\"\n\n");
    }
    text += "[[links]]\nendpoints = [\"gw:up0\", \"host:kill-up\"]\naddresses = [\"10.62.0.2/30\", \"10.62.0.1/30\"]\n";
    // Forwarder processes too: a kill can land while they start.
    text += "[[tunnels]]\nkind = \"udp\"\nendpoints = [\"gw:fl0\", \"host:kill-fl\"]\n\
             underlay = [\"10.62.0.2\", \"10.62.0.1\"]\naddresses = [\"10.63.0.1\", \"10.63.0.2\"]\n";
    // And an impairment relay, started last: a kill can land while it starts.
    text += "[[links]]\nendpoints = [\"gw:imp0\", \"n0:imp0\"]\nimpair = { delay = \"1ms\", seed = 1 }\n";
    text
}

#[test]
fn down_after_kill_9_leaves_nothing() {
    if skip_unless_root("kill -9") {
        return;
    }
    let lab = TempTopology::new("kill", &big_lab());
    // Kill after the first line, part-way through the namespaces, the links, the
    // addresses, and near the end (573: the forwarders are started, the relay is being
    // started): each time `down` must remove everything.
    for after_lines in [1, 20, 70, 130, 250, 330, 338, 573] {
        let host = Throwaway::new();
        let mut child = host
            .command("sh")
            .args(["-c", &format!("echo $$; exec {NETLAB} up {}", lab.path)])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The PID inside the throwaway's PID namespace: the shell that became netlab.
        let pid: u32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
        let mut seen = 0;
        for line in lines.by_ref() {
            line.unwrap();
            seen += 1;
            if seen >= after_lines {
                break;
            }
        }
        host.sh(&format!("kill -9 {pid}"));
        let status = child.wait().unwrap();
        drop(lines);
        // The kill came while netlab ran (nsenter dies of the signal that ended its child),
        // else this round would only test `down` of a lab that is up.
        assert_eq!(seen, after_lines, "up printed {seen} lines, fewer than the kill waits for");
        assert_eq!(status.signal(), Some(9), "up finished before the kill after line {after_lines}: {status}");

        let diag = host.sh("cat /proc/locks; ps -e -o pid,ppid,stat,args; ls -li /run/netlab");
        let out = host.netlab(&["down", &lab.path]);
        if !out.status.success() {
            eprintln!(
                "DIAG after line {after_lines} (pid {pid}, seen {seen}):\n{}",
                String::from_utf8_lossy(&diag.stdout)
            );
        }
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "down after kill -9 at line {after_lines} failed:\n{text}");
        host.assert_empty();
    }
}

/// A `kill -9` between writing the record's temp file and renaming it leaves
/// `<lab>.json.tmp` next to the record; `down` removes it with the record.
#[test]
fn down_removes_a_record_temp_file_left_by_a_kill() {
    if skip_unless_root("record temp file") {
        return;
    }
    let host = Throwaway::new();
    let file = common::topology("veth-pair.toml");
    host.up(&file);
    host.sh_ok("cp /run/netlab/veth-pair.json /run/netlab/veth-pair.json.tmp");
    host.down_and_check(&file);
}

/// A second netlab on the same lab is told the lab is busy, and changes nothing.
#[test]
fn one_netlab_per_lab_at_a_time() {
    if skip_unless_root("lab lock") {
        return;
    }
    let host = Throwaway::new();
    let file = common::topology("veth-pair.toml");
    // Hold the lab's lock the way netlab does (flock) while another up runs; the shell
    // says its PID once it holds the lock.
    let mut holder = host
        .command("sh")
        .args(["-c", "mkdir -p /run/netlab; exec 9>/run/netlab/veth-pair.lock; flock 9; echo $$; exec sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pid = String::new();
    BufReader::new(holder.stdout.take().unwrap()).read_line(&mut pid).unwrap();
    let (_, err) = host.netlab_exits(1, &["up", &file]);
    assert!(err.contains("being changed by another netlab"), "{err}");
    assert!(host.sh_ok("ls /run/netns").trim().is_empty(), "the refused up made namespaces");
    // The holder's PID inside the throwaway (the shell that took the lock, now sleep).
    host.sh(&format!("kill {}", pid.trim()));
    let _ = holder.wait();
    host.sh_ok("rm -rf /run/netlab");
    host.up(&file);
    host.down_and_check(&file);
}

/// A converge that removed a node and then failed leaves a record `down` can finish:
/// what was in the removed namespace went with it and is not the lab's any more.
#[test]
fn down_after_a_failed_converge_that_removed_a_node_leaves_nothing() {
    if skip_unless_root("failed converge") {
        return;
    }
    let host = Throwaway::new();
    let before = "[lab]\nname = \"conv\"\n\n[networks.net]\nsubnet = \"10.20.0.0/24\"\n\n\
                  [nodes.a]\nnetwork = \"net\"\n\n[nodes.b]\nnetwork = \"net\"\n";
    let lab = TempTopology::new("conv", before);
    host.up(&lab.path);
    // b goes; a gets a sysctl this kernel does not have: the run removes b, then fails.
    lab.rewrite(
        "[lab]\nname = \"conv\"\n\n[networks.net]\nsubnet = \"10.20.0.0/24\"\n\n\
         [nodes.a]\nnetwork = \"net\"\nsysctl = { \"net.ipv4.netlab_no_such_key\" = 1 }\n",
    );
    let (_, err) = host.netlab_exits(1, &["up", &lab.path]);
    assert!(err.contains("netlab_no_such_key = 1: No such file or directory (ENOENT)"), "{err}");
    assert!(!host.sh_ok("ls /run/netns").contains("conv-b"), "the converge did not remove b before failing");
    host.down_and_check(&lab.path);
}
