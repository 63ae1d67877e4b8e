//! The encoder against what tc sent (tests/fixtures/tc/, see capture.sh there).

use netlink_packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_REQUEST};

use super::*;

/// A fixture's command and bytes.
fn fixture(name: &str) -> (String, Vec<u8>) {
    let path = format!("{}/tests/fixtures/tc/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let command = text.lines().find_map(|l| l.strip_prefix("# command: ")).expect("a # command: line").to_owned();
    let bytes = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    (command, bytes)
}

/// The request as it goes on the wire, with tc's sequence number and port id masked.
fn wire(verb: Verb, qdisc: Option<&Qdisc>) -> Vec<u8> {
    let (msg, flags) = request(verb, 1, qdisc);
    let mut nl = NetlinkMessage::from(msg);
    nl.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

/// nlmsg_seq and nlmsg_pid (bytes 8..16) differ per run; tcm_ifindex (20..24) is lo's.
fn masked(mut b: Vec<u8>) -> Vec<u8> {
    b[8..16].fill(0);
    b
}

fn assert_same(name: &str, ours: Vec<u8>) {
    let (command, theirs) = fixture(name);
    let (ours, theirs) = (masked(ours), masked(theirs));
    if ours != theirs {
        let first = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        panic!(
            "{name} (`{command}`): {} bytes against tc's {}, first difference at {first:?}\nours:   {:02x?}\ntheirs: {:02x?}",
            ours.len(),
            theirs.len(),
            &ours[..ours.len().min(160)],
            &theirs[..theirs.len().min(160)],
        );
    }
}

fn netem(text: &str) -> Qdisc {
    Qdisc::Netem(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")))
}

/// Each netem fixture and the impairment of its command.
const NETEM_FIXTURES: &[(&str, &str)] = &[
    ("netem-delay", "delay=20ms"),
    ("netem-delay-jitter", "delay=20ms,jitter=5ms"),
    ("netem-delay-jitter-normal", "delay=20ms,jitter=5ms,distribution=normal"),
    ("netem-delay-jitter-pareto", "delay=100ms,jitter=20ms,distribution=pareto"),
    ("netem-delay-jitter-paretonormal", "delay=50ms,jitter=10ms,distribution=paretonormal"),
    ("netem-loss", "loss=1%"),
    ("netem-loss-duplicate-corrupt", "loss=10%,duplicate=5%,corrupt=0.1%"),
    ("netem-reorder", "delay=10ms,reorder=25%"),
    ("netem-reorder-gap", "delay=10ms,reorder=25%,gap=5"),
    ("netem-rate", "rate=10mbit"),
    ("netem-rate64", "rate=40gbit"),
    ("netem-limit", "delay=200ms,limit=5000"),
    ("netem-seed", "loss=50%,seed=7"),
    (
        "netem-all",
        "delay=20ms,jitter=5ms,distribution=normal,loss=1.5%,duplicate=1%,corrupt=0.1%,reorder=10%,gap=3,\
         rate=100mbit,limit=2000,seed=42",
    ),
];

#[test]
fn netem_requests_are_tcs() {
    for (name, imp) in NETEM_FIXTURES {
        assert_same(name, wire(Verb::Add, Some(&netem(imp))));
    }
    assert_same("netem-replace", wire(Verb::Replace, Some(&netem("delay=5ms"))));
}

#[test]
fn tbf_requests_are_tcs() {
    let mbit = 1_000_000;
    assert_same("tbf-latency", wire(Verb::Add, Some(&Qdisc::Tbf(Tbf::with_latency(10 * mbit, 6250, 50_000)))));
    let limit = Tbf { rate: mbit, burst: 3028, limit: 100_000 };
    assert_same("tbf-limit", wire(Verb::Add, Some(&Qdisc::Tbf(limit))));
    let fast = Tbf::with_latency(40_000 * mbit, 25_000_000, 50_000);
    assert_same("tbf-rate64", wire(Verb::Add, Some(&Qdisc::Tbf(fast))));
    let replace = Tbf::with_latency(100 * mbit, 62_500, 50_000);
    assert_same("tbf-replace", wire(Verb::Replace, Some(&Qdisc::Tbf(replace))));
}

#[test]
fn delete_is_tcs() {
    assert_same("qdisc-del", wire(Verb::Delete, None));
}

#[test]
fn a_pulled_cable_is_total_loss_in_netem() {
    let cut = netem_options(&"carrier=false".parse().unwrap());
    let all = netem_options(&"loss=100%".parse().unwrap());
    assert_eq!(cut, all);
    assert_eq!(cut[8..12], u32::MAX.to_ne_bytes());
}

#[test]
fn netlabs_tbf_fits_frames_and_its_limit() {
    let slow = Tbf::for_rate(1_000_000, None);
    assert_eq!(slow.burst, 3028, "two full frames at least");
    assert_eq!(slow.limit, 6250 + 3028, "50 ms at 125000 B/s, plus the burst");
    let fast = Tbf::for_rate(1_000_000_000, Some(100));
    assert_eq!(fast.burst, 625_000, "5 ms at 125 MB/s");
    assert_eq!(fast.limit, 151_400, "100 full frames");
}

#[test]
fn the_tc_words_are_the_fixtures_commands() {
    for (name, imp) in NETEM_FIXTURES {
        let (command, _) = fixture(name);
        assert_eq!(format!("tc qdisc add dev lo root {}", netem(imp).tc_args()), command, "{name}");
    }
    let (command, _) = fixture("tbf-limit");
    let tbf = Qdisc::Tbf(Tbf { rate: 1_000_000, burst: 3028, limit: 100_000 });
    assert_eq!(format!("tc qdisc add dev lo root {}", tbf.tc_args()), command);
}

#[test]
fn what_the_kernel_dumps_reads_back_as_what_was_asked() {
    // netem dumps its options in the layout it is given them in: the qopt struct, then
    // attributes (see netem_dump in the kernel).
    for imp in [
        "delay=20ms",
        "delay=20ms,jitter=5ms,loss=1.5%,duplicate=1%,corrupt=0.1%,reorder=10%,gap=3,rate=100mbit,limit=2000",
        "delay=10ms,reorder=25%",
        "rate=40gbit",
        "loss=0.000001%",
    ] {
        let asked: Impairment = imp.parse().unwrap();
        let (kind, read) = read("netem", &netem_options(&asked)).unwrap();
        assert_eq!((kind, read), (QdiscKind::Netem, asked), "{imp}");
    }
    // What netem cannot show: the distribution; the seed is not asked of the kernel.
    let (_, read_back) =
        read("netem", &netem_options(&"delay=5ms,jitter=1ms,distribution=pareto".parse().unwrap())).unwrap();
    assert_eq!(read_back, "delay=5ms,jitter=1ms".parse().unwrap());
    // tbf dumps a nest like the one it is given (PARMS, RATE64; the rate table is not
    // dumped, which changes nothing here).
    for (rate, limit) in [(10_000_000, None), (1_000_000, Some(20)), (40_000_000_000, Some(100))] {
        let t = Tbf::for_rate(rate, limit);
        let want = Impairment { rate: Some(rate), limit, ..Impairment::default() };
        assert_eq!(read("tbf", &Qdisc::Tbf(t).options()), Some((QdiscKind::Tbf, want)));
    }
    assert_eq!(read("htb", &[]), None, "not a kind netlab makes");
    assert_eq!(read("netem", &[1, 2, 3]), None, "too short");
}
