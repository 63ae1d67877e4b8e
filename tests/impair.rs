//! Impaired links, live, as users make them: real topology files brought up with `netlab
//! up` in throwaway hosts, changed with `netlab impair` and `netlab link`, compared with
//! `diff`, shown by `status`, put back by `up`, removed by `down`; and what real clients
//! see: ping's RTT, mdev and lost icmp_seq numbers, iperf3's throughput, tcpdump's counts.
//!
//! Most links here are the relay's (`mode = "userspace"`, or `impair = {}`), which this
//! kernel can always make; the kernel's path is tbf and nftables here (no sch_netem: the
//! netem test finds that out and says it is skipped). Timing tests take a shared lock, so
//! they run one at a time on a small machine.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{skip_unless_root, TempTopology, Throwaway};
use netlab::impair::relay::control;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Two nodes and a link `a:e0 <-> b:e0` (10.0.0.1, 10.0.0.2) with the given `impair`; a
/// second link `a:e1 <-> b:e1` (10.0.1.x) with `impair1` when it is not empty.
fn pair(impair: &str, impair1: &str) -> String {
    let mut text = format!(
        "[lab]\nname = \"imp\"\nprefix = \"\"\n[nodes.a]\n[nodes.b]\n\
         [[links]]\nendpoints = [\"a:e0\", \"b:e0\"]\naddresses = [\"10.0.0.1/24\", \"10.0.0.2/24\"]\nimpair = {impair}\n"
    );
    if !impair1.is_empty() {
        text.push_str(&format!(
            "[[links]]\nendpoints = [\"a:e1\", \"b:e1\"]\naddresses = [\"10.0.1.1/24\", \"10.0.1.2/24\"]\nimpair = {impair1}\n"
        ));
    }
    text
}

/// A lab brought up from a topology file in a throwaway host.
struct Lab {
    host: Throwaway,
    file: TempTopology,
}

impl Lab {
    fn up(test: &str, text: &str) -> Lab {
        let host = Throwaway::new();
        let file = TempTopology::new(test, text);
        host.up(&file.path);
        let lab = Lab { host, file };
        // A veth's carrier comes on a moment after both ends are up (the kernel's link
        // watch runs up to a second later), and only then do frames cross. Then the
        // neighbours are resolved before a test measures: the first ping waits for ARP.
        lab.warm();
        lab
    }

    /// Waits for a:e0's carrier, then pings b five times (the same pings every time: with
    /// a seed, the same traffic meets the same fate).
    fn warm(&self) {
        let start = Instant::now();
        while self.run("a", "ip -br link show e0").contains("NO-CARRIER") {
            assert!(start.elapsed() < Duration::from_secs(5), "a:e0 has no carrier");
            std::thread::sleep(Duration::from_millis(50));
        }
        let warm = self.run("a", "ping -c 5 -i 0.1 -W 1 -q 10.0.0.2");
        assert!(!warm.contains(" 0 received"), "a does not reach b: {warm}");
    }

    fn netlab(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec![args[0], self.file.path.as_str()];
        all.extend(&args[1..]);
        self.host.netlab(&all)
    }

    /// `netlab COMMAND FILE ARGS...`, which must exit 0; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.netlab(args);
        assert!(
            out.status.success(),
            "netlab {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `netlab impair FILE ARGS... --format json`: its report.
    fn impair(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["impair"];
        all.extend(args);
        all.extend(["--format", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Runs a script in a node; its stdout, whatever the exit status.
    fn run(&self, node: &str, script: &str) -> String {
        String::from_utf8_lossy(&self.host.in_netns(node, script).stdout).into_owned()
    }

    /// `ping ARGS` from a to `to`; the summary's (transmitted, received, avg, mdev). It
    /// runs at a high priority: preempted between taking the time and sending, ping counts
    /// the wait as delay (outliers of milliseconds on two busy cores).
    fn ping_to(&self, to: &str, args: &str) -> (u32, u32, f64, f64) {
        let out = self.run("a", &format!("nice -n -10 ping -q {args} {to}"));
        let counts = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or_else(|| panic!("{out}"));
        let n: Vec<u32> = counts.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
        let rtt = out.lines().find(|l| l.starts_with("rtt")).map(|l| {
            let v: Vec<f64> = l
                .split("= ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .split('/')
                .map(|x| x.parse().unwrap())
                .collect();
            (v[1], v[3])
        });
        let (avg, mdev) = rtt.unwrap_or((f64::NAN, f64::NAN));
        (n[0], n[1], avg, mdev)
    }

    fn ping(&self, args: &str) -> (u32, u32, f64, f64) {
        self.ping_to("10.0.0.2", args)
    }

    /// The icmp_seq numbers of 2000 pings at 5 ms that got no reply.
    fn lost_pings(&self) -> Vec<u32> {
        let out = self.run("a", "ping -c 2000 -i 0.005 -W 1 10.0.0.2");
        let mut answered = vec![false; 2001];
        for seq in out.lines().filter_map(|l| l.split("icmp_seq=").nth(1)) {
            answered[seq.split_whitespace().next().unwrap().parse::<usize>().unwrap()] = true;
        }
        (1..=2000).filter(|&s| !answered[s as usize]).collect()
    }

    /// iperf3 TCP from a to `to` for `secs`; what b received, in bit/s.
    fn iperf(&self, to: &str, secs: u32) -> f64 {
        self.host.sh_ok("ip netns exec b iperf3 -s -1 -D -I /run/iperf3.pid && sleep 0.3");
        let out = self.run("a", &format!("iperf3 -c {to} -t {secs} -J"));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        json["end"]["sum_received"]["bits_per_second"].as_f64().unwrap_or_else(|| panic!("{out}"))
    }

    /// `ping ARGS` from a while tcpdump captures FILTER on b's e0; ping's output, and the
    /// lines `tcpdump -r` prints of the capture with READ_ARGS.
    fn ping_captured(&self, ping: &str, filter: &str, read_args: &str) -> (String, Vec<String>) {
        let script = format!(
            "ip netns exec b tcpdump -i e0 -n --immediate-mode -U -w /run/b.pcap '{filter}' 2>/run/tcpdump.err & dump=$!
             for i in $(seq 100); do grep -q listening /run/tcpdump.err && break; sleep 0.05; done
             ip netns exec a ping {ping} 10.0.0.2 >/run/ping.out; sleep 0.3; kill -INT $dump; wait $dump
             cat /run/ping.out; echo ==; tcpdump -r /run/b.pcap -n {read_args} 2>/dev/null"
        );
        let out = self.host.sh_ok(&script);
        let (ping, dump) = out.split_once("==\n").unwrap();
        (ping.to_owned(), dump.lines().map(str::to_owned).collect())
    }

    /// `netlab status --format json`.
    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--format", "json"])).unwrap()
    }

    /// The relay's counters for the frames a:e0 sends and b:e0 sends, after its next
    /// stats write.
    fn counters(&self) -> (serde_json::Value, serde_json::Value) {
        std::thread::sleep(Duration::from_millis(1100));
        let status = self.status();
        let of = |from: &str| {
            status["impairments"].as_array().unwrap().iter().find(|i| i["from"] == from).unwrap()["counters"].clone()
        };
        (of("a:e0"), of("b:e0"))
    }

    fn down(self) {
        self.host.down_and_check(&self.file.path);
    }
}

#[test]
fn delay_from_the_file_and_at_run_time_adds_up_and_jitter_shows_as_mdev() {
    if skip_unless_root("delay_from_the_file_and_at_run_time_adds_up_and_jitter_shows_as_mdev") {
        return;
    }
    let _serial = serial();
    // Different delays each way: the round trip is their sum.
    let lab = Lab::up("delay", &pair("[{ delay = \"6ms\", mode = \"userspace\" }, { delay = \"4ms\" }]", ""));
    let (sent, got, avg, mdev) = lab.ping("-c 20 -i 0.02");
    assert_eq!(sent, got);
    assert!((avg - 10.0).abs() <= 1.0 && mdev < 2.0, "10 ms from the file: avg {avg} mdev {mdev}");
    for (each_way, pings) in [("25ms", "-c 10 -i 0.05"), ("100ms", "-c 5 -i 0.2")] {
        lab.impair(&["a:e0", "--delay", each_way, "--both"]);
        let ms = 2.0 * each_way.trim_end_matches("ms").parse::<f64>().unwrap();
        let (sent, got, avg, mdev) = lab.ping(pings);
        assert_eq!(sent, got);
        assert!((avg - ms).abs() <= ms * 0.1, "{ms} ms of delay: ping's average RTT is {avg} ms");
        assert!(mdev < 2.0, "no jitter set, mdev {mdev}");
    }
    // 25 ms +/- 10 ms uniform each way: each way's sd is 10/sqrt(3), the sum's 8.2 ms.
    lab.impair(&["a:e0", "--delay", "25ms", "--jitter", "10ms", "--both"]);
    let (_, _, avg, mdev) = lab.ping("-c 60 -i 0.02");
    assert!((avg - 50.0).abs() < 5.0 && (4.0..13.0).contains(&mdev), "uniform jitter: avg {avg} mdev {mdev}");
    lab.impair(&["a:e0", "--delay", "50ms", "--jitter", "10ms", "--distribution", "normal"]);
    lab.impair(&["b:e0", "--clear"]);
    let (_, _, avg, mdev) = lab.ping("-c 60 -i 0.02");
    assert!((avg - 50.0).abs() < 5.0 && (6.0..14.0).contains(&mdev), "normal jitter: avg {avg} mdev {mdev}");
    lab.down();
}

#[test]
fn loss_on_one_end_is_binomial_and_a_seed_loses_the_same_pings_on_every_run() {
    if skip_unless_root("loss_on_one_end_is_binomial_and_a_seed_loses_the_same_pings_on_every_run") {
        return;
    }
    let _serial = serial();
    let binomial = |percent: f64, lost: &[u32]| {
        let (n, p) = (2000.0, percent / 100.0);
        let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
        let k = lost.len() as f64;
        assert!((k - mean).abs() <= 4.5 * sd, "{percent}% loss: {k} of 2000 pings lost");
    };
    // Frames on kernel timers cross the lossy direction between the pings (IPv6 router
    // solicitations, MLD reports, ARP answers when b asks again): with each frame's fate
    // keyed by what it is, they change nothing below.
    let text = pair("[{ loss = \"10%\", seed = 7 }, {}]", "");
    let lab = Lab::up("loss", &text);
    let first = lab.lost_pings();
    binomial(10.0, &first);
    let (from_a, from_b) = lab.counters();
    assert!(from_a["lost"].as_u64().unwrap() > 0 && from_b["lost"] == 0, "only a's frames are lost: {from_b}");
    // Another run of the same lab: down, up, the same pings lost.
    lab.ok(&["down"]);
    lab.ok(&["up"]);
    lab.warm();
    assert_eq!(lab.lost_pings(), first, "seed 7 lost other pings on the second run");
    // Another seed, put in force by up (the relay is told, not restarted): others.
    lab.file.rewrite(&text.replace("seed = 7", "seed = 8"));
    let changed = lab.ok(&["up"]);
    assert!(changed.contains("relay set") && !changed.contains("relay start"), "{changed}");
    let other = lab.lost_pings();
    binomial(10.0, &other);
    assert_ne!(other, first, "seed 8 lost the same pings as seed 7");
    for percent in ["1%", "50%"] {
        lab.impair(&["a:e0", "--loss", percent, "--seed", "7"]);
        binomial(percent.trim_end_matches('%').parse().unwrap(), &lab.lost_pings());
    }
    lab.down();
}

#[test]
fn a_rate_sets_tcp_throughput_in_userspace_and_in_the_kernel_and_clear_restores_line_rate() {
    if skip_unless_root("a_rate_sets_tcp_throughput_in_userspace_and_in_the_kernel_and_clear_restores_line_rate") {
        return;
    }
    let _serial = serial();
    // e0 is declared for the relay (`impair = {}`); e1's rate is the kernel's (tbf).
    let lab = Lab::up("rate", &pair("{}", "{ rate = \"10mbit\", limit = 50 }"));
    // A small queue at low rates (netem's default of 1000 frames is 12 s at 1 Mbit/s).
    for (mbit, limit) in [(1.0, "20"), (10.0, "100"), (100.0, "1000")] {
        lab.impair(&["a:e0", "--rate", &format!("{mbit}mbit"), "--limit", limit, "--both"]);
        let got = lab.iperf("10.0.0.2", 3) / 1e6;
        assert!((got - mbit).abs() <= mbit * 0.1, "relay at {mbit} Mbit/s: iperf3 measured {got:.2} Mbit/s");
    }
    let got = lab.iperf("10.0.1.2", 3) / 1e6;
    assert!((got - 10.0).abs() <= 1.0, "tbf at 10 Mbit/s: iperf3 measured {got:.2} Mbit/s");
    // netlab's tbf, as tc shows it: 10 Mbit/s, a burst of 5 ms of it, 50 frames of queue.
    let shown: serde_json::Value = serde_json::from_str(&lab.run("a", "tc -j qdisc show dev e1")).unwrap();
    let q = &shown[0];
    assert_eq!((q["kind"].as_str(), q["root"].as_bool()), (Some("tbf"), Some(true)), "{shown}");
    assert_eq!(q["options"]["rate"].as_u64(), Some(1_250_000), "{shown}");
    assert_eq!(q["options"]["burst"].as_u64(), Some(6250), "{shown}");
    assert_eq!(q["options"]["lat"].as_u64(), Some((50 * 1514 - 6250) * 1_000_000 / 1_250_000), "{shown}");
    // A loss on the kernel's link: nftables drops at b's ingress, numgen per frame.
    lab.impair(&["a:e1", "--rate", "10mbit", "--limit", "50", "--loss", "30%"]);
    let (sent, got, _, _) = lab.ping_to("10.0.1.2", "-c 1000 -i 0.002 -W 1");
    let lost = f64::from(sent - got);
    assert!((lost - 300.0).abs() <= 4.5 * 210f64.sqrt(), "30% of 1000 pings: {lost} lost");
    lab.impair(&["a:e0", "--clear", "--both"]);
    let free = lab.iperf("10.0.0.2", 2);
    assert!(free > 1e9, "cleared, the relay passes frames at veth speed: {free} bit/s");
    lab.down();
}

#[test]
fn duplicate_corrupt_and_reorder_show_in_tcpdump() {
    if skip_unless_root("duplicate_corrupt_and_reorder_show_in_tcpdump") {
        return;
    }
    let _serial = serial();
    let lab = Lab::up("mangle", &pair("[{ duplicate = \"30%\", seed = 3 }, {}]", ""));
    let echo = "icmp[icmptype] == icmp-echo";
    let (ping, seen) = lab.ping_captured("-q -c 200 -i 0.005", echo, "");
    // b answers every copy: ping counts the extra replies as duplicates.
    let dups: u64 = ping.split(" duplicates").next().unwrap().rsplit('+').next().unwrap().parse().unwrap();
    assert!((40..80).contains(&dups), "{dups} of 200 duplicated at 30%: {ping}");
    assert_eq!(seen.len() as u64, 200 + dups, "b saw every request and every copy");

    lab.impair(&["a:e0", "--corrupt", "20%", "--seed", "3"]);
    let (ping, seen) = lab.ping_captured("-q -c 200 -i 0.005 -W 1", "icmp", "-vv");
    let answered: u64 = ping.split(" received").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    let unanswered = 200 - answered;
    // 20% of 200 requests (and of what else a sent meanwhile: ARP, IPv6 ND and MLD).
    assert!((20..70).contains(&unanswered), "{unanswered} of 200 requests unanswered at 20% corruption: {ping}");
    // What tcpdump shows of the damage: checksums that do not add up. Every request it
    // shows with one went unanswered (the rest of the flips hit the Ethernet header).
    let bad = seen.iter().filter(|l| l.contains("wrong icmp cksum") || l.contains("bad cksum")).count() as u64;
    assert!(bad > 0 && bad <= unanswered, "tcpdump saw {bad} bad checksums, {unanswered} unanswered");

    // 50 ms of delay: a reordered request overtakes many even if ping falls behind its 2 ms.
    lab.impair(&["a:e0", "--delay", "50ms", "--reorder", "10%", "--seed", "3"]);
    let (_, seen) = lab.ping_captured("-q -c 300 -i 0.002", echo, "");
    let seqs: Vec<u32> =
        seen.iter().filter_map(|l| l.split(", seq ").nth(1)?.split(',').next()?.parse().ok()).collect();
    assert_eq!(seqs.len(), 300);
    // A request sent without its delay arrives before the ones sent just before it.
    let overtaking = seqs.windows(2).filter(|w| w[0] > w[1]).count();
    assert!((5..60).contains(&overtaking), "tcpdump saw {overtaking} of 300 out of order at 10% reorder");
    let (from_a, _) = lab.counters();
    assert!(from_a["reordered"].as_u64().unwrap() >= overtaking as u64, "{from_a}");
    lab.down();
}

#[test]
fn netlab_impair_is_in_force_at_once_touches_nothing_else_and_diff_and_up_see_it() {
    if skip_unless_root("netlab_impair_is_in_force_at_once_touches_nothing_else_and_diff_and_up_see_it") {
        return;
    }
    let _serial = serial();
    let lab = Lab::up("runtime", &pair("{ delay = \"5ms\", mode = \"userspace\" }", "{ rate = \"10mbit\" }"));
    assert!(lab.ok(&["diff"]).contains("in sync"));
    // The kernel's own settling first: IPv6 link-local addresses, and their local routes
    // once duplicate address detection is done.
    let start = Instant::now();
    while !lab.host.sh_ok("ip -n a -6 addr show tentative; ip -n b -6 addr show tentative").trim().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "DAD does not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = lab.host.state();
    let started = Instant::now();
    let report = lab.impair(&["a:e0", "--delay", "100ms", "--both"]);
    let wall = started.elapsed();
    let took = report["elapsed_ms"].as_u64().unwrap();
    eprintln!("netlab impair: {took} ms in the command, {wall:?} with the process's start");
    assert!(took < 50, "netlab impair took {took} ms");
    assert_eq!(report["ops"][0]["op"], "relay_set", "{report}");
    // The reply means it is in force: the very next ping is slow.
    let (_, _, slow, _) = lab.ping("-c 1");
    assert!(slow > 195.0, "the ping after the change took {slow} ms");
    assert_eq!(lab.host.state(), before, "netlab impair changed something else");

    // The file still says 5 ms: diff says so, status shows what is in force, up puts it back.
    let out = lab.netlab(&["diff"]);
    let diff = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{diff}");
    assert!(diff.contains("~ relay set") && diff.contains("kernel a-b delay=100ms, b-a delay=100ms"), "{diff}");
    let status = lab.status();
    let shown: Vec<(&str, &str)> = status["impairments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["from"].as_str().unwrap(), i["impairment"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shown,
        [("a:e0", "delay=100ms"), ("b:e0", "delay=100ms"), ("a:e1", "rate=10mbit"), ("b:e1", "rate=10mbit")]
    );
    // The kernel's link: a new rate in place of the file's, a loss as a drop.
    let report = lab.impair(&["a:e1", "--rate", "2mbit", "--loss", "5%"]);
    let ops: Vec<&str> = report["ops"].as_array().unwrap().iter().map(|o| o["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["qdisc_replace", "drop_set"]);
    let diff = String::from_utf8_lossy(&lab.netlab(&["diff"]).stdout).into_owned();
    assert!(diff.contains("~ qdisc replace") && diff.contains("- drop del"), "{diff}");
    // What only a relay can do, on the kernel's link: refused, nothing changed.
    let out = lab.netlab(&["impair", "a:e1", "--seed", "1", "--loss", "1%"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no relay") && err.contains("impair = {}"), "{err}");
    let up = lab.ok(&["up"]);
    assert!(up.contains("relay set") && up.contains("drop del") && !up.contains("relay start"), "{up}");
    assert!(lab.ok(&["diff"]).contains("in sync"));
    // (Not the 200 ms of before: the delay test measures the file's delays closely.)
    let (_, _, back, _) = lab.ping("-c 5 -i 0.05");
    assert!((9.5..13.0).contains(&back), "the file's 5 ms each way are back: {back} ms");
    lab.down();
}

#[test]
fn a_pulled_cable_times_out_and_keeps_both_ends_up_unlike_link_down() {
    if skip_unless_root("a_pulled_cable_times_out_and_keeps_both_ends_up_unlike_link_down") {
        return;
    }
    let _serial = serial();
    // e0 through a relay; e1 not impaired at all: its cable is the kernel's (nftables).
    let text = pair("{}", "{ mode = \"kernel\" }");
    let lab = Lab::up("cable", &text);
    for (end, peer) in [("a:e0", "10.0.0.2"), ("a:e1", "10.0.1.2")] {
        lab.ok(&["link", end, "cut"]);
        // Without a neighbour entry to trust: the first contact after the cable is pulled.
        lab.host.sh_ok("ip -n a neigh flush all");
        let out = lab.run("a", &format!("date +%s.%N; ping -D -c 6 -i 1 -W 1 {peer}; true"));
        let start: f64 = out.lines().next().unwrap().parse().unwrap();
        assert!(!out.contains(" bytes from "), "{end} cut: {out}");
        // Silence first (ARP is still trying, about 3 s), then "Destination Host Unreachable".
        let unreachable: Vec<f64> = out
            .lines()
            .filter(|l| l.contains("Destination Host Unreachable"))
            .map(|l| l[1..].split(']').next().unwrap().parse().unwrap())
            .collect();
        assert!(!unreachable.is_empty() && unreachable[0] - start > 2.5, "{end}: timeouts, then ARP gives up: {out}");
        // Both ends up with carrier, the route in place.
        let dev = end.split(':').nth(1).unwrap();
        let link = lab.run("a", &format!("ip -br link show {dev}"));
        assert!(link.contains("UP") && link.contains("LOWER_UP"), "{link}");
        assert!(lab.run("a", "ip route").contains(&format!("dev {dev}")));
        let diff = String::from_utf8_lossy(&lab.netlab(&["diff"]).stdout).into_owned();
        // The relay's link: its cable is not the file's; the kernel's: drops the file has not.
        assert!(diff.contains("carrier=false") || diff.contains("- drop del"), "diff shows the cut: {diff}");
        lab.ok(&["link", end, "up"]);
        assert!(lab.host.pings("a", peer), "{end}: the cable is back");
    }
    assert!(lab.ok(&["diff"]).contains("in sync"));
    // `link down`, by contrast: the ends go down, their routes with them, and a program
    // is told at once.
    lab.ok(&["link", "a:e0", "down"]);
    let t = Instant::now();
    let out = lab.host.in_netns("a", "ping -c 1 -W 2 10.0.0.2");
    assert!(t.elapsed() < Duration::from_secs(1), "link down answers at once");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Network is unreachable"), "{out:?}");
    assert!(!lab.run("a", "ip route").contains("dev e0"));
    lab.ok(&["link", "a:e0", "up"]);
    assert!(lab.host.pings("a", "10.0.0.2"));
    // carrier = false in the file: the same pulled cable, from up.
    lab.file.rewrite(&text.replace("impair = {}", "impair = { carrier = false }"));
    lab.ok(&["up"]);
    assert!(!lab.host.pings("a", "10.0.0.2"));
    lab.down();
}

#[test]
fn down_leaves_no_qdisc_table_relay_device_or_process() {
    if skip_unless_root("down_leaves_no_qdisc_table_relay_device_or_process") {
        return;
    }
    // A link to the host impaired by the kernel (its drop in the host's own nftables) and
    // one through a relay.
    let text = "[lab]\nname = \"leak\"\n[nodes.a]\n[nodes.b]\n\
                [[links]]\nendpoints = [\"a:e0\", \"host:leak0\"]\naddresses = [\"10.7.0.1/24\", \"10.7.0.2/24\"]\n\
                impair = { rate = \"5mbit\", loss = \"1%\" }\n\
                [[links]]\nendpoints = [\"a:e1\", \"b:e1\"]\nimpair = { delay = \"1ms\", seed = 1 }\n";
    let host = Throwaway::new();
    let file = TempTopology::new("leak", text);
    host.up(&file.path);
    assert!(host.sh_ok("nft list ruleset").contains("table netdev netlab-leak.leak0"));
    assert!(host.sh_ok("tc qdisc show").contains("tbf"));
    assert!(host.sh_ok("ps -e -o args").contains("relay --a"));
    host.down_and_check(&file.path);
    assert_eq!(host.sh_ok("nft list ruleset"), "", "down left an nftables table");
    let qdiscs = host.sh_ok("tc qdisc show");
    assert!(!qdiscs.contains("tbf") && !qdiscs.contains("netem"), "{qdiscs}");
}

#[test]
fn a_kernel_without_netem_is_refused_before_anything_is_made() {
    if skip_unless_root("a_kernel_without_netem_is_refused_before_anything_is_made") {
        return;
    }
    let host = Throwaway::new();
    if has_netem(&host) {
        eprintln!("skipping: this kernel has sch_netem (kernel_netem_delay_and_loss_through_netlab_up covers it)");
        return;
    }
    let file = TempTopology::new("nonetem", &pair("{ delay = \"10ms\", mode = \"kernel\" }", ""));
    let (_, err) = host.netlab_exits(1, &["up", &file.path]);
    assert!(err.contains("netem qdiscs (CONFIG_NET_SCH_NETEM)") && err.contains("nothing was changed"), "{err}");
    host.assert_empty();
    // In auto mode the same file is the relay's, and plan says why.
    let auto = TempTopology::new("autonetem", &pair("{ delay = \"10ms\" }", ""));
    let plan = host.netlab_ok(&["plan", &auto.path]);
    assert!(plan.contains("userspace, as this kernel has no netem (CONFIG_NET_SCH_NETEM) for delay"), "{plan}");
}

/// Whether this kernel makes a netem qdisc (tried on a veth of the throwaway `host`).
fn has_netem(host: &Throwaway) -> bool {
    let made =
        host.sh("ip link add q0 type veth peer name q1 && tc qdisc add dev q0 root netem delay 1ms").status.success();
    host.sh("ip link del q0");
    made
}

#[test]
fn kernel_netem_delay_and_loss_through_netlab_up() {
    if skip_unless_root("kernel_netem_delay_and_loss_through_netlab_up") {
        return;
    }
    if !has_netem(&Throwaway::new()) {
        eprintln!(
            "skipping: this kernel has no sch_netem (CONFIG_NET_SCH_NETEM); \
             a_kernel_without_netem_is_refused_before_anything_is_made covers what netlab does here"
        );
        return;
    }
    let _serial = serial();
    let lab =
        Lab::up("netem", &pair("[{ delay = \"30ms\", loss = \"10%\", mode = \"kernel\" }, { delay = \"20ms\" }]", ""));
    let shown = lab.run("a", "tc qdisc show dev e0");
    assert!(shown.contains("netem") && shown.contains("delay 30ms") && shown.contains("loss 10%"), "{shown}");
    let (sent, got, avg, _) = lab.ping("-c 200 -i 0.01 -W 1");
    assert!((avg - 50.0).abs() <= 5.0, "netem's 30 + 20 ms: avg {avg}");
    let lost = f64::from(sent - got);
    assert!((lost - 20.0).abs() <= 4.5 * 18f64.sqrt(), "10% of 200: {lost} lost");
    lab.impair(&["a:e0", "--delay", "5ms", "--both"]);
    let (_, _, avg, _) = lab.ping("-c 10 -i 0.02");
    assert!((avg - 10.0).abs() <= 1.0, "{avg}");
    assert_eq!(lab.netlab(&["diff"]).status.code(), Some(1));
    lab.ok(&["up"]);
    lab.down();
}

#[test]
fn a_relay_runs_in_an_unprivileged_lab() {
    if skip_unless_root("a_relay_runs_in_an_unprivileged_lab") {
        return;
    }
    let _serial = serial();
    let host = Throwaway::new();
    let file =
        TempTopology::new("userns", &pair("[{ delay = \"20ms\", mode = \"userspace\" }, { delay = \"10ms\" }]", ""));
    host.sh_ok(&format!("chmod -R a+rX {}", std::path::Path::new(&file.path).parent().unwrap().display()));
    // As `netlab run` runs a lab when not root: nobody, in a user namespace of its own,
    // with its own network and mount namespaces (the first ping, which waits for ARP
    // across the delays, is left out of the average).
    let netlab = common::NETLAB;
    let inner = format!(
        "set -e; mount -t tmpfs tmpfs /run; {netlab} up {f} >/dev/null
         ip netns exec a ping -c 1 -q 10.0.0.2 >/dev/null; ip netns exec a ping -c 3 -i 0.2 -q 10.0.0.2 | tail -1
         {netlab} impair {f} a:e0 --delay 50ms --both | tail -1
         ip netns exec a ping -c 3 -i 0.2 -q 10.0.0.2 | tail -1
         {netlab} down {f} >/dev/null; ls /run/netns",
        f = file.path
    );
    let out = host
        .command("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["unshare", "-r", "--net", "--mount", "sh", "-c", &inner])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let avgs: Vec<f64> =
        text.lines().filter(|l| l.starts_with("rtt")).map(|l| l.split('/').nth(4).unwrap().parse().unwrap()).collect();
    // Without CAP_SYS_NICE the relay cannot run before ordinary processes (as it does as
    // root): on a busy machine its wakeups come late, by milliseconds at a load of 9 on
    // two cores. What this shows is that the delays are in force, in a lab without root.
    let within = |avg: f64, ms: f64| (ms..ms + 15.0).contains(&avg);
    assert!(avgs.len() == 2 && within(avgs[0], 30.0) && within(avgs[1], 100.0), "{text}");
}

#[test]
fn a_relay_refuses_a_bad_change_and_is_started_again_when_it_died() {
    if skip_unless_root("a_relay_refuses_a_bad_change_and_is_started_again_when_it_died") {
        return;
    }
    // The control socket, reached through the throwaway host's /run.
    let lab = Lab::up("control", &pair("{ delay = \"1ms\", mode = \"userspace\" }", ""));
    let socket = lab.host.sh_ok("ls /run/netlab/imp/*.sock").trim().to_string();
    let socket = std::path::PathBuf::from(format!("/proc/{}/root{socket}", lab.host.init_pid()));
    for (bad, why) in [
        ("set sideways delay=1ms", "not a direction"),
        ("set a-b loss=200%", "more than 100%"),
        ("set both reorder=10%", "needs a delay"),
        ("hello", "not a request"),
    ] {
        let reply = control::request(&socket, bad).unwrap();
        assert!(!reply.ok && reply.error.as_deref().unwrap_or("").contains(why), "{bad}: {reply:?}");
    }
    let reply = control::request(&socket, "get").unwrap();
    assert_eq!((reply.a_to_b.as_str(), reply.b_to_a.as_str()), ("delay=1ms", "delay=1ms"));
    assert!(lab.ok(&["diff"]).contains("in sync"), "a refused change changes nothing");
    // A relay that died is drift: diff says so, status too, and up starts it again.
    lab.host.sh_ok("kill -9 $(head -n1 /run/netlab/imp/*.pid)");
    let out = lab.netlab(&["diff"]);
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("~ relay start") && diff.contains("(relay: file running, kernel not running)"), "{diff}");
    assert!(lab.ok(&["status"]).contains("relay NOT RUNNING"));
    assert!(lab.ok(&["up"]).contains("relay start"));
    assert!(lab.ok(&["diff"]).contains("in sync"));
    let (_, got, avg, _) = lab.ping("-c 3 -i 0.05");
    assert!(got == 3 && avg > 2.0, "the relay is back, with its 1 ms each way: {avg}");
    lab.down();
}
