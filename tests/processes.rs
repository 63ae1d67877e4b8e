//! Processes in nodes. First the machinery (src/process), driven through its library API
//! in a throwaway host: a supervisor in a PID namespace of its own starts commands inside
//! hand-made namespaces, waits for them to be ready, logs them, records how they end,
//! stops them; and nothing it started outlives `stop_lab`, whatever happened before. Each
//! of those tests runs twice: outside, it makes a throwaway host and runs itself again
//! inside (`Throwaway::run_test_inside`), where the body runs with the throwaway's
//! namespaces as its own; then it checks from outside that the throwaway is empty.
//!
//! Then the way users see it: processes declared in a topology, through `netlab up`,
//! `status`, `logs`, `diff` and `down`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{inner_test, skip_unless_root, TempTopology, Throwaway, NETLAB};
use netlab::process::files::{self, ProcessRecord};
use netlab::process::node::{Credentials, NetnsRef};
use netlab::process::{self as proc_, Exit, Identity, Launch, ProcessError, ProcessState, Supervisor};
use netlab::topology::Ready;

/// A test whose body runs inside a throwaway host.
macro_rules! in_throwaway {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            if inner_test(stringify!($name)) {
                $body
                return;
            }
            if skip_unless_root(stringify!($name)) {
                return;
            }
            let host = Throwaway::new();
            let out = host.run_test_inside(stringify!($name));
            assert!(
                out.status.success(),
                "the inner run failed ({}):\n--- stdout\n{}--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            host.assert_empty();
        }
    };
}

const DIR: &str = "/run/netlab/t";

fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A namespace `name` joined to the throwaway's root namespace by a veth pair: `eth0`
/// inside with 10.9.N.1/24, `h-NAME` outside with 10.9.N.254/24; and a hosts file in
/// /etc/netns/NAME.
fn node(name: &str, n: u8) -> NetnsRef {
    sh(&format!(
        "ip netns add {name} && ip -n {name} link set lo up \
         && ip link add h-{name} type veth peer name eth0 netns {name} \
         && ip -n {name} addr add 10.9.{n}.1/24 dev eth0 && ip -n {name} link set eth0 up \
         && ip addr add 10.9.{n}.254/24 dev h-{name} && ip link set h-{name} up \
         && mkdir -p /etc/netns/{name} && echo '10.9.{n}.1 {name}-by-its-hosts-file' > /etc/netns/{name}/hosts"
    ));
    let id = netlab::process::identity::ns_id(&format!("/run/netns/{name}")).unwrap();
    netns_ref(name, Some(id))
}

fn netns_ref(name: &str, id: Option<netlab::process::NsId>) -> NetnsRef {
    NetnsRef {
        name: name.to_string(),
        file: format!("/run/netns/{name}").into(),
        etc: format!("/etc/netns/{name}").into(),
        id,
    }
}

fn launch(key: &str, cmd: &str, netns: &NetnsRef) -> Launch {
    Launch {
        key: key.to_string(),
        cmd: cmd.to_string(),
        netns: Some(netns.clone()),
        user: None,
        env: vec![("PATH".into(), std::env::var("PATH").unwrap())],
        cwd: PathBuf::from("/"),
        own_dir: None,
    }
}

/// Starts a process and waits until it is ready, as `up` does.
fn start(sup: &Supervisor, l: &Launch, ready: Option<&Ready>, within: Duration) -> Result<Identity, ProcessError> {
    let id = proc_::start(sup, l)?;
    if let Some(check) = ready {
        proc_::wait_ready(sup, l, check, within)?;
    }
    Ok(id)
}

fn supervisor() -> Supervisor {
    Supervisor::start(Path::new(NETLAB), Path::new(DIR)).expect("start the supervisor")
}

fn log(key: &str) -> String {
    netlab::process::log::read_tail(&files::log_path(Path::new(DIR), key), 1 << 20)
}

fn record(key: &str) -> ProcessRecord {
    ProcessRecord::load(Path::new(DIR), key).unwrap().expect("a record")
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process's state letter and parent, from /proc/PID/stat (the fields after the last
/// `)`, as its name may hold anything).
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    Some((fields.next()?.chars().next()?, fields.next()?.parse().ok()?))
}

/// The live processes of this PID namespace other than its init and this test (and its
/// threads): pid and command name.
fn others() -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Some((state, _)) = stat(pid) else { continue };
        if pid == 1 || pid == me || matches!(state, 'Z' | 'X') {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        found.push((pid, comm.trim().to_string()));
    }
    found
}

fn stop_lab_and_check_nothing_is_left() {
    proc_::stop_lab(Path::new(DIR), Duration::from_secs(2)).unwrap();
    assert_eq!(others(), vec![], "processes left after stop_lab");
    let left: Vec<_> = std::fs::read_dir(DIR).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "files left in {DIR}: {left:?}");
    let _ = std::fs::remove_dir(DIR);
    let _ = std::fs::remove_dir("/run/netlab");
    // The host ends first: deleting one end of a veth pair deletes both, now; a deleted
    // namespace takes its devices with it only later.
    sh("for l in $(ip -o link show type veth | cut -d: -f2 | cut -d@ -f1); do ip link del $l; done; \
        for ns in $(ls /run/netns); do ip netns del $ns; done; rm -rf /etc/netns/*");
}

in_throwaway! {
    /// Inside its node as `netlab exec` would run it: the namespace, its /sys, its hosts
    /// file; in a session and a PID namespace of its own; with the given environment;
    /// ready once it listens on its lab address (not on 127.0.0.1); stopped with SIGTERM.
    fn a_process_runs_inside_its_node_and_is_ready_when_it_listens_on_its_lab_address() {
        let n1 = node("n1", 1);
        let sup = supervisor();
        let mut l = launch(
            "n1:web",
            "echo GREETING=$GREETING; ls /sys/class/net | tr '\\n' ' '; echo; grep by-its-hosts /etc/hosts; \
             echo cwd=$(pwd); exec nc -lk 10.9.1.1 8000",
            &n1,
        );
        l.env.push(("GREETING".into(), "hello".into()));
        l.cwd = PathBuf::from("/etc");
        let t = Instant::now();
        let id = start(&sup, &l, Some(&Ready::Tcp(8000)), Duration::from_secs(10)).unwrap();
        eprintln!("ready after {:?}", t.elapsed());
        assert_eq!(id.netns, n1.id.unwrap(), "in its node's namespace");
        assert_eq!(record("n1:web").state(), ProcessState::Running);
        assert_eq!(record("n1:web").identity, id);
        let text = log("n1:web");
        for want in ["GREETING=hello", "eth0 lo", "10.9.1.1 n1-by-its-hosts-file", "cwd=/etc"] {
            assert!(text.contains(want), "{want:?} not in its log:\n{text}");
        }
        // Its own session, and not our PID namespace: the supervisor's.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", id.pid)).unwrap();
        let session: u32 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert_eq!(session, id.pid, "a session of its own");
        let ns = |pid: String| std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
        assert_ne!(ns(id.pid.to_string()), ns("self".into()));
        assert_eq!(ns(id.pid.to_string()), ns(sup.identity().pid.to_string()));
        // Reachable from outside on that address.
        sh("echo ping | nc -N -w2 10.9.1.1 8000");

        let t = Instant::now();
        let exit = proc_::stop(&sup, "n1:web", Duration::from_secs(5)).unwrap();
        assert_eq!(exit, Some(Exit::Signal(15)), "nc ends on SIGTERM");
        assert!(t.elapsed() < Duration::from_secs(2), "no need to wait for the grace: {:?}", t.elapsed());
        let r = record("n1:web");
        assert_eq!(r.state(), ProcessState::Exited(r.last_exit.unwrap().exit));
        assert!(log("n1:web").contains("-- netlab: killed by signal 15 (SIGTERM)"), "{}", log("n1:web"));
        assert!(!files::pid_path(Path::new(DIR), "n1:web").exists(), "the pid file goes with the process");
        assert_eq!(proc_::stop(&sup, "n1:web", Duration::from_secs(1)).unwrap(), None, "stopping again: not running");
        stop_lab_and_check_nothing_is_left();
    }
}

in_throwaway! {
    /// `user = "nobody"`: its uid, gid and groups, its HOME from the environment given.
    fn a_process_runs_as_its_user() {
        let n1 = node("n1", 1);
        let sup = supervisor();
        let nobody = Credentials::lookup("nobody").unwrap();
        let mut l = launch("n1:who", "echo uid=$(id -u) gid=$(id -g) groups=$(id -G); exec sleep 1000", &n1);
        l.user = Some(nobody.clone());
        let id = start(&sup, &l, None, Duration::from_secs(5)).unwrap();
        assert_eq!(id.uid, nobody.uid);
        // It starts with no signal blocked or ignored, whatever the supervisor does with
        // its own (a blocked SIGTERM would make it unstoppable).
        eventually("it runs sleep", || std::fs::read_to_string(format!("/proc/{}/comm", id.pid)).unwrap() == "sleep\n");
        let status = std::fs::read_to_string(format!("/proc/{}/status", id.pid)).unwrap();
        let mask = |field: &str| {
            let hex = status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim();
            u64::from_str_radix(hex, 16).unwrap() & 0x7fff_ffff // the standard signals, 1 to 31
        };
        assert_eq!((mask("SigBlk:"), mask("SigIgn:")), (0, 0), "{status}");
        eventually("its output", || log("n1:who").contains("\nuid="));
        assert!(log("n1:who").contains(&format!("uid={} gid={} groups={}", nobody.uid, nobody.gid, nobody.gid)), "{}", log("n1:who"));
        stop_lab_and_check_nothing_is_left();
    }
}

in_throwaway! {
    /// A command that daemonizes leaves the supervisor's namespace no more than any other:
    /// its daemon is re-parented to the supervisor, and ends with the lab.
    fn a_daemon_cannot_escape_and_ends_with_the_lab() {
        let n1 = node("n1", 1);
        let sup = supervisor();
        let dir = format!("/tmp/netlab-daemon-{}", std::process::id());
        sh(&format!("mkdir -p {dir}"));
        let cmd = format!(
            "setsid sleep 1001 </dev/null >/dev/null 2>&1 & \
             redis-server --bind 10.9.1.1 --port 6379 --daemonize yes --dir {dir} --save '' --appendonly no --protected-mode no --logfile {dir}/log"
        );
        start(&sup, &launch("n1:daemons", &cmd, &n1), None, Duration::from_secs(5)).unwrap();
        eventually("the starting shell exits 0", || record("n1:daemons").state() == ProcessState::Exited(Exit::Code(0)));
        let answers =
            || Command::new("redis-cli").args(["-h", "10.9.1.1", "ping"]).output().is_ok_and(|o| o.stdout == b"PONG\n");
        let start = Instant::now();
        while !answers() {
            let redis_log = std::fs::read_to_string(format!("{dir}/log")).unwrap_or_default();
            assert!(start.elapsed() < Duration::from_secs(10), "redis does not answer:\n{}\n{redis_log}", log("n1:daemons"));
            std::thread::sleep(Duration::from_millis(20));
        }
        let daemons = || -> Vec<(u32, String)> {
            others().into_iter().filter(|(_, c)| c == "sleep" || c.starts_with("redis-server")).collect()
        };
        // The setsid'd sleep may still be `setsid` for a moment.
        eventually("both daemons run", || daemons().len() == 2);
        let daemons = daemons();
        for (pid, comm) in &daemons {
            let (_, ppid) = stat(*pid).unwrap();
            assert_eq!(ppid, sup.identity().pid, "{comm} is the supervisor's, not our init's");
        }
        stop_lab_and_check_nothing_is_left();
        sh(&format!("rm -rf {dir}"));
    }
}

in_throwaway! {
    /// A process that ends before it is ready, and one whose check never passes: the error
    /// names it, says why, and shows the end of its log. udp: and cmd: checks pass when
    /// their condition holds.
    fn readiness_checks_pass_or_fail_with_the_process_and_its_log() {
        let n1 = node("n1", 1);
        let sup = supervisor();
        let e = start(&sup, &launch("n1:crash", "echo starting; echo oops >&2; exit 3", &n1), Some(&Ready::Tcp(8001)), Duration::from_secs(10))
            .unwrap_err();
        assert!(matches!(&e, ProcessError::Exited { exit: Exit::Code(3), .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("n1:crash") && text.contains("exit status 3") && text.contains("oops"), "{text}");

        let t = Instant::now();
        let e = start(&sup, &launch("n1:slow", "echo waiting; exec sleep 100", &n1), Some(&Ready::Tcp(8002)), Duration::from_millis(300))
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let text = e.to_string();
        for want in ["process n1:slow was not ready within 300ms", "tcp:8002: nothing listens on port 8002", "waiting"] {
            assert!(text.contains(want), "{want:?} not in: {text}");
        }

        start(&sup, &launch("n1:dns", "exec nc -lu 10.9.1.1 5353", &n1), Some(&Ready::Udp(5353)), Duration::from_secs(10)).unwrap();
        let flag = format!("/tmp/netlab-flag-{}", std::process::id());
        let check = Ready::Cmd(format!("test -e {flag}"));
        let t = Instant::now();
        start(&sup, &launch("n1:late", &format!("sleep 0.3; touch {flag}; exec sleep 100"), &n1), Some(&check), Duration::from_secs(10))
            .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(300), "ready only once the flag exists");
        sh(&format!("rm -f {flag}"));
        stop_lab_and_check_nothing_is_left();
    }
}

in_throwaway! {
    /// kill -9 of a process: its record says how it ended; started again, it keeps that
    /// as its last exit and counts the start.
    fn a_killed_process_is_recorded_and_can_be_started_again() {
        let n1 = node("n1", 1);
        let sup = supervisor();
        let l = launch("n1:srv", "exec nc -lk 10.9.1.1 8000", &n1);
        let first = start(&sup, &l, Some(&Ready::Tcp(8000)), Duration::from_secs(10)).unwrap();
        sh(&format!("kill -9 {}", first.pid));
        eventually("the kill is recorded", || matches!(record("n1:srv").state(), ProcessState::Exited(_)));
        assert_eq!(record("n1:srv").last_exit.unwrap().exit, Exit::Signal(9));
        let second = start(&sup, &l, Some(&Ready::Tcp(8000)), Duration::from_secs(10)).unwrap();
        assert_ne!(first, second);
        let r = record("n1:srv");
        assert_eq!((r.state(), r.starts, r.last_exit.unwrap().exit), (ProcessState::Running, 2, Exit::Signal(9)));
        let e = start(&sup, &l, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("n1:srv is already running"), "{e}");
        stop_lab_and_check_nothing_is_left();
    }
}

in_throwaway! {
    /// One-shot commands: success, failure with their output, a timeout; what they leave
    /// running is contained too.
    fn one_shot_commands_report_how_they_end() {
        let n1 = node("n1", 1);
        let sup = supervisor();
        proc_::run(&sup, &launch("n1:exec.1", "true", &n1), Duration::from_secs(5)).unwrap();
        let e = proc_::run(&sup, &launch("n1:exec.2", "echo out; echo err >&2; exit 4", &n1), Duration::from_secs(5))
            .unwrap_err();
        match &e {
            ProcessError::Failed { exit, timed_out, output, .. } => {
                assert_eq!((*exit, *timed_out), (Exit::Code(4), false));
                assert_eq!(output, &vec!["out".to_string(), "err".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let t = Instant::now();
        let e = proc_::run(&sup, &launch("n1:exec.3", "sleep 10", &n1), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, ProcessError::Failed { timed_out: true, exit: Exit::Signal(9), .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
        proc_::run(&sup, &launch("n1:exec.4", "sleep 1002 >/dev/null 2>&1 &", &n1), Duration::from_secs(5)).unwrap();
        eventually("the background sleep runs", || others().iter().any(|(_, c)| c == "sleep"));
        stop_lab_and_check_nothing_is_left();
    }
}

in_throwaway! {
    /// A process that ignores SIGTERM gets SIGKILL once the grace period is over.
    fn stop_escalates_to_sigkill_after_the_grace_period() {
        let n1 = node("n1", 1);
        let sup = supervisor();
        let l = launch("n1:stubborn", "trap '' TERM; echo trapped; while :; do sleep 0.05; done", &n1);
        start(&sup, &l, None, Duration::from_secs(5)).unwrap();
        eventually("the trap is set", || log("n1:stubborn").contains("\ntrapped"));
        let t = Instant::now();
        let exit = proc_::stop(&sup, "n1:stubborn", Duration::from_millis(300)).unwrap();
        assert_eq!(exit, Some(Exit::Signal(9)));
        assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
        stop_lab_and_check_nothing_is_left();
    }
}

/// Not a test of its own: the starter that `a_starter_killed_at_any_moment_...` kills.
/// Starts the supervisor and processes (one that daemonizes) over and over.
#[test]
fn starter_for_the_kill_test() {
    if !inner_test("starter_for_the_kill_test") {
        return;
    }
    let netns = netns_ref("n1", None);
    let sup = supervisor();
    for i in 0.. {
        let cmd = format!("setsid sleep {} </dev/null >/dev/null 2>&1 & exec sleep 1000", 2000 + i);
        let _ = start(&sup, &launch(&format!("n1:p{i}"), &cmd, &netns), None, Duration::from_secs(5));
    }
}

in_throwaway! {
    /// `kill -9` of whoever is starting processes, at any moment (before the supervisor is
    /// recorded, while it starts, between two processes): `stop_lab` still ends every
    /// process, daemons included, and leaves no file.
    fn a_starter_killed_at_any_moment_leaves_nothing_stop_lab_cannot_end() {
        node("n1", 1);
        let exe = std::env::current_exe().unwrap();
        for delay_ms in [0, 1, 2, 4, 8, 15, 30, 60, 120] {
            let mut starter = Command::new(&exe)
                .args(["starter_for_the_kill_test", "--exact", "--nocapture", "--test-threads=1"])
                .env(common::INNER_TEST, "starter_for_the_kill_test")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms));
            starter.kill().unwrap();
            starter.wait().unwrap();
            let started = files::keys(Path::new(DIR)).unwrap().len();
            let t = Instant::now();
            proc_::stop_lab(Path::new(DIR), Duration::from_secs(2)).unwrap();
            // A supervisor that had not yet said it was ready dies of its parent-death
            // signal on its own, a moment after its parent.
            let start = Instant::now();
            while !others().is_empty() && start.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(others(), vec![], "killed after {delay_ms} ms ({started} processes started): left behind");
            eprintln!("killed after {delay_ms} ms: {started} processes had started; none left (stop_lab: {:?})", t.elapsed());
        }
        stop_lab_and_check_nothing_is_left();
    }
}

// ---- The same, the way users see it: processes declared in a topology, `netlab up`,
// `status`, `logs`, `diff`, `down`, in a throwaway host of the harness's.

/// A server (as nobody, with its environment) on the web node, ready on its lab address;
/// a UDP server on the client, which first pings the web node (the whole network is up
/// before any process starts); a seed command on the web node.
fn served_lab(dir: &str) -> TempTopology {
    TempTopology::new(
        "served",
        &format!(
            r#"[lab]
name = "served"

[networks.br0]
subnet = "10.88.0.0/24"

[nodes.web]
network = "br0"
exec = ["echo seeded >> {dir}/seeds"]

[[nodes.web.processes]]
name = "http"
cmd = "echo GREETING=$GREETING uid=$(id -u) dir=$NETLAB_DIR; echo mine > $NETLAB_DIR/file && echo wrote; exec nc -lk 10.88.0.2 8000"
ready = "tcp:8000"
ready_timeout = "10s"
user = "nobody"
env = {{ GREETING = "hello" }}

[nodes.client]
network = "br0"

[[nodes.client.processes]]
name = "nc"
cmd = "ping -c 1 -W 2 10.88.0.2 >/dev/null && echo the web node answers; exec nc -lku 10.88.0.3 5353"
ready = "udp:5353"
"#
        ),
    )
}

#[test]
fn processes_start_get_ready_show_in_status_and_logs_restart_after_a_kill_and_go_with_down() {
    if skip_unless_root("processes in a lab") {
        return;
    }
    let host = Throwaway::new();
    let dir = format!("/tmp/netlab-served-{}", std::process::id());
    host.sh_ok(&format!("mkdir -p {dir}"));
    let lab = served_lab(&dir);
    let file = lab.path.as_str();
    let up = host.up(file);
    for want in [
        "supervisor start",
        "process start served-web web:http",
        "process start served-client client:nc",
        "exec served-web web:exec.1",
    ] {
        assert!(squeeze(&up).contains(&squeeze(want)), "{want:?} not in:\n{up}");
    }

    // Every process starts once the whole network is up: after the last network op, and
    // the client's reached the web node at once.
    let lines: Vec<&str> = up.lines().collect();
    let first = lines.iter().position(|l| l.contains("supervisor start")).unwrap();
    let network = ["netns add", "veth add", "bridge add", "link master", "addr add", "link up", "route add"];
    assert!(!lines[first..].iter().any(|l| network.iter().any(|n| squeeze(l).contains(n))), "{up}");
    let logs = host.netlab_ok(&["logs", file, "client:nc"]);
    assert!(logs.ends_with("\nthe web node answers\n"), "{logs}");

    // Real traffic to the server, from the other node; it lands in its log.
    host.sh_ok("ip netns exec served-client sh -c 'echo ping-from-client | nc -N -w2 10.88.0.2 8000'");
    let logs = host.netlab_ok(&["logs", file, "web:http"]);
    assert!(logs.contains("GREETING=hello uid=65534 dir=/run/netlab/served/processes/web:http.d\nwrote\n"), "{logs}");
    // Its log is root's alone.
    let mode = host.sh_ok("stat -c %a /run/netlab/served/processes/web:http.log");
    assert_eq!(mode.trim(), "600");
    eventually("the request in the server's log", || {
        host.netlab_ok(&["logs", file, "web:http"]).contains("ping-from-client")
    });
    assert_eq!(host.netlab_ok(&["logs", file, "web:exec.1"]), "");
    assert_eq!(host.netlab_ok(&["logs", "--lab", "served", "web:http"]), host.netlab_ok(&["logs", file, "web:http"]));
    let (_, err) = host.netlab_exits(2, &["logs", file, "web:nope"]);
    assert!(err.contains("node web of lab served has no process nope; it has: http, exec.1"), "{err}");
    assert_eq!(host.sh_ok(&format!("cat {dir}/seeds")), "seeded\n");

    let status = host.netlab_json(&["status", file, "--format", "json"]);
    let procs = status["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 2, "{status}");
    assert_eq!((procs[0]["name"].as_str(), procs[0]["state"].as_str()), (Some("http"), Some("running")));
    assert_eq!((procs[1]["name"].as_str(), procs[1]["state"].as_str()), (Some("nc"), Some("running")));
    let pid = procs[0]["pid"].as_u64().unwrap();
    assert_eq!(host.sh_ok(&format!("ps -o user= -p {pid}")).trim(), "nobody");

    // kill -9: diff reports how it ended, status too, up starts it again (and only it).
    host.sh_ok(&format!("kill -9 {pid}"));
    eventually("the kill recorded", || host.netlab(&["diff", file]).status.code() == Some(1));
    let (diff, _) = host.netlab_exits(1, &["diff", file]);
    assert!(
        diff.contains("web:http") && diff.contains("(process: file running, kernel killed by signal 9 (SIGKILL))"),
        "{diff}"
    );
    let status = host.netlab_ok(&["status", file]);
    assert!(status.contains("process web:http: EXITED"), "{status}");
    let again = host.up(file);
    assert!(again.contains("applying the 1 change") && again.contains("web:http"), "{again}");
    let status = host.netlab_json(&["status", file, "--format", "json"]);
    let http = &status["processes"][0];
    assert_eq!((http["state"].as_str(), http["starts"].as_u64()), (Some("running"), Some(2)), "{status}");
    assert_eq!(http["last_exit"], serde_json::json!({"signal": 9}));
    assert_ne!(http["pid"].as_u64(), Some(pid));
    assert_eq!(host.sh_ok(&format!("cat {dir}/seeds")), "seeded\n", "exec commands run once, not on a converge");
    host.netlab_ok(&["diff", file]);

    // --follow prints what comes, each line after its process's name (the node has one
    // process here: none), until the lab goes down.
    let mut follow = host
        .command(NETLAB)
        .args(["logs", file, "web", "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    host.sh_ok("ip netns exec served-client sh -c 'echo followed | nc -N -w2 10.88.0.2 8000'");
    assert!(lines.by_ref().map(Result::unwrap).any(|l| l == "followed"), "--follow shows new output");

    host.sh_ok(&format!("rm -rf {dir}"));
    assert!(host.netlab_ok(&["down", file]).contains("lab served is down"));
    assert!(follow.wait().unwrap().success(), "--follow ends when the lab goes down");
    host.assert_empty();
}

#[test]
fn a_process_that_just_died_is_shown_with_how_it_ended_not_as_gone() {
    if skip_unless_root("a process that just died") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new(
        "died",
        "[lab]\nname = \"died\"\n[nodes.a]\n[[nodes.a.processes]]\nname = \"srv\"\ncmd = \"exec tail -f /dev/null\"\n",
    );
    host.up(&lab.path);
    let pid = host.netlab_json(&["status", &lab.path, "--format", "json"])["processes"][0]["pid"].as_u64().unwrap();
    // Its supervisor held still, so that diff looks between the death and the record of
    // it (a window of milliseconds otherwise): diff waits for the record.
    let diff = host.sh(&format!(
        "sup=$(head -n 1 /run/netlab/died/supervisor.pid); kill -STOP $sup; kill -9 {pid}; sleep 0.1; \
         (sleep 0.2; kill -CONT $sup) & {NETLAB} diff {}; wait",
        lab.path
    ));
    let diff = String::from_utf8_lossy(&diff.stdout).to_string();
    assert!(diff.contains("(process: file running, kernel killed by signal 9 (SIGKILL))"), "{diff}");
    host.down_and_check(&lab.path);
}

#[test]
fn a_failing_exec_rolls_up_back_and_shows_its_output() {
    if skip_unless_root("a failing exec") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new(
        "failing",
        "[lab]\nname = \"failing\"\n[nodes.a]\nexec = [\"echo about to fail; echo on stderr >&2; exit 3\"]\n\
         [[nodes.a.processes]]\ncmd = \"tail -f /dev/null\"\n",
    );
    let (_, err) = host.netlab_exits(1, &["up", &lab.path]);
    for want in ["exec failing-a a:exec.1", "it failed (exit status 3)", "about to fail", "on stderr", "undid the"] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    host.assert_empty();
}

#[test]
fn a_process_that_does_not_get_ready_fails_up_with_its_name_and_its_log() {
    if skip_unless_root("a process that is not ready") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new(
        "slow",
        "[lab]\nname = \"slow\"\n[nodes.a]\n[[nodes.a.processes]]\nname = \"late\"\n\
         cmd = \"echo warming up; exec tail -f /dev/null\"\nready = \"tcp:9000\"\nready_timeout = \"300ms\"\n",
    );
    let (_, err) = host.netlab_exits(1, &["up", &lab.path]);
    for want in ["process a:late was not ready within 300ms", "tcp:9000: nothing listens on port 9000", "warming up"] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    host.assert_empty();
}

#[test]
fn kill_9_of_up_while_processes_start_then_down_leaves_no_process() {
    if skip_unless_root("kill -9 of up during process start") {
        return;
    }
    // Slow to get ready, one of them with a daemon of its own: the kill lands while up
    // waits for them.
    let lab = TempTopology::new(
        "killed",
        "[lab]\nname = \"killed\"\n[nodes.a]\n[nodes.b]\n\
         [[nodes.a.processes]]\ncmd = \"setsid tail -f /dev/null & sleep 0.4; exec nc -lk 127.0.0.1 7000\"\nready = \"tcp:7000\"\n\
         [[nodes.b.processes]]\ncmd = \"sleep 0.4; exec nc -lk 127.0.0.1 7001\"\nready = \"tcp:7001\"\n",
    );
    for delay_ms in [0, 100, 300, 600] {
        let host = Throwaway::new();
        let mut child = host
            .command("sh")
            .args(["-c", &format!("echo $$; exec {NETLAB} up {}", lab.path)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let pid: u32 = lines.next().unwrap().unwrap().trim().parse().unwrap();
        for line in lines.by_ref() {
            if line.unwrap().contains("supervisor start") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        host.sh(&format!("kill -9 {pid}"));
        let _ = child.wait();
        drop(lines);
        let running = host.sh_ok("ps -e -o comm= | grep -c -e '^nc$' -e '^tail$' || true");
        let out = host.netlab(&["down", &lab.path]);
        assert!(out.status.success(), "down after kill -9 ({delay_ms} ms): {}", String::from_utf8_lossy(&out.stderr));
        eprintln!("killed {delay_ms} ms into the process start, with {} of its programs running", running.trim());
        host.assert_empty();
    }
}

/// Words of a line, one space apart: column widths are the printer's business.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_process_of_a_user_this_machine_lacks_is_refused_before_anything_changes() {
    if skip_unless_root("a process of a missing user") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new(
        "nouser",
        "[lab]\nname = \"nouser\"\n[nodes.a]\n[[nodes.a.processes]]\ncmd = \"tail -f /dev/null\"\nuser = \"netlab-no-such-user\"\n",
    );
    let (_, err) = host.netlab_exits(1, &["up", &lab.path]);
    assert_eq!(
        err.trim(),
        "netlab: process a:tail runs as user netlab-no-such-user, but there is no user netlab-no-such-user on this \
         machine (see /etc/passwd); nothing was changed"
    );
    host.assert_empty();
}
