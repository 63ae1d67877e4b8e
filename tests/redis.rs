//! The CI-fixture story (SCENARIOS.md 6), as a CI job runs it: `netlab run
//! topologies/redis-cluster.toml -- sh SCRIPT`. The lab starts its six redis-servers
//! (declared in the file, ready once they answer) and creates the cluster; the script
//! cuts a master's link with `netlab link`, sees the others mark it failed, restores the
//! link with `netlab up` and sees the cluster heal. As root, and as an ordinary user
//! (uid 65534), for whom `netlab run` makes a user namespace. The script's exit code is
//! `netlab run`'s.

mod common;

use std::time::Instant;

use common::{skip_unless_root, topology, Throwaway, NETLAB};

/// What the job does inside the throwaway host; every failure has its own exit code.
fn script(file: &str) -> String {
    format!(
        r#"set -u
F={file}
cli() {{ redis-cli -h 10.77.0.2 "$@"; }}
cli cluster info | grep -q cluster_state:ok || exit 10
# A master other than redis1 (10.77.0.2), where we ask from.
addr=$(cli cluster nodes | grep master | grep -v ' 10.77.0.2:' | head -n 1 | cut -d' ' -f2 | cut -d: -f1)
node=redis$((${{addr##*.}} - 1))
{NETLAB} link "$F" "$node:eth0" down >/dev/null || exit 11
{NETLAB} diff "$F" >/dev/null; [ $? -eq 1 ] || exit 12
failed() {{ cli cluster nodes | grep " $addr:" | grep -q fail; }}
i=0; until failed; do i=$((i + 1)); [ $i -lt 150 ] || exit 13; sleep 0.1; done
echo "$node marked fail"
{NETLAB} up "$F" >/dev/null || exit 14
healed() {{ cli cluster info | grep -q cluster_state:ok && ! failed; }}
i=0; until healed; do i=$((i + 1)); [ $i -lt 300 ] || exit 15; sleep 0.1; done
echo healed
exit 42
"#
    )
}

#[test]
fn a_redis_cluster_notices_a_cut_link_and_recovers_in_netlab_run_as_root_and_as_a_user() {
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
    let dir = format!("/tmp/netlab-redis-{}", std::process::id());
    host.sh_ok(&format!("mkdir -p {dir} && chmod 755 {dir}"));
    std::fs::write(format!("{dir}/job.sh"), script(&file)).unwrap();
    for user in ["", "setpriv --reuid 65534 --regid 65534 --clear-groups"] {
        let started = Instant::now();
        let out = host.netlab_run(user, &format!("{file} -- sh {dir}/job.sh"));
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            out.status.code(),
            Some(42),
            "{user}: the job's own exit code\n--- stdout\n{stdout}--- stderr\n{stderr}"
        );
        assert!(stdout.contains("marked fail\nhealed\n"), "{stdout}");
        eprintln!("{}: {:?}", if user.is_empty() { "root" } else { "uid 65534" }, started.elapsed());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    host.assert_empty();
}
