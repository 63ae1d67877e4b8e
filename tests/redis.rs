//! The CI-fixture story (SCENARIOS.md 6): six redis-server instances in cluster mode in
//! the six nodes of redis-cluster.toml; cut one master's link with `netlab link`, the
//! others mark it failed; restore it, the cluster is ok again.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{skip_unless_root, topology, Throwaway};

/// Polls `check` every 200 ms until it holds or `timeout` passes.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn addr(i: usize) -> String {
    format!("10.77.0.{}", i + 1)
}

#[test]
fn a_redis_cluster_notices_a_cut_link_and_recovers() {
    if skip_unless_root("redis cluster") {
        return;
    }
    if std::process::Command::new("redis-server").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install redis-server (and redis-tools)");
        eprintln!("skipping: redis-server is not installed");
        return;
    }
    let host = Throwaway::new();
    let file = topology("redis-cluster.toml");
    host.up(&file);
    let dir = format!("/tmp/netlab-redis-{}", std::process::id());

    // One redis-server per node, bound to the node's address; each says its PID (inside
    // the throwaway) so the test ends exactly the processes it started.
    let mut pids = Vec::new();
    let mut children = Vec::new();
    for i in 1..=6 {
        let script = format!(
            "mkdir -p {dir}/{i} && echo $$ && exec redis-server --bind {a} --port 6379 --cluster-enabled yes \
             --cluster-config-file {dir}/{i}/nodes.conf --cluster-node-timeout 1000 --dir {dir}/{i} \
             --save '' --appendonly no --protected-mode no --logfile {dir}/{i}/log",
            a = addr(i)
        );
        let mut child = host
            .command("ip")
            .args(["netns", "exec", &format!("redis-redis{i}"), "sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pid = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut pid).unwrap();
        pids.push(pid.trim().to_string());
        children.push(child);
    }
    let cli = |node: usize, args: &str| {
        let out = host.in_netns(&format!("redis-redis{node}"), &format!("redis-cli -h {} {args}", addr(node)));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        eventually(Duration::from_secs(10), || (1..=6).all(|i| cli(i, "ping").trim() == "PONG")),
        "servers did not start"
    );

    // Three masters, three replicas, across the lab's network.
    let nodes: Vec<String> = (1..=6).map(|i| format!("{}:6379", addr(i))).collect();
    let create = host.in_netns(
        "redis-redis1",
        &format!("redis-cli --cluster create {} --cluster-replicas 1 --cluster-yes", nodes.join(" ")),
    );
    assert!(create.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&create.stdout));
    let ok = |node: usize| cli(node, "cluster info").contains("cluster_state:ok");
    assert!(eventually(Duration::from_secs(20), || ok(1)), "the cluster never became ok");

    // Cut a master's link (not node 1's: that is where we ask from).
    let view = cli(1, "cluster nodes");
    let master = (2..=6)
        .find(|i| view.lines().any(|l| l.contains(&format!("{}:6379", addr(*i))) && l.contains("master")))
        .expect("a master other than node 1");
    let cut = host.netlab_ok(&["link", &file, &format!("redis{master}:eth0"), "down"]);
    assert!(cut.contains("cut"), "{cut}");
    let (diff, _) = host.netlab_exits(1, &["diff", &file]);
    assert!(diff.contains("(state: file up, kernel down)"), "diff must report the cut link: {diff}");

    // The others mark it failed within a few node-timeouts (1 s each).
    let marked_failed = |node: usize| {
        cli(node, "cluster nodes")
            .lines()
            .any(|l| l.contains(&format!("{}:6379", addr(master))) && (l.contains(" fail ") || l.contains(",fail ")))
    };
    let started = Instant::now();
    assert!(eventually(Duration::from_secs(15), || marked_failed(1)), "node 1 never marked redis{master} as failed");
    eprintln!("redis{master} marked fail after {:?}", started.elapsed());

    // Restore the link with `up`, which sees the cut and undoes it; the cluster heals.
    let restored = host.up(&file);
    assert!(restored.contains("link up"), "{restored}");
    assert!(eventually(Duration::from_secs(30), || (1..=6).all(ok)), "the cluster did not recover");
    assert!(eventually(Duration::from_secs(15), || !marked_failed(1)), "redis{master} is still marked failed");

    host.sh(&format!("kill {}", pids.join(" ")));
    for mut c in children {
        let _ = c.wait();
    }
    host.sh_ok(&format!("rm -rf {dir}"));
    host.down_and_check(&file);
}
