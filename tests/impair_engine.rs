//! The impairment engines, live: nodes A and B joined through a relay node W
//! (`A:e0 <-> W:wa`, `B:e0 <-> W:wb`, `netlab relay --a wa --b wb` in W), built by hand
//! with `ip` in a throwaway host, then what real clients see: ping's RTT and loss,
//! iperf3's throughput, tcpdump's counts, a pulled cable, a change while traffic runs.
//! Also the kernel path where this kernel has one: tbf (rate) applied with netlab's own
//! encoding, and nftables netdev drops (loss, carrier).
//!
//! Timing tests take a shared lock, so they run one at a time on a small machine.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{skip_unless_root, Throwaway, NETLAB};
use netlab::impair::relay::control::{self, Direction};
use netlab::impair::relay::{read_stats, RelayStats};
use netlab::impair::Impairment;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The script that builds A, B and W: W's ends carry no address and no IPv6, so nothing
/// but A's and B's frames crosses the relay.
const BUILD: &str = "for n in A B W; do ip netns add $n && ip -n $n link set lo up || exit 1; done
ip link add e0 netns A type veth peer name wa netns W
ip link add e0 netns B type veth peer name wb netns W
ip netns exec W sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n W link set dev wa up && ip -n W link set dev wb up
ip -n A addr add 10.0.0.1/24 dev e0 && ip -n B addr add 10.0.0.2/24 dev e0
ip -n A link set e0 up && ip -n B link set e0 up";

/// A and B through a relay, in a throwaway host.
struct Lab {
    host: Throwaway,
    dir: PathBuf,
    relay: Child,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let host = Throwaway::new();
        host.sh_ok(BUILD);
        let dir = std::env::temp_dir().join(format!("netlab-impair-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = host.command("ip");
        cmd.args(["netns", "exec", "W", NETLAB, "relay", "--a", "wa", "--b", "wb", "--stats"]);
        cmd.arg(dir.join("stats.json")).arg("--control").arg(dir.join("control.sock"));
        let relay = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("start netlab relay");
        let lab = Lab { host, dir, relay };
        wait_for("the relay to start", || lab.control().exists() && read_stats(&lab.stats_path()).is_ok());
        // ARP resolved before any impairment: tests start from a link in use.
        assert!(lab.host.pings("A", "10.0.0.2"), "A reaches B through the relay");
        lab
    }

    fn control(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    fn stats_path(&self) -> PathBuf {
        self.dir.join("stats.json")
    }

    /// The stats after the relay's next write.
    fn stats(&self) -> RelayStats {
        let before = read_stats(&self.stats_path()).unwrap().updated;
        wait_for("a stats write", || read_stats(&self.stats_path()).is_ok_and(|s| s.updated > before));
        read_stats(&self.stats_path()).unwrap()
    }

    fn set(&self, direction: Direction, imp: &str) {
        let imp: Impairment = imp.parse().unwrap();
        control::set(&self.control(), direction, &imp).unwrap_or_else(|e| panic!("set {imp}: {e}"));
    }

    /// Runs a script in a node; its stdout, whatever the exit status.
    fn run(&self, node: &str, script: &str) -> String {
        String::from_utf8_lossy(&self.host.in_netns(node, script).stdout).into_owned()
    }

    /// `ping` from A to B; the summary's (transmitted, received, avg, mdev). ping takes
    /// the send time before it sends: preempted in between on a busy machine, it reports
    /// the time it waited as delay (6 ms outliers at load 7 on two cores), so it runs at
    /// the relay's priority.
    fn ping(&self, args: &str) -> (u32, u32, f64, f64) {
        let out = self.run("A", &format!("nice -n -10 ping -q {args} 10.0.0.2"));
        let counts = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or_else(|| panic!("{out}"));
        let n: Vec<u32> = counts.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
        // "rtt min/avg/max/mdev = 0.1/0.2/0.3/0.04 ms" (then ", ipg/ewma ..." below 200 ms).
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

    /// The icmp_seq numbers of 2000 pings at 5 ms that got no reply.
    fn lost_pings(&self) -> Vec<u32> {
        let out = self.run("A", "ping -c 2000 -i 0.005 -W 1 10.0.0.2");
        let mut answered = vec![false; 2001];
        for seq in out.lines().filter_map(|l| l.split("icmp_seq=").nth(1)) {
            let seq: usize = seq.split_whitespace().next().unwrap().parse().unwrap();
            answered[seq] = true;
        }
        (1..=2000).filter(|&s| !answered[s as usize]).collect()
    }

    /// iperf3 TCP from A to B for `secs`; what B received, in bit/s.
    fn iperf(&self, secs: u32) -> f64 {
        self.host.sh_ok("ip netns exec B iperf3 -s -1 -D -I /run/iperf3.pid && sleep 0.3");
        let out = self.run("A", &format!("iperf3 -c 10.0.0.2 -t {secs} -J"));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        json["end"]["sum_received"]["bits_per_second"].as_f64().unwrap_or_else(|| panic!("{out}"))
    }

    /// `ping ARGS` from A to B while tcpdump captures FILTER on B's e0; ping's output, and
    /// the lines `tcpdump -r` prints of the capture with READ_ARGS.
    fn ping_captured(&self, ping: &str, filter: &str, read_args: &str) -> (String, Vec<String>) {
        let script = format!(
            "ip netns exec B tcpdump -i e0 -n --immediate-mode -U -w /run/b.pcap '{filter}' 2>/run/tcpdump.err & dump=$!
             for i in $(seq 100); do grep -q listening /run/tcpdump.err && break; sleep 0.05; done
             ip netns exec A ping {ping} 10.0.0.2 >/run/ping.out; sleep 0.3; kill -INT $dump; wait $dump
             cat /run/ping.out; echo ==; tcpdump -r /run/b.pcap -n {read_args} 2>/dev/null"
        );
        let out = self.host.sh_ok(&script);
        let (ping, dump) = out.split_once("==\n").unwrap();
        // (--immediate-mode: without it, frames still in tcpdump's ring when it is
        // stopped are counted "received by filter" but never written.)
        (ping.to_owned(), dump.lines().map(str::to_owned).collect())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.relay.kill();
        let _ = self.relay.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn delay_adds_up_over_both_directions_and_jitter_shows_as_mdev() {
    if skip_unless_root("delay_adds_up_over_both_directions_and_jitter_shows_as_mdev") {
        return;
    }
    let _serial = serial();
    let lab = Lab::new("delay");
    for (ms, pings) in [(10.0, "-c 20 -i 0.02"), (50.0, "-c 10 -i 0.05"), (200.0, "-c 5 -i 0.2")] {
        // Different delays each way: the round trip is their sum.
        lab.set(Direction::AToB, &format!("delay={}us", (ms * 600.0) as u64));
        lab.set(Direction::BToA, &format!("delay={}us", (ms * 400.0) as u64));
        let (sent, got, avg, mdev) = lab.ping(pings);
        assert_eq!(sent, got);
        assert!((avg - ms).abs() <= ms * 0.1, "{ms} ms of delay: ping's average RTT is {avg} ms");
        assert!(mdev < 2.0, "no jitter set, mdev {mdev}");
    }
    // 50 ms +/- 10 ms uniform each way: each way's sd is 10/sqrt(3), the sum's 8.2 ms.
    lab.set(Direction::Both, "delay=25ms,jitter=10ms");
    let (_, _, avg, mdev) = lab.ping("-c 60 -i 0.02");
    assert!((avg - 50.0).abs() < 5.0 && (4.0..13.0).contains(&mdev), "uniform jitter: avg {avg} mdev {mdev}");
    lab.set(Direction::BToA, "none");
    lab.set(Direction::AToB, "delay=50ms,jitter=10ms,distribution=normal");
    let (_, _, avg, mdev) = lab.ping("-c 60 -i 0.02");
    assert!((avg - 50.0).abs() < 5.0 && (6.0..14.0).contains(&mdev), "normal jitter: avg {avg} mdev {mdev}");
}

#[test]
fn loss_on_one_direction_is_binomial_and_the_same_seed_loses_the_same_pings() {
    if skip_unless_root("loss_on_one_direction_is_binomial_and_the_same_seed_loses_the_same_pings") {
        return;
    }
    let _serial = serial();
    let lab = Lab::new("loss");
    // Frames on kernel timers cross the lossy direction between the pings: A's IPv6
    // router solicitations and MLD reports after the lab came up, and A's ARP answers when
    // B's neighbour entry for A expires (15 to 45 s) and B asks again. With fates keyed by
    // frame they change nothing below.
    let mut first = Vec::new();
    for (percent, seed) in [(1.0, 7), (10.0, 7), (50.0, 7), (10.0, 7), (10.0, 8)] {
        lab.set(Direction::AToB, &format!("loss={percent}%,seed={seed}"));
        let lost = lab.lost_pings();
        let (n, p): (f64, f64) = (2000.0, percent / 100.0);
        let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
        let k = lost.len() as f64;
        assert!((k - mean).abs() <= 4.5 * sd, "{percent}% loss: {k} of 2000 pings lost");
        if percent == 10.0 {
            first.push((seed, lost));
        }
    }
    let stats = lab.stats();
    assert_eq!(stats.b_to_a.tally.lost, 0, "only a to b was impaired");
    assert_eq!(first[0].1, first[1].1, "seed 7 lost the same icmp_seq numbers twice");
    assert_ne!(first[0].1, first[2].1, "seed 8 lost others");
}

#[test]
fn rate_sets_tcp_throughput() {
    if skip_unless_root("rate_sets_tcp_throughput") {
        return;
    }
    let _serial = serial();
    let lab = Lab::new("rate");
    // A small queue at low rates (netem's default of 1000 frames is 12 s at 1 Mbit/s).
    for (mbit, limit) in [(1.0, 20), (10.0, 100), (100.0, 1000)] {
        lab.set(Direction::Both, &format!("rate={mbit}mbit,limit={limit}"));
        let got = lab.iperf(3) / 1e6;
        assert!((got - mbit).abs() <= mbit * 0.1, "rate {mbit} Mbit/s: iperf3 measured {got:.2} Mbit/s");
    }
}

#[test]
fn duplicate_corrupt_and_reorder_show_in_tcpdump() {
    if skip_unless_root("duplicate_corrupt_and_reorder_show_in_tcpdump") {
        return;
    }
    let _serial = serial();
    let lab = Lab::new("mangle");
    let echo = "icmp[icmptype] == icmp-echo";

    lab.set(Direction::AToB, "duplicate=30%,seed=3");
    let (ping, seen) = lab.ping_captured("-q -c 200 -i 0.005", echo, "");
    // B answers every copy: ping counts the extra replies as duplicates.
    let dups: u64 = ping.split(" duplicates").next().unwrap().rsplit('+').next().unwrap().parse().unwrap();
    assert!((40..80).contains(&dups), "{dups} of 200 duplicated at 30%: {ping}");
    assert_eq!(seen.len() as u64, 200 + dups, "B saw every request and every copy");
    assert!(lab.stats().a_to_b.tally.duplicated >= dups);

    lab.set(Direction::AToB, "corrupt=20%,seed=3");
    let before = lab.stats().a_to_b.tally.corrupted;
    let (ping, seen) = lab.ping_captured("-q -c 200 -i 0.005 -W 1", "icmp", "-vv");
    let corrupted = lab.stats().a_to_b.tally.corrupted - before;
    let answered: u64 = ping.split(" received").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    let unanswered = 200 - answered;
    // 20% of 200 requests (and of what else A sent meanwhile: ARP, IPv6 ND and MLD).
    assert!((20..70).contains(&unanswered), "{unanswered} of 200 requests unanswered at 20% corruption: {ping}");
    assert!(corrupted >= unanswered, "{corrupted} corrupted, {unanswered} unanswered");
    // What tcpdump shows of the damage: checksums that do not add up. Every request it
    // shows with one went unanswered (the rest of the flips hit the Ethernet header).
    let bad = seen.iter().filter(|l| l.contains("wrong icmp cksum") || l.contains("bad cksum")).count() as u64;
    assert!(bad > 0 && bad <= unanswered, "tcpdump saw {bad} bad checksums, {unanswered} unanswered");

    // 50 ms of delay: a reordered request overtakes many even if ping falls behind its 2 ms.
    lab.set(Direction::AToB, "delay=50ms,reorder=10%,seed=3");
    let before = lab.stats().a_to_b.tally.reordered;
    let (_, seen) = lab.ping_captured("-q -c 300 -i 0.002", echo, "");
    let reordered = lab.stats().a_to_b.tally.reordered - before;
    let seqs: Vec<u32> =
        seen.iter().filter_map(|l| l.split(", seq ").nth(1)?.split(',').next()?.parse().ok()).collect();
    assert_eq!(seqs.len(), 300);
    // A request sent without its delay arrives before the ones sent just before it.
    let overtaking = seqs.windows(2).filter(|w| w[0] > w[1]).count() as u64;
    assert!((15..50).contains(&reordered), "{reordered} of 300 reordered at 10%");
    assert!(overtaking > 0 && overtaking <= reordered, "tcpdump saw {overtaking} out of order, {reordered} reordered");
}

#[test]
fn a_pulled_cable_times_out_then_arp_gives_up_while_the_link_stays_up() {
    if skip_unless_root("a_pulled_cable_times_out_then_arp_gives_up_while_the_link_stays_up") {
        return;
    }
    let _serial = serial();
    let lab = Lab::new("carrier");
    lab.set(Direction::Both, "carrier=false");
    // Without a neighbour entry to trust: the first contact after the cable is pulled.
    lab.host.sh_ok("ip -n A neigh flush dev e0");
    let out = lab.run("A", "date +%s.%N; ping -D -c 6 -i 1 -W 1 10.0.0.2; true");
    let start: f64 = out.lines().next().unwrap().parse().unwrap();
    assert!(!out.contains(" bytes from "), "{out}");
    // Silence first (ARP is still trying, about 3 s), then "Destination Host Unreachable".
    let unreachable: Vec<f64> = out
        .lines()
        .filter(|l| l.contains("Destination Host Unreachable"))
        .map(|l| l[1..].split(']').next().unwrap().parse().unwrap())
        .collect();
    assert!(!unreachable.is_empty(), "ARP gives up: {out}");
    assert!(unreachable[0] - start > 2.5, "timeouts before ARP gives up: {out}");
    // Unlike `link down`: both ends are up with carrier, the route stays.
    let link = lab.run("A", "ip -br link show e0");
    assert!(link.contains("UP") && link.contains("LOWER_UP"), "{link}");
    assert!(lab.run("A", "ip route").contains("10.0.0.0/24 dev e0"));
    assert!(lab.stats().a_to_b.tally.no_carrier > 0);
    lab.set(Direction::Both, "none");
    assert!(lab.host.pings("A", "10.0.0.2"), "the cable is back");
}

#[test]
fn a_change_is_in_force_within_50ms_and_clearing_restores_line_rate() {
    if skip_unless_root("a_change_is_in_force_within_50ms_and_clearing_restores_line_rate") {
        return;
    }
    let _serial = serial();
    let lab = Lab::new("change");
    lab.set(Direction::Both, "delay=100ms");
    let (_, _, slow, _) = lab.ping("-c 2 -i 0.2");
    assert!(slow > 180.0, "{slow}");
    let start = Instant::now();
    let reply = control::set(&lab.control(), Direction::Both, &Impairment::default()).unwrap();
    let took = start.elapsed();
    assert_eq!((reply.a_to_b.as_str(), reply.b_to_a.as_str()), ("none", "none"));
    assert!(took < Duration::from_millis(50), "the change took {took:?}");
    // The reply means it is in force: the very next ping is fast.
    let (_, _, fast, _) = lab.ping("-c 1");
    assert!(fast < 5.0, "the ping after the change took {fast} ms");

    // What the relay refuses changes nothing.
    for (bad, why) in [
        ("set sideways delay=1ms", "not a direction"),
        ("set a-b loss=200%", "more than 100%"),
        ("hello", "not a request"),
    ] {
        let reply = control::request(&lab.control(), bad).unwrap();
        assert!(!reply.ok && reply.error.as_deref().unwrap_or("").contains(why), "{bad}: {reply:?}");
    }
    assert_eq!(control::request(&lab.control(), "get").unwrap().a_to_b, "none");

    lab.set(Direction::Both, "rate=10mbit,limit=100");
    let limited = lab.iperf(2);
    assert!(limited < 11e6, "{limited}");
    lab.set(Direction::Both, "none");
    let free = lab.iperf(2);
    assert!(free > 1e9, "cleared, the link is back to veth speed: {free} bit/s");
}

#[test]
fn the_relay_runs_in_an_unprivileged_user_namespace() {
    if skip_unless_root("the_relay_runs_in_an_unprivileged_user_namespace") {
        return;
    }
    let _serial = serial();
    let host = Throwaway::new();
    // As `netlab run` will run a lab when not root: nobody, in a user namespace of its
    // own with its own network and mount namespaces. (The first ping, which waits for
    // ARP across the delays, is left out of the average.)
    let inner = format!(
        "set -e; mount -t tmpfs tmpfs /run; mkdir /run/netns; {BUILD}
         ip netns exec W {NETLAB} relay --a wa --b wb --a-to-b delay=20ms --b-to-a delay=10ms 2>/run/relay.err &
         relay=$!; sleep 0.5
         ip netns exec A ping -c 1 -q 10.0.0.2 >/dev/null; ip netns exec A ping -c 3 -i 0.2 -q 10.0.0.2 | tail -1; kill $relay; wait $relay || true; cat /run/relay.err"
    );
    let out = host
        .command("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["unshare", "-r", "--net", "--mount", "sh", "-c", &inner])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let rtt = text.lines().find(|l| l.starts_with("rtt")).unwrap_or_else(|| panic!("{text}"));
    let avg: f64 = rtt.split('/').nth(4).unwrap().parse().unwrap();
    assert!((avg - 30.0).abs() < 3.0, "{rtt}");
}

/// Sends one rtnetlink request in the network namespace at `netns` and waits for the ack,
/// from a thread made for the purpose (entering a namespace changes the calling thread).
fn rtnetlink(netns: &Path, msg: netlink_packet_route::RouteNetlinkMessage, flags: u16) -> std::io::Result<()> {
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
    let path = netns.to_owned();
    std::thread::spawn(move || {
        nix::sched::setns(std::fs::File::open(&path)?, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
        socket.bind_auto()?;
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        req.header.sequence_number = 1;
        req.finalize();
        let mut buf = vec![0; req.buffer_len()];
        req.serialize(&mut buf);
        socket.send(&buf, 0)?;
        let mut rx = Vec::with_capacity(8192);
        socket.recv(&mut rx, 0)?;
        let reply = NetlinkMessage::<netlink_packet_route::RouteNetlinkMessage>::deserialize(&rx)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        match reply.payload {
            NetlinkPayload::Error(e) if e.code.is_some() => Err(e.to_io()),
            _ => Ok(()),
        }
    })
    .join()
    .unwrap()
}

/// A throwaway host with nodes A and B joined by a veth (A:e0 10.0.0.1, B:e0 10.0.0.2);
/// the path of A's namespace and the index of A:e0.
fn veth_pair() -> (Throwaway, PathBuf, u32) {
    let host = Throwaway::new();
    host.sh_ok(
        "for n in A B; do ip netns add $n; done; ip link add e0 netns A type veth peer name e0 netns B
        ip -n A addr add 10.0.0.1/24 dev e0 && ip -n B addr add 10.0.0.2/24 dev e0
        ip -n A link set e0 up && ip -n B link set e0 up && ip netns exec A ping -c1 -q 10.0.0.2 >/dev/null",
    );
    let netns = PathBuf::from(format!("/proc/{}/root/run/netns/A", host.init_pid()));
    let index = String::from_utf8_lossy(&host.in_netns("A", "cat /sys/class/net/e0/ifindex").stdout).trim().parse();
    (host, netns, index.unwrap())
}

#[test]
fn kernel_path_tbf_from_netlabs_encoding_limits_the_rate() {
    if skip_unless_root("kernel_path_tbf_from_netlabs_encoding_limits_the_rate") {
        return;
    }
    let _serial = serial();
    use netlab::impair::netem::{request, Qdisc, Tbf, Verb};
    let (host, netns, ifindex) = veth_pair();
    let tbf = Qdisc::Tbf(Tbf::for_rate(10_000_000, Some(50)));
    let (msg, flags) = request(Verb::Add, ifindex, Some(&tbf));
    rtnetlink(&netns, msg, flags).expect("tbf accepted");
    let shown: serde_json::Value =
        serde_json::from_slice(&host.in_netns("A", "tc -j qdisc show dev e0").stdout).unwrap();
    let q = &shown[0];
    assert_eq!(q["kind"], "tbf", "{shown}");
    assert_eq!(q["root"], true);
    assert_eq!(q["options"]["rate"].as_u64(), Some(1_250_000), "{shown}");
    // 5 ms at the rate; tc shows the limit of 50 frames as the time it drains in.
    assert_eq!(q["options"]["burst"].as_u64(), Some(6250), "{shown}");
    assert_eq!(q["options"]["lat"].as_u64(), Some((50 * 1514 - 6250) * 1_000_000 / 1_250_000), "{shown}");
    host.sh_ok("ip netns exec B iperf3 -s -1 -D && sleep 0.3");
    let out = String::from_utf8_lossy(&host.in_netns("A", "iperf3 -c 10.0.0.2 -t 2 -J").stdout).into_owned();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got = json["end"]["sum_received"]["bits_per_second"].as_f64().unwrap() / 1e6;
    assert!((got - 10.0).abs() <= 1.0, "tbf at 10 Mbit/s: {got:.2} Mbit/s");
    let (msg, flags) = request(Verb::Delete, ifindex, None);
    rtnetlink(&netns, msg, flags).expect("tbf deleted");
    assert!(!String::from_utf8_lossy(&host.in_netns("A", "tc qdisc show dev e0").stdout).contains("tbf"));
}

#[test]
fn kernel_path_nftables_drops_at_the_peers_ingress() {
    if skip_unless_root("kernel_path_nftables_drops_at_the_peers_ingress") {
        return;
    }
    let _serial = serial();
    let (host, _, _) = veth_pair();
    host.sh_ok(
        "ip netns exec B nft add table netdev impair
        ip netns exec B nft 'add chain netdev impair in { type filter hook ingress device e0 priority 0; }'",
    );
    // Loss of A's frames as B receives them: numgen per frame.
    host.sh_ok("ip netns exec B nft add rule netdev impair in numgen random mod 100 '<' 30 drop");
    let out =
        String::from_utf8_lossy(&host.in_netns("A", "ping -c 1000 -i 0.002 -q -W 1 10.0.0.2").stdout).into_owned();
    let received: f64 = out.split(" received").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    // 30% of 1000: sd 14.5.
    assert!((received - 700.0).abs() < 65.0, "{out}");
    // carrier = false: everything.
    host.sh_ok(
        "ip netns exec B nft flush chain netdev impair in && ip netns exec B nft add rule netdev impair in drop",
    );
    assert!(!host.pings("A", "10.0.0.2"));
    assert!(String::from_utf8_lossy(&host.in_netns("A", "ip -br link show e0").stdout).contains("LOWER_UP"));
}

#[test]
#[ignore = "this kernel has no sch_netem; run where one has (e.g. cargo test --test impair_engine -- --ignored)"]
fn kernel_path_netem_delay_and_loss() {
    if skip_unless_root("kernel_path_netem_delay_and_loss") {
        return;
    }
    use netlab::impair::netem::{request, Qdisc, Verb};
    let (host, netns, ifindex) = veth_pair();
    let netem = Qdisc::Netem("delay=50ms,jitter=5ms,distribution=normal,loss=10%,seed=7".parse().unwrap());
    let (msg, flags) = request(Verb::Add, ifindex, Some(&netem));
    rtnetlink(&netns, msg, flags).expect("netem accepted");
    let shown = String::from_utf8_lossy(&host.in_netns("A", "tc qdisc show dev e0").stdout).into_owned();
    assert!(shown.contains("delay 50ms  5ms") && shown.contains("loss 10%") && shown.contains("seed 7"), "{shown}");
    let out = String::from_utf8_lossy(&host.in_netns("A", "ping -c 200 -i 0.01 -q 10.0.0.2").stdout).into_owned();
    assert!(out.contains("rtt"), "{out}");
}
