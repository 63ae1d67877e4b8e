//! Throwaway hosts for live tests.
//!
//! A [`Throwaway`] is a holder process made with `unshare --net --mount --pid --fork
//! --kill-child --mount-proc`, with private tmpfs mounts on /run and /etc/netns and its own /sys. Every
//! command of a test runs inside it through `nsenter`, so a test sees its own empty network
//! stack, its own /run/netns and /run/netlab, and its own process table. Dropping the value
//! kills the holder (by the PID this harness started); the kernel then kills everything in
//! its PID namespace and, with the mount namespace gone, every netns mounted in it: nothing
//! can leak past the test, even when it panics.
#![allow(dead_code)]

pub mod netdump;
pub mod outside;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};

pub const NETLAB: &str = env!("CARGO_BIN_EXE_netlab");

/// Set in a test's inner run (see [`Throwaway::run_test_inside`]) to the test's name.
pub const INNER_TEST: &str = "NETLAB_INNER_TEST";

/// Whether this is the inner run of test `name`, inside a throwaway host.
pub fn inner_test(name: &str) -> bool {
    std::env::var(INNER_TEST).is_ok_and(|n| n == name)
}

pub struct Throwaway {
    holder: Child,
    /// PID (in our namespace) of the holder's child: PID 1 of the throwaway's PID namespace.
    init: u32,
}

/// Live tests need root (CAP_SYS_ADMIN for unshare and mounts). Off root they are skipped
/// with a message, except in CI where a skip would hide a failure.
pub fn skip_unless_root(test: &str) -> bool {
    if nix_is_root() {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: live tests need root, and CI must run them");
    }
    eprintln!("skipping {test}: live tests need root (they build network namespaces)");
    true
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false)
}

impl Throwaway {
    pub fn new() -> Throwaway {
        // The holder mounts its private /run and /etc/netns, and a /sys that shows its own
        // network devices (as a host's /sys does), brings lo up, says "ready" and
        // then waits forever as PID 1 of the new PID namespace.
        let script = "mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns \
                      && mkdir -p /etc/netns && mount -t tmpfs -o mode=755 tmpfs /etc/netns \
                      && mount -t sysfs sysfs /sys && ip link set lo up && echo ready && exec sleep 1000000";
        let mut holder = Command::new("unshare");
        holder
            .args(["--net", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child"])
            .args(["--mount-proc", "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Killed with the test too (SIGKILL of a hung test, ^C, which unshare ignores), not
        // only by Drop: the kernel sends SIGKILL when the thread that made it ends, so a
        // Throwaway must not outlive the thread that made it.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            holder.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut holder = holder.spawn().expect("run unshare (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).expect("read holder");
        assert_eq!(line.trim(), "ready", "the throwaway host did not start");
        let pid = holder.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).expect("holder's child");
        let init = children.split_whitespace().next().expect("holder has a child").parse().unwrap();
        Throwaway { holder, init }
    }

    /// PID (in our namespace) of the throwaway's PID 1: `/proc/<it>/root` sees its /run,
    /// so `/proc/<it>/root/run/netns/NAME` opens a namespace made inside.
    pub fn init_pid(&self) -> u32 {
        self.init
    }

    /// A command that runs inside the throwaway host.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t").arg(self.init.to_string()).args(["-n", "-m", "-p", "--"]).arg(program);
        cmd
    }

    /// Runs a shell script inside; returns its output whatever the exit status.
    pub fn sh(&self, script: &str) -> Output {
        self.command("sh").args(["-c", script]).output().expect("run nsenter")
    }

    /// Runs a shell script inside and returns its stdout; panics with both streams on failure.
    pub fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "script failed ({}):\n{script}\n--- stdout\n{}--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the test `name` of this very test binary again, inside the throwaway host, with
    /// `NETLAB_INNER_TEST=name` so that it knows it is the inner run (see [`inner_test`]):
    /// for tests of netlab's library that must run where the throwaway's namespaces are
    /// the process's own. Returns its output whatever the exit status.
    pub fn run_test_inside(&self, name: &str) -> Output {
        let exe = std::env::current_exe().expect("the test binary");
        self.command(exe.to_str().expect("a UTF-8 path"))
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(INNER_TEST, name)
            .output()
            .expect("run the test binary inside")
    }

    /// Runs netlab inside with the given arguments.
    pub fn netlab(&self, args: &[&str]) -> Output {
        self.command(NETLAB).args(args).output().expect("run netlab")
    }

    /// `netlab run ARGS` inside, from the repository's directory, as root or (`as_user`, a
    /// command prefix like `setpriv --reuid 65534 ...`) as another user: a lab brought up
    /// in a throwaway host of its own within this one, a command in it, the lab taken down.
    /// Its output, whatever the exit status.
    pub fn netlab_run(&self, as_user: &str, args: &str) -> Output {
        self.sh(&format!("cd {} && {as_user} {NETLAB} run {args}", env!("CARGO_MANIFEST_DIR")))
    }

    /// Runs netlab inside and panics, showing its output, unless it exits 0.
    pub fn netlab_ok(&self, args: &[&str]) -> String {
        self.netlab_exits(0, args).0
    }

    /// Runs netlab inside, which must exit 0, and parses its output as JSON.
    pub fn netlab_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.netlab_ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("netlab {args:?} printed no JSON ({e}):\n{out}"))
    }

    /// Runs netlab inside and panics, showing its output, unless it exits with `code`;
    /// returns its stdout and stderr.
    pub fn netlab_exits(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.netlab(args);
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert_eq!(
            out.status.code(),
            Some(code),
            "netlab {args:?} exited {}, not {code}:\n--- stdout\n{stdout}--- stderr\n{stderr}",
            out.status
        );
        (stdout, stderr)
    }

    /// Everything a lab can leave behind, as text to compare before and after: links,
    /// addresses and routes of the host and every named namespace, /run/netns, /run/netlab,
    /// /etc/netns, processes other than the holder, and the host's ip_forward.
    pub fn state(&self) -> String {
        self.sh_ok(
            "for ns in '' $(ls /run/netns 2>/dev/null); do \
               echo \"== netns '$ns'\"; n=${ns:+-n $ns}; \
               ip $n -d -j link show | jq -c 'map(del(.operstate, .linkmode, .txqlen, .stats64) )'; \
               ip $n -j addr show | jq -c '[.[] | {ifname, addr_info: [.addr_info[] | {local, prefixlen, address}]}]'; \
               ip $n -j route show table all; \
             done; \
             echo '== /run'; find /run /etc/netns | sort; \
             echo '== processes'; ps -e -o pid=,stat=,comm= | awk '$2 !~ /^Z/ {print $1, $3}' | grep -v -e ' sleep$' -e ' ps$' -e ' sh$' -e ' grep$' -e ' sort$' -e ' awk$' | sort; \
             echo '== sysctl'; cat /proc/sys/net/ipv4/ip_forward",
        )
    }

    /// Asserts that nothing but the empty host is left: no namespace (name or mount), no
    /// link but lo, no lab record or lock, no /etc/netns file, no process, ip_forward off,
    /// no nftables table of a lab's.
    /// Zombies do not count: the throwaway's PID 1 (`sleep`) never reaps the orphans it
    /// adopts, as a real init would, and a zombie holds nothing (no socket, no namespace).
    pub fn assert_empty(&self) {
        let leftovers = self.sh_ok(
            "ls -A /run/netns; find /run/netlab 2>/dev/null; find /etc/netns -mindepth 1 2>/dev/null; \
             findmnt -rn -o TARGET | grep '^/run/netns/'; \
             ip -o link show | grep -v ': lo:'; \
             ps -e -o pid=,stat=,comm= | awk '$2 !~ /^Z/ {print $1, $3}' | grep -v -e ' sleep$' -e ' ps$' -e ' sh$' -e ' grep$' -e ' findmnt$' -e ' awk$'; \
             grep -v '^0$' /proc/sys/net/ipv4/ip_forward; \
             nft list tables 2>/dev/null | grep netlab-; true",
        );
        assert!(leftovers.trim().is_empty(), "the lab left something behind:\n{leftovers}");
    }

    /// `netlab up FILE`, which must succeed; returns its output.
    pub fn up(&self, file: &str) -> String {
        self.netlab_ok(&["up", file])
    }

    /// `netlab down FILE` must succeed and leave the host empty.
    pub fn down_and_check(&self, file: &str) {
        let out = self.netlab_ok(&["down", file]);
        assert!(out.contains("is down"), "{out}");
        self.assert_empty();
        // A second down is fine and says there is nothing to do.
        let again = self.netlab_ok(&["down", file]);
        assert!(again.contains("is not up"), "{again}");
    }

    /// Runs a command inside a node's namespace (`ip netns exec`); its output, whatever
    /// the exit status.
    pub fn in_netns(&self, netns: &str, script: &str) -> Output {
        self.command("ip").args(["netns", "exec", netns, "sh", "-c", script]).output().expect("run ip netns exec")
    }

    /// Whether one ping from `netns` to `addr` gets an answer.
    pub fn pings(&self, netns: &str, addr: &str) -> bool {
        self.in_netns(netns, &format!("ping -c1 -W2 -q {addr}")).status.success()
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        // The holder is our own child: kill it by its PID; --kill-child takes the rest.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A topology file shipped in `topologies/`, by absolute path (the throwaway host shares
/// the filesystem, apart from /run and /etc/netns).
pub fn topology(name: &str) -> String {
    format!("{}/topologies/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A topology made for the tests, in `tests/labs/`.
pub fn test_lab(name: &str) -> String {
    format!("{}/tests/labs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Writes a topology to a temporary file (removed when the value is dropped).
pub struct TempTopology {
    pub path: String,
}

impl TempTopology {
    pub fn new(name: &str, text: &str) -> TempTopology {
        let dir = std::env::temp_dir().join(format!("netlab-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        TempTopology { path: path.to_string_lossy().into_owned() }
    }

    pub fn rewrite(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }
}

impl Drop for TempTopology {
    fn drop(&mut self) {
        if let Some(dir) = std::path::Path::new(&self.path).parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
