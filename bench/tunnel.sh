#!/bin/sh
# TCP throughput through netlab's userspace tunnels against the kernel's vxlan, side by side:
# two network namespaces joined by one veth underlay (mtu 1500) carry three tunnels at once,
# (a) udp through `netlab forward --encap udp`, (b) kernel vxlan, (c) ipip through
# `netlab forward --encap ipip`, and iperf3 runs one TCP stream over each in turn. Prints
# Gbit/s, the ratio to vxlan, and the CPU the forwarders and iperf3 used per GB carried.
# Everything runs inside a throwaway `unshare --net --mount --pid` that takes it all with it.
# Needs root and iperf3. The target: udp carries at least half of what vxlan does.
# Usage: bench/tunnel.sh [SECONDS] [ROUNDS]      (default 10 s, 1 round; rounds alternate)
#        TUNNELS="vxlan udp" bench/tunnel.sh     (a subset)
set -eu

if [ "${1:-}" != "--inside" ]; then
  cd "$(dirname "$0")/.."
  secs=${1:-10}
  rounds=${2:-1}
  cargo build --release --quiet --bin netlab
  netlab="$(pwd)/${CARGO_TARGET_DIR:-target}/release/netlab"
  case "${CARGO_TARGET_DIR:-}" in /*) netlab="$CARGO_TARGET_DIR/release/netlab" ;; esac
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work skews the numbers)"
  exec unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc \
    sh "$0" --inside "$secs" "$rounds" "$netlab"
fi

secs=$2
rounds=$3
netlab=$4
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
ip link set lo up
ip netns add a
ip netns add b
ip link add u0 netns a type veth peer name u0 netns b
ip -n a addr add 192.168.1.2/24 dev u0
ip -n b addr add 192.168.1.3/24 dev u0
for n in a b; do
  ip -n $n link set lo up
  ip -n $n link set u0 up
done

# (b) kernel vxlan: 50 bytes of outer headers.
ip -n a link add vx0 type vxlan id 1 local 192.168.1.2 remote 192.168.1.3 dstport 4789
ip -n b link add vx0 type vxlan id 1 local 192.168.1.3 remote 192.168.1.2 dstport 4789
ip -n a addr add 10.1.0.1/24 dev vx0
ip -n b addr add 10.1.0.2/24 dev vx0
# (a) udp (28 bytes of outer headers) and (c) ipip (20): TUN devices with netlab's flags,
# which is what `ip tuntap ... multi_queue vnet_hdr` makes.
for n in a b; do
  ip -n $n link set vx0 mtu 1450 up
  ip -n $n tuntap add dev fl0 mode tun multi_queue vnet_hdr
  ip -n $n link set fl0 mtu 1472 up
  ip -n $n tuntap add dev tl0 mode tun multi_queue vnet_hdr
  ip -n $n link set tl0 mtu 1480 up
done
ip -n a addr add 10.2.0.1/24 dev fl0
ip -n b addr add 10.2.0.2/24 dev fl0
ip -n a addr add 10.3.0.1/24 dev tl0
ip -n b addr add 10.3.0.2/24 dev tl0

ip netns exec a "$netlab" forward --dev fl0 --encap udp --local 192.168.1.2 --peer 192.168.1.3 2>/dev/null &
fa=$!
ip netns exec b "$netlab" forward --dev fl0 --encap udp --local 192.168.1.3 --peer 192.168.1.2 2>/dev/null &
fb=$!
ip netns exec a "$netlab" forward --dev tl0 --encap ipip --local 192.168.1.2 --peer 192.168.1.3 2>/dev/null &
ia=$!
ip netns exec b "$netlab" forward --dev tl0 --encap ipip --local 192.168.1.3 --peer 192.168.1.2 2>/dev/null &
ib=$!
ip netns exec b iperf3 -s -D --pidfile /run/iperf3.pid >/dev/null
sleep 1
for dst in 10.1.0.2 10.2.0.2 10.3.0.2; do
  ip netns exec a ping -c 1 -W 2 $dst >/dev/null || { echo "no path to $dst"; exit 1; }
done

# CPU time (user + system, in clock ticks) of processes, all their threads.
ticks() {
  t=0
  for p in "$@"; do
    for s in /proc/"$p"/task/*/stat; do
      [ -r "$s" ] && t=$((t + $(awk '{print $14 + $15}' "$s")))
    done
  done
  echo $t
}
hz=$(getconf CLK_TCK)

# run NAME DST FORWARDER_PIDS...: one iperf3 run; appends "NAME GBITS CPU_S_PER_GB" to
# /run/results. CPU: the forwarders' from /proc, iperf3's own (client and server) from -V.
run() {
  name=$1 dst=$2
  shift 2
  before=$(ticks "$@")
  ip netns exec a iperf3 -c "$dst" -t "$secs" -f g -V > /run/iperf.txt
  after=$(ticks "$@")
  line=$(grep receiver /run/iperf.txt | grep Gbits)
  gbits=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == "Gbits/sec") print $(i-1)}')
  iperf_cpu=$(grep "CPU Utilization" /run/iperf.txt | tr -d '%' | awk '{print $4 + $7}')
  echo "$name $gbits $(echo "$after $before $hz $iperf_cpu $secs $gbits" |
    awk '{printf "%.2f", (($1 - $2) / $3 + $4 / 100 * $5) / ($6 * $5 / 8)}')" >> /run/results
}

: > /run/results
i=0
while [ $i -lt "$rounds" ]; do
  for t in ${TUNNELS:-vxlan udp ipip}; do
    case $t in
      vxlan) run vxlan 10.1.0.2 ;;
      udp) run udp 10.2.0.2 $fa $fb ;;
      ipip) run ipip 10.3.0.2 $ia $ib ;;
    esac
  done
  i=$((i + 1))
done

kill "$fa" "$fb" "$ia" "$ib" "$(cat /run/iperf3.pid)"
wait "$fa" "$fb" "$ia" "$ib" 2>/dev/null || true

echo "iperf3 TCP ($(cat /proc/sys/net/ipv4/tcp_congestion_control)), one stream, ${secs} s per run, ${rounds} round(s); veth underlay mtu 1500; kernel $(uname -r)"
awk '
  { n[$1]++; g[$1] += $2; c[$1] += $3 }
  END {
    printf "%-6s %8s %9s %16s\n", "tunnel", "Gbit/s", "vs vxlan", "CPU s per GB"
    split("vxlan udp ipip", order, " ")
    for (k = 1; k <= 3; k++) {
      t = order[k]; if (!n[t]) continue
      ratio = n["vxlan"] ? sprintf("%9.2f", (g[t] / n[t]) / (g["vxlan"] / n["vxlan"])) : "        -"
      printf "%-6s %8.2f %s %16.2f\n", t, g[t] / n[t], ratio, c[t] / n[t]
    }
    if (n["udp"] && n["vxlan"])
      printf "udp/vxlan = %.2f (target: at least 0.50)\n", (g["udp"] / n["udp"]) / (g["vxlan"] / n["vxlan"])
  }' /run/results
echo "(CPU: iperf3 client and server plus, for udp and ipip, both forwarders; softirq work"
echo " done in those processes counts, work left to ksoftirqd does not)"
echo "each run: tunnel, Gbit/s, CPU s per GB"
cat /run/results
