//! What netlab writes and reads back (its records, lock, temp, pid and log files, the
//! /etc/netns files it writes, the forwarders it starts) is trusted only as far as it can
//! be: a name read from a record is checked like one from a topology file, a write never
//! follows a link planted in netlab's places, a directory anyone else can change is
//! refused, a corrupt record names its file and has a way out, and a process is netlab's
//! forwarder only by what cannot be faked.

mod common;

use common::{skip_unless_root, topology, Throwaway};

/// What the tests plant links to: a file of the test's, which nothing may change.
const VICTIM: &str = "/run/victim";
const PRECIOUS: &str = "precious\n";

fn plant_victim(host: &Throwaway) {
    host.sh_ok(&format!("printf '{}' > {VICTIM}", PRECIOUS.replace('\n', "\\n")));
}

fn assert_victim_untouched(host: &Throwaway, what: &str) {
    assert_eq!(host.sh_ok(&format!("cat {VICTIM}")), PRECIOUS, "{what}: netlab wrote through the link");
}

/// Adds entries to a lab's record with jq, as a hand edit would.
fn add_entries(host: &Throwaway, lab: &str, entries: &str) {
    host.sh_ok(&format!(
        "f=/run/netlab/{lab}.json && jq -c '.entries += {entries}' $f > /run/edited && cat /run/edited > $f && rm /run/edited"
    ));
}

#[test]
fn a_record_whose_names_climb_out_of_their_directories_is_not_acted_on() {
    if skip_unless_root("record names") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("veth-pair.toml");
    host.up(&file);
    // Files outside /run/netns, /etc/netns and /proc/sys that a hand-edited record names.
    host.sh_ok("echo mine > /run/victim-ns && echo x > /run/hosts && echo mine > /run/victim-sysctl");
    add_entries(
        &host,
        "veth-pair",
        r#"[{"op": "netns_add", "netns": "../victim-ns", "pending": true},
            {"op": "file_write", "netns": "../../run", "file": "hosts", "content": "x\n"},
            {"op": "sysctl_set", "netns": null, "key": "/run/victim-sysctl", "value": "1", "previous": "pwned"}]"#,
    );
    for cmd in ["status", "diff"] {
        let out = host.netlab(&[cmd, &file]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd} trusted the record: {err}");
        assert!(err.contains("/run/netlab/veth-pair.json") && err.contains("`../victim-ns`"), "{cmd}: {err}");
        assert!(err.contains("netlab down --lab veth-pair"), "{cmd} offers a way out: {err}");
    }
    let (_, err) = host.netlab_exits(1, &["up", &file]);
    assert!(err.contains("/run/netlab/veth-pair.json"), "{err}");

    // down takes the lab down from the entries it can trust, and touches none of those.
    let (out, err) = host.netlab_exits(0, &["down", "--lab", "veth-pair"]);
    assert!(out.contains("lab veth-pair is down"), "{out}");
    for bad in ["`../victim-ns`", "`../../run`", "`/run/victim-sysctl`"] {
        assert!(err.contains(bad), "down names the entry it ignored, {bad}: {err}");
    }
    assert_eq!(host.sh_ok("cat /run/victim-ns /run/hosts /run/victim-sysctl"), "mine\nx\nmine\n");
    host.sh_ok("rm /run/victim-ns /run/hosts /run/victim-sysctl");
    host.assert_empty();
}

#[test]
fn writes_never_follow_a_link_planted_in_netlabs_places() {
    if skip_unless_root("planted links") {
        return;
    }
    let host = Throwaway::new();
    let docker = topology("docker-modes.toml");
    let flannel = topology("flannel-udp.toml");
    plant_victim(&host);
    let planted = [
        ("/run/netlab/docker.lock", &docker),
        ("/run/netlab/docker.json.tmp", &docker),
        ("/etc/netns/docker-web/.hosts.netlab-tmp", &docker),
        ("/run/netlab/flannel/flannel-node1:flannel.1.log", &flannel),
        ("/run/netlab/flannel/flannel-node1:flannel.1.pid", &flannel),
    ];
    for (link, file) in planted {
        let dir = link.rsplit_once('/').unwrap().0;
        host.sh_ok(&format!("mkdir -p {dir} && ln -s {VICTIM} {link}"));
        let (_, err) = host.netlab_exits(1, &["up", file]);
        assert!(err.contains(link) && err.contains("symbolic link"), "{link}: {err}");
        assert_victim_untouched(&host, link);
        host.sh_ok(&format!("rm {link}"));
        // What a failed up leaves (nothing, or a record a down finishes from) goes.
        let _ = host.netlab(&["down", file]);
        host.sh_ok("rm -rf /run/netlab /etc/netns/*");
    }
    host.sh_ok(&format!("rm {VICTIM}"));
    host.assert_empty();
}

#[test]
fn a_directory_of_netlabs_that_others_can_change_is_refused() {
    if skip_unless_root("directory modes") {
        return;
    }
    let host = Throwaway::new();
    let docker = topology("docker-modes.toml");
    let flannel = topology("flannel-udp.toml");
    let cases = [
        ("mkdir -m 777 /run/netlab", "/run/netlab", "writable by others", &docker),
        ("mkdir -m 775 /run/netlab", "/run/netlab", "writable by its group", &docker),
        ("mkdir /run/netlab && chown 65534 /run/netlab", "/run/netlab", "owned by uid 65534", &docker),
        ("mkdir -m 757 -p /etc/netns/docker-web", "/etc/netns/docker-web", "writable by others", &docker),
        (
            "mkdir -p /run/netlab/flannel && chmod 777 /run/netlab/flannel",
            "/run/netlab/flannel",
            "writable by others",
            &flannel,
        ),
    ];
    for (make, dir, why, file) in cases {
        host.sh_ok(make);
        let (_, err) = host.netlab_exits(1, &["up", file]);
        assert!(err.contains(dir) && err.contains(why), "{make}: {err}");
        assert!(err.lines().filter(|l| l.contains(why)).count() == 1, "{make}: one sentence: {err}");
        let _ = host.netlab(&["down", file]);
        host.sh_ok(&format!("rm -rf {dir} /run/netlab /etc/netns/*"));
    }
    host.assert_empty();
}

#[test]
fn down_removes_the_temp_file_a_killed_write_left() {
    if skip_unless_root("leftover temp file") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");
    host.up(&file);
    // A kill -9 between writing the temp file and renaming it over the hosts file.
    host.sh_ok("mv /etc/netns/docker-web/hosts /etc/netns/docker-web/.hosts.netlab-tmp");
    host.down_and_check(&file);
}

#[test]
fn a_corrupt_record_is_named_and_its_lab_can_still_be_taken_down() {
    if skip_unless_root("corrupt record") {
        return;
    }
    let host = Throwaway::new();
    let (veth, docker, flannel) =
        (topology("veth-pair.toml"), topology("docker-modes.toml"), topology("flannel-udp.toml"));
    for file in [&veth, &docker, &flannel] {
        host.up(file);
    }
    // docker's record: bytes that are not UTF-8 in its last entries; flannel's: cut in half.
    host.sh_ok(
        "f=/run/netlab/docker.json && n=$(stat -c %s $f) && head -c $((n - 40)) $f > /run/r \
         && printf '\\377\\376\\375' >> /run/r && tail -c 37 $f >> /run/r && cat /run/r > $f && rm /run/r",
    );
    host.sh_ok(
        "f=/run/netlab/flannel.json && n=$(stat -c %s $f) && head -c $((n / 2)) $f > /run/r && cat /run/r > $f && rm /run/r",
    );
    let (out, err) = host.netlab_exits(1, &["status"]);
    assert!(out.contains("veth-pair"), "the other labs are listed: {out}");
    for lab in ["docker", "flannel"] {
        assert!(out.contains(lab), "{out}");
        assert!(err.contains(&format!("/run/netlab/{lab}.json")), "the file is named: {err}");
        assert!(err.contains(&format!("netlab down --lab {lab}")), "a way out: {err}");
    }
    let json = host.netlab(&["status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let labs = json["labs"].as_array().unwrap();
    assert_eq!(labs.len(), 3, "{json}");
    assert!(
        labs.iter().any(|l| l["lab"] == "docker" && l["error"].as_str().unwrap().contains("docker.json")),
        "{json}"
    );

    // One lab's status and diff name the file too.
    let (_, err) = host.netlab_exits(1, &["status", "--lab", "docker"]);
    assert!(err.contains("/run/netlab/docker.json") && err.contains("netlab down --lab docker"), "{err}");

    // Someone replaced docker's bridge br0 with their own: down leaves it, and the bad
    // record, as they are; once it is gone, a second down finishes.
    host.sh_ok("ip link del br0 && ip link add br0 type bridge");
    let (_, err) = host.netlab_exits(1, &["down", "--lab", "docker"]);
    assert!(err.contains("partly down") && err.contains("br0"), "{err}");
    assert!(err.contains("net.ipv4.ip_forward") && err.contains("other labs may share it"), "{err}");
    let (_, err) = host.netlab_exits(1, &["status", "--lab", "docker"]);
    assert!(err.contains("/run/netlab/docker.json cannot be trusted"), "the bad record stays: {err}");
    host.sh_ok("ip link del br0");
    // flannel's first: while its record cannot be read, whether it shares the host's
    // forwarding that docker's nat networks turned on cannot be told, so docker's down
    // leaves that as it is (crate::sharing, said above) until flannel's record is gone.
    for lab in ["flannel", "docker"] {
        let (out, _) = host.netlab_exits(0, &["down", "--lab", lab]);
        assert!(out.contains(&format!("lab {lab} is down")), "{out}");
    }
    host.down_and_check(&veth);
}

#[test]
fn a_file_replaced_with_bytes_that_are_not_utf8_is_theirs() {
    if skip_unless_root("non-UTF-8 file") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");
    host.up(&file);
    host.sh_ok("printf '\\377\\376 mine\\n' > /etc/netns/docker-web/hosts");
    let (out, err) = host.netlab_exits(1, &["diff", &file]);
    assert!(out.contains("file write") && out.contains("docker-web"), "diff reports the change: {out}{err}");
    let out = host.netlab_ok(&["status", &file]);
    assert!(out.contains("differs from its file"), "{out}");
    let (_, err) = host.netlab_exits(1, &["down", &file]);
    assert!(err.contains("docker-web") && err.contains("changed since netlab wrote it"), "{err}");
    assert_eq!(
        host.sh_ok("od -An -c /etc/netns/docker-web/hosts").split_whitespace().collect::<Vec<_>>()[..2],
        ["377", "376"]
    );
    host.sh_ok("rm /etc/netns/docker-web/hosts");
    host.down_and_check(&file);
}

#[test]
fn a_process_that_looks_like_a_forwarder_is_not_taken_for_one() {
    if skip_unless_root("forwarder impostor") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("flannel-udp.toml");
    host.up(&file);
    let pid_file = "/run/netlab/flannel/flannel-node2:flannel.1.pid";
    let pid = host.sh_ok(&format!("head -n1 {pid_file}")).trim().to_string();
    // Its arguments, without the handover descriptor (how it was started, not what it does).
    let args = host.sh_ok(&format!(
        "tr '\\0' '\\n' < /proc/{pid}/cmdline | tail -n +2 | awk 'skip {{ skip = 0; next }} /^--handover-fd$/ {{ skip = 1; next }} {{ print }}' | tr '\\n' ' '"
    ));
    assert!(args.starts_with("forward ") && args.contains("--stats"), "{args}");
    host.sh_ok(&format!("kill -9 {pid}"));
    // Another user's process with the same command line, in the same namespace: a shell
    // running a script named `forward` (so its arguments read `forward --dev ...`) that
    // blocks on a FIFO.
    host.sh_ok("mkdir -p /run/impostor && mkfifo /run/impostor/fifo && echo 'read x < /run/impostor/fifo' > /run/impostor/forward");
    let impostor = host.sh_ok(&format!(
        "cd /run/impostor && ip netns exec flannel-node2 setpriv --reuid 65534 --regid 65534 --clear-groups \
         sh {args} >/dev/null 2>&1 & echo $!"
    ));
    let impostor = impostor.trim();
    // `ip netns exec` execs setpriv, which execs sh: one process, this pid, once it is sh.
    host.sh_ok(&format!(
        "for i in $(seq 100); do tr '\\0' ' ' < /proc/{impostor}/cmdline | grep -q '^sh forward ' && exit 0; sleep 0.05; done; exit 1"
    ));

    let (out, _) = host.netlab_exits(1, &["diff", &file]);
    assert!(out.contains("(forwarder: file running, kernel not running)"), "{out}");
    let out = host.netlab_ok(&["status", &file]);
    assert!(out.contains("flannel-node2:flannel.1: NOT RUNNING"), "{out}");
    host.netlab_ok(&["down", &file]);
    // Alive: not gone, and not a zombie (the throwaway's PID 1 does not reap).
    let state = host.sh_ok(&format!("ps -o stat= -p {impostor} || true"));
    assert!(!state.trim().is_empty() && !state.starts_with('Z'), "down signalled the impostor ({state})");
    host.sh_ok(&format!("kill -9 {impostor}; rm -r /run/impostor"));
    host.assert_empty();
}
