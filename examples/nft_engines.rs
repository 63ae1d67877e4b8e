//! Measures the two ways netlab could drive nftables, on a table of N published ports
//! (one DNAT rule each, with a comment, in a nat base chain):
//! - `nft -f` with the text netlab renders (what the engine does), and `nft -j -f` with the
//!   same table as nft's JSON (what the `nftables` crate sends, as netavark does);
//! - nf_tables netlink directly: one batch of NEWTABLE, NEWCHAIN and N NEWRULE messages,
//!   each expression encoded by hand (the prototype below), and a GETRULE dump to read back.
//!
//! Runs in a network namespace of its own (unshare(CLONE_NEWNET)): root, and the host's
//! firewall is never touched. `cargo run --release --example nft_engines -- N [RUNS]`;
//! bench/firewall.sh runs it for several N.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netlab::firewall::live::Nft;
use netlab::firewall::ports;
use netlab::firewall::ruleset::{compute, Family, Guard, LabFirewall, Network, Place, Published};
use netlab::firewall::NetnsPath;
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

fn lab(n: usize) -> LabFirewall {
    let published = (0..n)
        .map(|i| Published {
            node: format!("n{i}"),
            network: "docker0".into(),
            binding: ports::parse(&format!("{}:80", 10000 + i)).unwrap().bindings()[0],
            node_v4: Some(std::net::Ipv4Addr::from(0xac11_0002 + i as u32)),
            node_v6: None,
            bridge_port: format!("v{i}"),
        })
        .collect();
    LabFirewall {
        lab: "bench".into(),
        networks: vec![Network {
            name: "docker0".into(),
            bridge: "docker0".into(),
            v4: Some("172.17.0.0/16".parse().unwrap()),
            v6: None,
            nat: true,
            icc: true,
            place: Place::Host,
            ports: vec![],
        }],
        published,
        guards: vec![(Place::Host, Guard { v4: true, v6: false })],
        plain_bridges: vec![],
    }
}

fn nft(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nft");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "nft {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Reads the table back as nft's JSON and counts the rules that carry a comment.
fn list_json() -> usize {
    let v: serde_json::Value =
        serde_json::from_str(&nft(&["-j", "list", "table", "inet", "netlab-bench"], "")).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.get("rule").is_some_and(|r| r.get("comment").is_some()))
        .count()
}

// ---- nf_tables over netlink: just enough for a table, a nat chain and DNAT rules ----

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_DELTABLE: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLM_F_DUMP: u16 = 0x300;
const NFPROTO_INET: u8 = 1;
const NESTED: u16 = 0x8000;

struct Msg(Vec<u8>);

impl Msg {
    fn new(kind: u16, flags: u16, family: u8, seq: u32, res_id: u16) -> Msg {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&[family, 0]);
        b.extend_from_slice(&res_id.to_be_bytes());
        Msg(b)
    }
    fn done(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    buf.extend_from_slice(&((payload.len() + 4) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

fn nest(buf: &mut Vec<u8>, kind: u16, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    attr(buf, kind | NESTED, &inner);
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn expr(buf: &mut Vec<u8>, name: &str, data: impl FnOnce(&mut Vec<u8>)) {
    nest(buf, 1, |e| {
        attr(e, 1, &cstr(name));
        nest(e, 2, data);
    });
}

/// `meta l4proto tcp tcp dport PORT dnat ip to ADDR:80 comment "..."`
fn rule_exprs(port: u16, addr: [u8; 4]) -> Vec<u8> {
    let mut list = Vec::new();
    expr(&mut list, "meta", |d| {
        attr(d, 2, &be32(16)); // NFTA_META_KEY = NFT_META_L4PROTO
        attr(d, 1, &be32(1)); // NFTA_META_DREG = NFT_REG_1
    });
    expr(&mut list, "cmp", |d| {
        attr(d, 1, &be32(1));
        attr(d, 2, &be32(0)); // NFT_CMP_EQ
        nest(d, 3, |v| attr(v, 1, &[6])); // tcp
    });
    expr(&mut list, "payload", |d| {
        attr(d, 1, &be32(1));
        attr(d, 2, &be32(2)); // transport header
        attr(d, 3, &be32(2)); // offset of dport
        attr(d, 4, &be32(2));
    });
    expr(&mut list, "cmp", |d| {
        attr(d, 1, &be32(1));
        attr(d, 2, &be32(0));
        nest(d, 3, |v| attr(v, 1, &port.to_be_bytes()));
    });
    expr(&mut list, "immediate", |d| {
        attr(d, 1, &be32(1));
        nest(d, 2, |v| attr(v, 1, &addr));
    });
    expr(&mut list, "immediate", |d| {
        attr(d, 1, &be32(2));
        nest(d, 2, |v| attr(v, 1, &80u16.to_be_bytes()));
    });
    expr(&mut list, "nat", |d| {
        attr(d, 1, &be32(1)); // NFT_NAT_DNAT
        attr(d, 2, &be32(2)); // NFPROTO_IPV4
        attr(d, 3, &be32(1)); // address in reg 1
        attr(d, 5, &be32(2)); // port in reg 2
        attr(d, 7, &be32(1 | 2)); // MAP_IPS | PROTO_SPECIFIED
    });
    list
}

fn netlink_apply(sock: &Socket, n: usize) {
    let mut batch = Vec::new();
    let mut seq = 1;
    batch.extend(Msg::new(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, seq, NFNL_SUBSYS_NFTABLES).done());
    seq += 1;
    let mut m = Msg::new(
        NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
        NFPROTO_INET,
        seq,
        0,
    );
    attr(&mut m.0, 1, &cstr("netlab-bench"));
    batch.extend(m.done());
    seq += 1;
    let mut m = Msg::new(
        NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWCHAIN,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
        NFPROTO_INET,
        seq,
        0,
    );
    attr(&mut m.0, 1, &cstr("netlab-bench"));
    attr(&mut m.0, 3, &cstr("prerouting"));
    nest(&mut m.0, 4, |h| {
        attr(h, 1, &be32(0)); // NF_INET_PRE_ROUTING
        attr(h, 2, &be32((-100i32) as u32));
    });
    attr(&mut m.0, 5, &be32(1)); // policy accept
    attr(&mut m.0, 7, &cstr("nat"));
    batch.extend(m.done());
    for i in 0..n {
        seq += 1;
        let mut m = Msg::new(
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK,
            NFPROTO_INET,
            seq,
            0,
        );
        attr(&mut m.0, 1, &cstr("netlab-bench"));
        attr(&mut m.0, 2, &cstr("prerouting"));
        let a = (0xac11_0002u32 + i as u32).to_be_bytes();
        attr(&mut m.0, 4 | NESTED, &rule_exprs(10000 + i as u16, a));
        // NFTA_RULE_USERDATA: libnftnl's TLV, type 0 (comment), length, the string + NUL.
        let comment = cstr(&format!("n{i}: *:{}->80/tcp (ipv4) #00000000", 10000 + i));
        let mut udata = vec![0u8, comment.len() as u8];
        udata.extend_from_slice(&comment);
        attr(&mut m.0, 7, &udata);
        batch.extend(m.done());
    }
    seq += 1;
    batch.extend(Msg::new(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, seq, NFNL_SUBSYS_NFTABLES).done());
    // Large batches go in chunks the socket accepts; the kernel handles a batch that spans
    // several sendmsg calls as long as BEGIN..END are in order (nft does the same).
    // The whole batch goes in one datagram: make room for it, as nft does (SO_SNDBUFFORCE).
    let size = (batch.len() * 2) as libc::c_int;
    // SAFETY: setsockopt on the socket's own fd with a c_int option value.
    unsafe {
        use std::os::fd::AsRawFd;
        let p = &size as *const libc::c_int as *const libc::c_void;
        libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, p, 4);
    }
    sock.send(&batch, 0).expect("send batch");
    // One ACK per message that asked for one (n + 2); any error aborts the run.
    let mut acks = 0;
    while acks < n + 2 {
        let (buf, _) = sock.recv_from_full().expect("recv");
        let mut off = 0;
        while off + 16 <= buf.len() {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if kind == 2 {
                let code = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                assert_eq!(code, 0, "nf_tables refused message: errno {}", -code);
                acks += 1;
            }
            off += (len + 3) & !3;
        }
    }
}

/// Dumps the table's rules and counts those with a comment (as the engine's read does).
fn netlink_list(sock: &Socket) -> usize {
    let mut m = Msg::new(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, NFPROTO_INET, 1, 0);
    attr(&mut m.0, 1, &cstr("netlab-bench"));
    sock.send(&m.done(), 0).unwrap();
    let mut count = 0;
    loop {
        let (buf, _) = sock.recv_from_full().unwrap();
        let mut off = 0;
        while off + 16 <= buf.len() {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if kind == 3 {
                return count;
            }
            if kind & 0xff == NFT_MSG_NEWRULE {
                // Find NFTA_RULE_USERDATA among the rule's attributes (after the nfgenmsg).
                let mut a = off + 20;
                while a + 4 <= off + len {
                    let alen = u16::from_ne_bytes([buf[a], buf[a + 1]]) as usize;
                    let akind = u16::from_ne_bytes([buf[a + 2], buf[a + 3]]) & 0x3fff;
                    if akind == 7 && buf[a + 4] == 0 {
                        let text = &buf[a + 6..a + 6 + buf[a + 5] as usize - 1];
                        assert!(std::str::from_utf8(text).unwrap().ends_with("#00000000"));
                        count += 1;
                    }
                    a += (alen.max(4) + 3) & !3;
                }
            }
            off += (len + 3) & !3;
        }
    }
}

fn netlink_delete(sock: &Socket) {
    let mut batch = Vec::new();
    batch.extend(Msg::new(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, 1, NFNL_SUBSYS_NFTABLES).done());
    let mut m = Msg::new(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELTABLE, NLM_F_REQUEST | NLM_F_ACK, NFPROTO_INET, 2, 0);
    attr(&mut m.0, 1, &cstr("netlab-bench"));
    batch.extend(m.done());
    batch.extend(Msg::new(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, 3, NFNL_SUBSYS_NFTABLES).done());
    sock.send(&batch, 0).unwrap();
    let _ = sock.recv_from_full().unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a network namespace (needs root)");

    // The engine's own table: published chain + base chains, N DNAT rules.
    let rs = compute(&lab(n));
    let text: String = rs.tables.iter().map(|t| t.script("netlab:bench")).collect();
    let rules = rs.tables[0].rules.len();
    nft(&["-f", "-"], &text);
    let json = nft(&["-j", "list", "table", "inet", "netlab-bench"], "");
    nft(&["delete", "table", "inet", "netlab-bench"], "");

    let mut results = Vec::new();
    let engines = [
        ("nft -f, engine's read", &["-f", "-"][..], &text, true),
        ("nft -j -f, list -j", &["-j", "-f", "-"][..], &json, false),
    ];
    for (name, args, apply, engine_read) in engines {
        let (mut a, mut l) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            nft(args, apply);
            a.push(t.elapsed());
            let t = Instant::now();
            if engine_read {
                // The engine's own read: JSON for the rules, the text listing for the mark.
                let live = Nft::new(NetnsPath::current()).read(Family::Inet, "netlab-bench").unwrap().unwrap();
                assert!(live.chains.iter().map(|c| c.rules.len()).sum::<usize>() >= n);
            } else {
                assert!(list_json() >= n);
            }
            l.push(t.elapsed());
            nft(&["delete", "table", "inet", "netlab-bench"], "");
        }
        results.push((name, rules, median(a), median(l)));
    }

    let mut sock = Socket::new(NETLINK_NETFILTER).unwrap();
    sock.bind_auto().unwrap();
    sock.connect(&SocketAddr::new(0, 0)).unwrap();
    sock.set_rx_buf_sz(8 << 20).ok();
    if std::env::var_os("SHOW").is_some() {
        // What the prototype made, as nft reads it back: the same rule as netlab's text.
        netlink_apply(&sock, n);
        print!("{}", nft(&["list", "table", "inet", "netlab-bench"], ""));
        netlink_delete(&sock);
    }
    let (mut a, mut l) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        netlink_apply(&sock, n);
        a.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(netlink_list(&sock), n);
        l.push(t.elapsed());
        netlink_delete(&sock);
    }
    results.push(("netlink (prototype)", n, median(a), median(l)));

    println!("{n} published ports, median of {runs} runs");
    println!("{:<24} {:>6} {:>12} {:>12}", "engine", "rules", "apply", "read back");
    for (name, rules, a, l) in results {
        println!("{name:<24} {rules:>6} {:>10.2}ms {:>10.2}ms", a.as_secs_f64() * 1e3, l.as_secs_f64() * 1e3);
    }
}
