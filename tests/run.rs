//! `netlab run`: a lab in a throwaway host of its own, a command in it, the command's exit
//! code out, nothing left behind. Each test runs `netlab run` inside a throwaway host of
//! the harness's (so even a netlab bug cannot reach this machine), as root and as an
//! ordinary user (uid 65534, through setpriv), and checks from outside that nothing of
//! the run is left: no namespace, link, mount, record or process.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{skip_unless_root, topology, TempTopology, Throwaway, NETLAB};

/// The prefix that runs a command as uid 65534 with no groups.
const NOBODY: &str = "setpriv --reuid 65534 --regid 65534 --clear-groups";

/// A small fixture: two nodes on a bridge, each with a hostname, a server on the first
/// (ready on its lab address). `test` keeps each test's file apart (they run at once).
fn fixture(test: &str) -> TempTopology {
    TempTopology::new(
        &format!("fixture-{test}"),
        r#"[lab]
name = "fixture"

[networks.br0]
subnet = "10.66.0.0/24"

[nodes.a]
network = "br0"
hostname = "alpha"

[[nodes.a.processes]]
name = "server"
cmd = "exec nc -lk 10.66.0.2 7000"
ready = "tcp:7000"

[nodes.b]
network = "br0"
hostname = "beta"
"#,
    )
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn exit_codes_are_the_command_s_or_say_who_failed() {
    if skip_unless_root("netlab run exit codes") {
        return;
    }
    let host = Throwaway::new();
    let veth = topology("veth-pair.toml");
    let bad = TempTopology::new("bad", "[lab]\nname = \"bad\"\n[nodes.a]\nnetwork = \"nope\"\n");
    for user in ["", NOBODY] {
        let cases = [
            (0, format!("{veth} -- true")),
            (1, format!("{veth} -- false")),
            (42, format!("{veth} -- sh -c 'exit 42'")),
            // netlab itself: an invalid file, a node it does not have, a command line without CMD.
            (125, format!("{} -- true", bad.path)),
            (125, format!("{veth} --node nope -- true")),
            (125, veth.clone()),
            // the command: not executable, not there, killed by a signal.
            (126, format!("{veth} -- /etc/passwd")),
            (127, format!("{veth} -- no-such-command-netlab")),
            (137, format!("{veth} -- sh -c 'kill -KILL $$'")),
            (143, format!("{veth} -- sh -c 'kill -TERM $$'")),
        ];
        for (code, args) in cases {
            let out = host.netlab_run(user, &args);
            assert_eq!(out.status.code(), Some(code), "netlab run {args} ({user}):\n{}", text(&out));
        }
        let out = host.netlab_run(user, &format!("{} -- true", bad.path));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown network `nope`"), "{}", text(&out));
        let out = host.netlab_run(user, &format!("{veth} -- no-such-command-netlab"));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no-such-command-netlab: command not found"),
            "{}",
            text(&out)
        );
    }
    host.assert_empty();
}

#[test]
fn the_command_sees_the_lab_and_only_it_as_root_and_as_an_ordinary_user() {
    if skip_unless_root("netlab run's view") {
        return;
    }
    let host = Throwaway::new();
    let lab = fixture("sees");
    let file = &lab.path;
    // The real host's lab state, which the run must neither see nor touch.
    host.sh_ok("mkdir -p /run/netlab && echo '{}' > /run/netlab/other.json && touch /run/netns/other && ip link add real0 type veth peer name real1");
    for user in ["", NOBODY] {
        let script = format!(
            "id -u; ls /run/netlab; echo $(ls /run/netns); ip -o link show | grep -c real0; \
             {NETLAB} status | tail -n +2; ip netns exec fixture-a grep -w alpha /etc/hosts; \
             {NETLAB} exec {file} b -- sh -c \"echo hello | nc -N -w2 10.66.0.2 7000\" && echo sent; \
             for i in $(seq 50); do {NETLAB} logs {file} a:server | grep -q hello && break; sleep 0.1; done; \
             {NETLAB} logs {file} a:server | tail -n 1"
        );
        let out = host.netlab_run(user, &format!("{file} -- sh -c '{script}'"));
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "0", "root inside, whoever ran it: {}", text(&out));
        assert_eq!(lines[1..4], ["fixture", "fixture.json", "fixture.lock"], "only its own: {}", text(&out));
        assert_eq!(lines[4].trim(), "fixture-a fixture-b");
        assert_eq!(lines[5], "0", "not the real host's links");
        assert!(lines[6].starts_with("fixture "), "{}", text(&out));
        assert_eq!(lines[7].split_whitespace().collect::<Vec<_>>(), ["10.66.0.2", "alpha"]);
        assert_eq!(lines[8..], ["sent", "hello"], "its server got the message: {}", text(&out));
    }
    host.sh_ok("rm -rf /run/netlab /run/netns/other && ip link del real0");
    host.assert_empty();
}

#[test]
fn netlab_in_the_command_is_the_netlab_that_runs_the_lab() {
    if skip_unless_root("netlab in netlab run's command") {
        return;
    }
    let host = Throwaway::new();
    let veth = topology("veth-pair.toml");
    // netlab started by its path, not on PATH (as `./target/release/netlab run` is): the
    // command's `netlab` is still this one, and reaches the lab.
    let script =
        "command -v netlab >/dev/null && readlink -f \"$(command -v netlab)\" && netlab status --lab veth-pair";
    for user in ["", NOBODY] {
        let out = host.netlab_run(
            &format!("env PATH=/usr/sbin:/usr/bin:/sbin:/bin {user}"),
            &format!("{veth} -- sh -c '{script}'"),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let own = std::fs::canonicalize(NETLAB).unwrap();
        assert_eq!(stdout.lines().next(), Some(own.to_str().unwrap()), "{}", text(&out));
        assert!(stdout.contains("lab veth-pair: up"), "{}", text(&out));
    }
    host.assert_empty();
}

#[test]
fn a_command_runs_inside_a_node_with_node() {
    if skip_unless_root("netlab run --node") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("veth-pair.toml");
    for user in ["", NOBODY] {
        let out = host.netlab_run(
            user,
            &format!("{file} --node ns1 -- sh -c 'ls /sys/class/net | tr \"\\n\" \" \"; ip -o -4 addr show dev veth1'"),
        );
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("lo veth1 "), "its own /sys: {stdout}");
        assert!(stdout.contains("10.0.0.2/24"), "{stdout}");
    }
    host.assert_empty();
}

#[test]
fn impaired_links_work_without_root() {
    if skip_unless_root("netlab run with impaired links") {
        return;
    }
    // wan.toml has both engines: relays (AF_PACKET, no TUN device) and the kernel's (tbf,
    // an nftables drop), all of which a user namespace's root may make.
    let host = Throwaway::new();
    let file = topology("wan.toml");
    let script = format!("{NETLAB} status {file} | grep -E \"relay|kernel\"; {NETLAB} exec {file} client -- ping -c 1 -w 5 10.2.0.2 >/dev/null && echo reached");
    let out = host.netlab_run(NOBODY, &format!("{file} -- sh -c '{script}'"));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("relay (pid") && stdout.contains(" kernel"), "both engines: {}", text(&out));
    assert!(stdout.ends_with("reached\n"), "through the relay: {}", text(&out));
    host.assert_empty();
}
#[test]
fn it_works_where_etc_netns_does_not_exist() {
    if skip_unless_root("netlab run without /etc/netns") {
        return;
    }
    let host = Throwaway::new();
    // An /etc like the real one but without netns, in the throwaway's mount namespace:
    // every entry of /etc bound into a tmpfs, as on a machine where iproute2 never ran.
    host.sh_ok(
        "umount /etc/netns && mkdir /run/etc && mount --rbind /etc /run/etc && mount -t tmpfs tmpfs /etc && \
         for e in /run/etc/* /run/etc/.[!.]*; do [ -e \"$e\" ] || continue; n=${e#/run/etc/}; [ \"$n\" = netns ] && continue; \
           if [ -L \"$e\" ]; then ln -s \"$(readlink \"$e\")\" /etc/$n; elif [ -d \"$e\" ]; then mkdir /etc/$n && mount --rbind \"$e\" /etc/$n; \
           else touch /etc/$n && mount --bind \"$e\" /etc/$n; fi; done && umount -l /run/etc && rmdir /run/etc && test ! -e /etc/netns",
    );
    let lab = fixture("etc");
    let file = &lab.path;
    for user in ["", NOBODY] {
        let out = host.netlab_run(
            user,
            &format!(
                "{file} -- sh -c 'ip netns exec fixture-b grep -w beta /etc/hosts; ls /etc/netns | wc -l; \
                 grep -c localhost /etc/hosts; echo probe > /etc/netlab-probe && cat /etc/netlab-probe'"
            ),
        );
        assert!(out.status.success(), "{}", text(&out));
        let hosts = host.sh_ok("grep -c localhost /etc/hosts");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>(),
            ["10.66.0.3", "beta", "2", hosts.trim(), "probe"],
            "the node's files, the host's /etc (its mounted files too), and /etc writable"
        );
        // What was written to /etc stayed in the throwaway host.
        host.sh_ok("test ! -e /etc/netns && test ! -e /etc/netlab-probe");
    }
    host.sh_ok("mkdir -p /run/netns"); // assert_empty lists it
    host.assert_empty();
}

#[test]
fn what_needs_the_real_root_is_refused_up_front_in_one_sentence() {
    if skip_unless_root("netlab run refusals") {
        return;
    }
    let host = Throwaway::new();
    let mut labs = vec![("flannel-udp.toml", "udp tunnels")];
    // ipip is userspace (a TUN device) only where the kernel has no ipip module.
    if host.netlab_ok(&["plan", &topology("ipip.toml")]).contains(" tun add ") {
        labs.push(("ipip.toml", "ipip tunnels in userspace"));
    }
    for (file, what) in labs {
        // The command would leave a mark: it never runs.
        let mark = format!("/tmp/netlab-refused-{}", std::process::id());
        let out = host.netlab_run(NOBODY, &format!("{} -- touch {mark}", topology(file)));
        assert_eq!(out.status.code(), Some(125), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
        for want in [what, "/dev/net/tun", "as root"] {
            assert!(stderr.contains(want), "{want:?} not in: {stderr}");
        }
        assert!(!std::path::Path::new(&mark).exists(), "refused before the command ran");
        // As root the same lab runs.
        let out = host.netlab_run("", &format!("{} -- true", topology(file)));
        assert!(out.status.success(), "{}", text(&out));
    }
    host.assert_empty();
}

/// `netlab run FILE -- sh -c SCRIPT`, started in the background inside the throwaway.
struct Background {
    /// Its pid in the throwaway.
    pid: u32,
    child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Background {
    /// Starts it; returns once SCRIPT has printed its first line.
    fn start(host: &Throwaway, as_user: &str, file: &str, script: &str) -> Background {
        let mut child = host
            .command("sh")
            .args(["-c", &format!("{as_user} {NETLAB} run {file} -- sh -c '{script}' & echo $!; wait $!")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let pid = line.trim().parse().unwrap();
        line.clear();
        stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the command did not start");
        Background { pid, child, stdout }
    }

    /// Waits for its end: its exit code and the rest of its output.
    fn wait(mut self) -> (Option<i32>, String) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest).unwrap();
        let out = self.child.wait_with_output().unwrap();
        (out.status.code(), format!("{rest}--- stderr\n{}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn sigterm_and_sigint_reach_the_command_then_the_lab_comes_down() {
    if skip_unless_root("netlab run and SIGTERM, SIGINT") {
        return;
    }
    let host = Throwaway::new();
    // A process that says when `down` stops it (SIGTERM); the throwaway's end alone would
    // SIGKILL it, silently.
    let dir = format!("/tmp/netlab-run-signals-{}", std::process::id());
    host.sh_ok(&format!("mkdir -p {dir} && chmod 777 {dir}"));
    let lab = TempTopology::new(
        "signals",
        &format!(
            "[lab]\nname = \"signals\"\n[nodes.a]\n[[nodes.a.processes]]\nname = \"watch\"\n\
             cmd = \"trap \\\"echo stopped >> {dir}/stopped; exit 0\\\" TERM; while :; do sleep 0.1; done\"\n"
        ),
    );
    // SIGINT too, although the shell that starts `netlab run` in the background starts it
    // with SIGINT ignored (as a non-interactive shell does its background jobs): the
    // command gets it with its signals reset, and its trap runs.
    for (signal, code, user) in [("TERM", 7, ""), ("INT", 8, NOBODY)] {
        let script = format!("trap \"echo got {signal}; exit {code}\" {signal}; echo started; sleep 1000 & wait");
        let run = Background::start(&host, user, &lab.path, &script);
        host.sh_ok(&format!("kill -{signal} {}", run.pid));
        let (exit, output) = run.wait();
        assert!(output.starts_with(&format!("got {signal}\n")), "{output}");
        // The shell in between exits with netlab run's code: the command's.
        assert_eq!(exit, Some(code), "{output}");
        // Then `down` stopped the lab's process, as it does.
        assert_eq!(host.sh_ok(&format!("cat {dir}/stopped && rm {dir}/stopped")), "stopped\n", "{output}");
        host.assert_empty();
    }
    host.sh_ok(&format!("rm -rf {dir}"));
}

/// What a run leaves in the throwaway it ran in, seen from there: its network, mount, user
/// and PID namespaces, by inode, wherever a live process (a zombie holds nothing) still
/// refers to one: as its own, by a descriptor, or mounted.
fn references(host: &Throwaway, inodes: &[String]) -> String {
    let patterns: Vec<String> = inodes.iter().map(|i| format!("-e '{i}'")).collect();
    host.sh_ok(&format!(
        "for p in $(ps -e -o pid=,stat= | awk '$2 !~ /^Z/ {{print $1}}'); do \
           ls -l /proc/$p/ns/ /proc/$p/fd/ 2>/dev/null; cat /proc/$p/mountinfo 2>/dev/null; \
         done | grep -F {} || true",
        patterns.join(" ")
    ))
}

#[test]
fn kill_9_of_netlab_run_leaves_nothing() {
    if skip_unless_root("kill -9 of netlab run") {
        return;
    }
    let host = Throwaway::new();
    let lab = fixture("kill");
    let file = &lab.path;
    for user in ["", NOBODY] {
        let run = Background::start(&host, user, file, "echo started; exec sleep 1000");
        let pid = run.pid;
        // Its PID 1 (its only child) holds the throwaway's namespaces.
        let init = host.sh_ok(&format!("cat /proc/{pid}/task/{pid}/children")).trim().to_string();
        let inodes: Vec<String> = ["net", "mnt", "user", "pid"]
            .iter()
            .map(|ns| host.sh_ok(&format!("readlink /proc/{init}/ns/{ns}")).trim().to_string())
            .filter(|ns| {
                !host.sh_ok(&format!("readlink /proc/self/ns/{}", &ns[..ns.find(':').unwrap()])).contains(ns.as_str())
            })
            .collect();
        let want = if user.is_empty() { 3 } else { 4 };
        assert_eq!(inodes.len(), want, "namespaces of its own: {inodes:?}");
        assert!(!references(&host, &inodes).is_empty(), "the check finds them while it runs");
        host.sh_ok(&format!("kill -9 {pid}"));
        assert_eq!(run.wait().0, Some(137));
        let start = Instant::now();
        loop {
            let left = references(&host, &inodes);
            if left.is_empty() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "still referred to after kill -9:\n{left}");
            std::thread::sleep(Duration::from_millis(50));
        }
        host.assert_empty();
    }
}

#[test]
fn two_runs_of_one_lab_at_once_do_not_see_each_other() {
    if skip_unless_root("two netlab runs at once") {
        return;
    }
    let host = Throwaway::new();
    let lab = fixture("two");
    let file = &lab.path;
    let dir = format!("/tmp/netlab-two-runs-{}", std::process::id());
    host.sh_ok(&format!("mkdir -p {dir} && chmod 777 {dir}"));
    // Each says it is up, then waits for the other: both labs are up at once.
    let script = |me: &str, other: &str| {
        format!(
            "{NETLAB} status | tail -n +2 | wc -l > {dir}/{me}; ip netns exec fixture-a ip -o -4 addr show dev eth0 | wc -l >> {dir}/{me}; \
             echo started; i=0; while [ ! -e {dir}/{other} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; test -e {dir}/{other}"
        )
    };
    let a = Background::start(&host, "", file, &script("a", "b"));
    let b = Background::start(&host, NOBODY, file, &script("b", "a"));
    for run in [a, b] {
        let (code, output) = run.wait();
        assert_eq!(code, Some(0), "{output}");
    }
    // One lab each, with one address on a's eth0: neither saw the other's.
    assert_eq!(host.sh_ok(&format!("cat {dir}/a {dir}/b")), "1\n1\n1\n1\n");
    host.sh_ok(&format!("rm -rf {dir}"));
    host.assert_empty();
}

#[test]
fn processes_of_other_users_need_a_range_of_ids_without_root() {
    if skip_unless_root("netlab run with user = ...") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new(
        "users",
        "[lab]\nname = \"users\"\n[nodes.a]\n[[nodes.a.processes]]\nname = \"who\"\n\
         cmd = \"echo uid=$(id -u) gid=$(id -g); exec tail -f /dev/null\"\nuser = \"nobody\"\n",
    );
    let script =
        format!("for i in $(seq 50); do {NETLAB} logs {} a:who | grep ^uid= && break; sleep 0.1; done", lab.path);
    // Without a range in /etc/subuid: refused before anything starts, saying what allows it.
    let out = host.netlab_run(NOBODY, &format!("{} -- sh -c '{script}'", lab.path));
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    for want in ["process a:who runs as user nobody (uid 65534)", "/etc/subuid", "uidmap", "or run it as root"] {
        assert!(stderr.contains(want), "{want:?} not in: {stderr}");
    }
    // With one (in the throwaway's own /etc), newuidmap maps it: the process runs as nobody.
    let helpers = ["/usr/bin/newuidmap", "/usr/bin/newgidmap", "/etc/subuid", "/etc/subgid"];
    if let Some(missing) = helpers.iter().find(|p| !std::path::Path::new(p).exists()) {
        assert!(std::env::var_os("CI").is_none(), "CI must install uidmap ({missing} is missing)");
        eprintln!("skipping the rest: {missing} is missing (the uidmap package)");
        host.assert_empty();
        return;
    }
    host.sh_ok(
        "echo nobody:100000:65536 > /run/subid && mount --bind /run/subid /etc/subuid && mount --bind /run/subid /etc/subgid",
    );
    for user in [NOBODY, ""] {
        let out = host.netlab_run(user, &format!("{} -- sh -c '{script}'", lab.path));
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "uid=65534 gid=65534\n", "{}", text(&out));
    }
    host.sh_ok("umount /etc/subuid /etc/subgid && rm /run/subid");
    host.assert_empty();
}
