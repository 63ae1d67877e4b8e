use super::*;

const MS: u64 = 1_000_000;

/// An Ethernet frame with an IPv4 ICMP echo request of sequence `seq`, `len` bytes long.
fn echo(seq: u16, len: usize) -> Frame {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend([0x45, 0, 0, 84, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend([8, 0, 0, 0, 0, 1]);
    f.extend(seq.to_be_bytes());
    f.resize(len.max(42), 0xab);
    Frame::plain(f)
}

fn line(imp: &str) -> Line {
    Line::new(imp.parse().unwrap(), 0, 99)
}

/// Frames 0..n arrive at `gap_ns` intervals; returns (seq, departure) of what leaves,
/// in departure order, and the counters.
fn run(l: &mut Line, n: u16, len: usize, gap_ns: u64) -> (Vec<(u16, u64)>, Tally) {
    let (mut pool, c) = (Pool::default(), Counters::default());
    let mut out = Vec::new();
    let mut leave = |l: &mut Line, until: u64| {
        while let Some(at) = l.next_departure().filter(|&at| at <= until) {
            let f = l.pop_due(at).unwrap();
            out.push((u16::from_be_bytes([f.bytes[40], f.bytes[41]]), at));
        }
    };
    for i in 0..n {
        let now = u64::from(i) * gap_ns;
        leave(l, now.saturating_sub(1));
        l.admit(now, echo(i, len), &mut pool, &c);
    }
    leave(l, u64::MAX);
    (out, c.tally())
}

#[test]
fn delay_holds_every_frame_exactly_that_long_in_order() {
    let mut l = line("delay=20ms");
    let (out, t) = run(&mut l, 5, 100, MS);
    assert_eq!(out, (0..5).map(|i| (i, 20 * MS + u64::from(i) * MS)).collect::<Vec<_>>());
    assert_eq!((t.received, t.lost), (5, 0));
    // Not due yet: nothing comes out early.
    let (mut pool, c) = (Pool::default(), Counters::default());
    l.admit(0, echo(1, 100), &mut pool, &c);
    assert!(l.pop_due(20 * MS - 1).is_none());
    assert!(l.pop_due(20 * MS).is_some());
}

#[test]
fn loss_is_binomial_and_the_same_for_the_same_seed() {
    let lost = |imp: &str| {
        let (out, t) = run(&mut line(imp), 20_000, 100, 1000);
        let kept: std::collections::HashSet<u16> = out.iter().map(|o| o.0).collect();
        if t.duplicated == 0 {
            assert_eq!(t.lost as usize + kept.len(), 20_000);
        }
        (0..20_000u16).filter(|s| !kept.contains(s)).collect::<Vec<_>>()
    };
    let a = lost("loss=10%,seed=7");
    // 10% of 20000: sd 42.
    assert!((1_830..2_170).contains(&a.len()), "{}", a.len());
    assert_eq!(a, lost("loss=10%,seed=7"), "same seed, same frames lost");
    assert_ne!(a, lost("loss=10%,seed=8"));
    assert!(lost("loss=0%").is_empty());
    assert_eq!(lost("loss=100%").len(), 20_000);
    // Turning on another impairment does not change which frames are lost.
    assert_eq!(a, lost("loss=10%,seed=7,duplicate=5%,rate=1gbit").into_iter().collect::<Vec<_>>());
}

#[test]
fn duplicates_are_extra_copies_that_meet_their_own_fate() {
    let (out, t) = run(&mut line("duplicate=100%,delay=1ms"), 100, 100, MS);
    assert_eq!(out.len(), 200);
    assert_eq!(t.duplicated, 100);
    let (out, t) = run(&mut line("duplicate=20%,seed=1"), 10_000, 100, 1000);
    assert_eq!(out.len() as u64, 10_000 + t.duplicated);
    assert!((1_850..2_150).contains(&t.duplicated), "{}", t.duplicated);
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let mut l = line("corrupt=100%");
    let (mut pool, c) = (Pool::default(), Counters::default());
    let sent = echo(3, 200);
    l.admit(0, sent.clone(), &mut pool, &c);
    let got = l.pop_due(0).unwrap();
    let flipped: u32 = sent.bytes.iter().zip(&got.bytes).map(|(a, b)| (a ^ b).count_ones()).sum();
    assert_eq!(flipped, 1);
    assert_eq!(c.tally().corrupted, 1);
}

#[test]
fn a_rate_spaces_frames_by_their_length() {
    // 1250 bytes at 10 Mbit/s take 1 ms; all arrive at once.
    let (out, _) = run(&mut line("rate=10mbit"), 5, 1250, 0);
    assert_eq!(out.iter().map(|o| o.1).collect::<Vec<_>>(), [MS, 2 * MS, 3 * MS, 4 * MS, 5 * MS]);
    // Arriving slower than the rate, a frame only takes its own time.
    let (out, _) = run(&mut line("rate=10mbit,delay=5ms"), 3, 1250, 10 * MS);
    assert_eq!(out.iter().map(|o| o.1).collect::<Vec<_>>(), [6 * MS, 16 * MS, 26 * MS]);
}

#[test]
fn the_limit_drops_what_does_not_fit() {
    let (out, t) = run(&mut line("delay=10ms,limit=3"), 5, 100, 0);
    assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(t.over_limit, 2);
}

#[test]
fn reordering_follows_netems_gap() {
    let (out, t) = run(&mut line("delay=10ms,reorder=100%,gap=3"), 9, 100, MS);
    assert_eq!(t.reordered, 3);
    // Frames 2, 5 and 8 (every third) leave at once, the rest after 10 ms.
    let early: Vec<u16> = out.iter().filter(|o| o.1 == u64::from(o.0) * MS).map(|o| o.0).collect();
    assert_eq!(early, [2, 5, 8]);
    let (_, t) = run(&mut line("delay=10ms,reorder=25%,seed=3"), 10_000, 100, 100_000);
    assert!((2_300..2_700).contains(&t.reordered), "{}", t.reordered);
}

#[test]
fn jitter_spreads_delays_by_distribution() {
    let delays = |imp: &str| {
        let (out, _) = run(&mut line(imp), 20_000, 100, 0);
        out.iter().map(|o| o.1 as f64 / MS as f64).collect::<Vec<f64>>()
    };
    let stats = |d: &[f64]| {
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        (mean, sd)
    };
    let uniform = delays("delay=50ms,jitter=10ms");
    assert!(uniform.iter().all(|&d| (40.0..60.0).contains(&d)));
    let (mean, sd) = stats(&uniform);
    assert!((mean - 50.0).abs() < 0.3 && (sd - 10.0 / 3f64.sqrt()).abs() < 0.3, "{mean} {sd}");
    let (mean, sd) = stats(&delays("delay=50ms,jitter=10ms,distribution=normal"));
    assert!((mean - 50.0).abs() < 0.3 && (sd - 10.0).abs() < 0.4, "{mean} {sd}");
    // Never earlier than the frame came: a wide normal jitter is cut at zero.
    assert!(delays("delay=1ms,jitter=10ms,distribution=normal").iter().all(|&d| d >= 0.0));
    let (mean, _) = stats(&delays("delay=50ms,jitter=10ms,distribution=pareto"));
    assert!((mean - 50.0).abs() < 1.0, "{mean}");
}

#[test]
fn without_carrier_everything_is_dropped() {
    let (out, t) = run(&mut line("carrier=false"), 50, 100, MS);
    assert!(out.is_empty());
    assert_eq!(t.no_carrier, 50);
}

#[test]
fn a_new_impairment_restarts_the_fates_and_keeps_frames_in_flight() {
    let mut l = line("delay=100ms,seed=5");
    let (mut pool, c) = (Pool::default(), Counters::default());
    l.admit(0, echo(0, 100), &mut pool, &c);
    let waiting = l.waiting();
    assert_eq!(waiting, 1);
    l.set("loss=30%,seed=5".parse().unwrap());
    assert_eq!(l.waiting(), waiting, "frames on the wire stay");
    assert!(!l.is_passthrough());
    // After the change, the fates are those of a fresh line with the new impairment; the
    // frame from before leaves last, on its old schedule.
    let (after, _) = run(&mut l, 1000, 100, 1000);
    let (fresh, _) = run(&mut line("loss=30%,seed=5"), 1000, 100, 1000);
    assert_eq!(after.last(), Some(&(0, 100 * MS)));
    assert_eq!(after[..after.len() - 1], fresh[..]);
    l.set(Impairment::default());
    assert!(l.is_passthrough());
}
