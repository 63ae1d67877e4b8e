#!/bin/sh
# What netlab's userspace impairment relay costs, side by side with a plain veth pair, as
# users get it: one lab brought up with `netlab up` in a throwaway
# `unshare --net --mount --pid`, with two links
#   plain:   p:e0 <-> q:e0, not impaired                        (10.1.0.0/24)
#   relayed: a:e0 <-> b:e0, `impair = {}` (its relay, nothing asked yet)   (10.0.0.0/24)
# and three ways through the relay, set with `netlab impair`: `none` (no impairment:
# frames, TCP super-packets included, pass as they came), `frames` (an impairment that
# changes nothing, delay=1ns, so every super-packet is cut into wire frames and goes
# through the delay line), and `nogso` (no impairment, a and b's TCP without segmentation
# offload: gso_max_segs 1, what turning offloads off on the nodes' ends would cost
# instead of PACKET_VNET_HDR).
# Prints:
#   1. TCP throughput (iperf3, one stream) of each, and its ratio to the plain veth;
#   2. per packet, at 10 Mbit/s and 1 Gbit/s of UDP (1400-byte datagrams): the latency the
#      relay adds (ping RTT under that load, relayed minus plain, halved: a round trip
#      crosses the relay twice) and the relay's CPU time per frame it carried (schedstat
#      of its threads over the frames in its stats file);
#   3. how long `netlab impair` takes to put a change in force (its own report).
# Needs root, iperf3, python3. Usage: bench/impair.sh [SECONDS]   (default 5)
set -eu

if [ "${1:-}" != "--inside" ]; then
  cd "$(dirname "$0")/.."
  secs=${1:-5}
  cargo build --release --quiet --bin netlab
  netlab="$(pwd)/${CARGO_TARGET_DIR:-target}/release/netlab"
  case "${CARGO_TARGET_DIR:-}" in /*) netlab="$CARGO_TARGET_DIR/release/netlab" ;; esac
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work skews the numbers)"
  exec unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc \
    sh "$0" --inside "$secs" "$netlab"
fi

secs=$2
netlab=$3
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
ip link set lo up
lab=/run/bench.toml
cat >$lab <<'EOF'
[lab]
name = "bench"
prefix = ""
[nodes.p]
[nodes.q]
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["p:e0", "q:e0"]
addresses = ["10.1.0.1/24", "10.1.0.2/24"]
[[links]]
endpoints = ["a:e0", "b:e0"]
addresses = ["10.0.0.1/24", "10.0.0.2/24"]
impair = {}
EOF
"$netlab" up $lab >/dev/null
relay=$(cat /run/netlab/bench/*.pid)
stats=$(ls /run/netlab/bench/*.stats)
ip netns exec q iperf3 -s -D
ip netns exec b iperf3 -s -D
# The veths' carrier comes on a moment after up.
sleep 1
ip netns exec p ping -c1 -q 10.1.0.2 >/dev/null
ip netns exec a ping -c1 -q 10.0.0.2 >/dev/null

set_relay() { "$netlab" impair $lab a:e0 --both "$@" >/dev/null; }
# iperf3 from node $1 to $2; what was received, in Gbit/s.
tcp() {
  ip netns exec "$1" iperf3 -c "$2" -t "$secs" -J | python3 -c \
    'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
# The relay's CPU time so far, in ns (all its threads).
cpu() { cat /proc/$relay/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
# Frames the relay has sent, both directions.
frames() {
  python3 -c 'import json,sys; s = json.load(open(sys.argv[1])); print(s["a_to_b"]["sent"] + s["b_to_a"]["sent"])' "$stats"
}
sleep_stats() { sleep 1.1; }

echo
echo "TCP throughput, one stream, ${secs} s (Gbit/s; ratio to the plain veth)"
plain=$(tcp p 10.1.0.2)
echo "  plain veth          $plain"
set_relay --clear
none=$(tcp a 10.0.0.2)
echo "  relay, none         $none   $(ratio "$none" "$plain")"
set_relay --delay 1ns
frames_=$(tcp a 10.0.0.2)
echo "  relay, frames       $frames_   $(ratio "$frames_" "$plain")"
set_relay --clear
ip -n a link set dev e0 gso_max_segs 1
ip -n b link set dev e0 gso_max_segs 1
nogso=$(tcp a 10.0.0.2)
ip -n a link set dev e0 gso_max_segs 65535
ip -n b link set dev e0 gso_max_segs 65535
echo "  relay, nogso        $nogso   $(ratio "$nogso" "$plain")"

# UDP at a rate while ping measures the round trip; prints "rtt_ms loss%".
load_rtt() { # node dest rate
  # -w: socket buffers big enough that the receiver's, not the link, is not what drops.
  ip netns exec "$1" iperf3 -c "$2" -u -b "$3" -l 1400 -w 4M -t "$secs" -J >/run/udp.json &
  load=$!
  sleep 0.5
  rtt=$(ip netns exec "$1" ping -q -c $((secs * 20 - 20)) -i 0.05 "$2" | awk -F/ '/^rtt/ { print $5 }')
  wait $load
  lost=$(python3 -c 'import json; print("%.2f" % json.load(open("/run/udp.json"))["end"]["sum"]["lost_percent"])')
  echo "$rtt $lost"
}

echo
echo "Per packet, UDP 1400-byte datagrams for ${secs} s, ping every 50 ms alongside"
printf '  %-9s %-8s %10s %10s %12s %12s %14s\n' rate relay "plain rtt" "relay rtt" "added/pass" "udp loss %" "CPU ns/frame"
for rate in 10M 1G; do
  for mode in none frames; do
    if [ $mode = none ]; then set_relay --clear; else set_relay --delay 1ns; fi
    plain_rtt=$(load_rtt p 10.1.0.2 $rate | cut -d' ' -f1)
    sleep_stats
    f0=$(frames); c0=$(cpu)
    out=$(load_rtt a 10.0.0.2 $rate)
    sleep_stats
    f1=$(frames); c1=$(cpu)
    relay_rtt=${out% *}
    lost=${out#* }
    added=$(python3 -c "print('%.1f us' % (($relay_rtt - $plain_rtt) * 1000 / 2))")
    per=$(python3 -c "print('%.0f' % (($c1 - $c0) / max(1, $f1 - $f0)))")
    printf '  %-9s %-8s %10s %10s %12s %12s %14s\n' "$rate" "$mode" "$plain_rtt" "$relay_rtt" "$added" "$lost" "$per"
  done
done

echo
echo "netlab impair: ms until in force (its report's elapsed_ms), 10 changes each"
for kind in relay kernel; do
  times=""
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if [ $kind = relay ]; then
      args="a:e0 --delay ${i}ms --both"
    else
      # The plain link: the kernel's tbf (a qdisc over rtnetlink), no nft run.
      args="p:e0 --rate ${i}0mbit"
    fi
    ms=$("$netlab" impair $lab $args --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["elapsed_ms"])')
    times="$times $ms"
  done
  echo "  $kind:$times"
done
"$netlab" down $lab >/dev/null
