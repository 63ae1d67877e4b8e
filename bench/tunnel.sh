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
#        COMPARE=/path/to/other/netlab bench/tunnel.sh 5 6
#            A/B: adds udp0 and ipip0, the same tunnels run by that binary (on their own
#            TUN devices and underlay addresses), alternating with this tree's in each round;
#            COMPARE="BIN0 BIN1 ..." adds udp0, udp1, ... (BIN can be a wrapper script that
#            execs a netlab binary, with an environment of its own).
#        THREADS=1 bench/tunnel.sh                (also each forwarder thread's CPU per GB)
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
    sh "$0" --inside "$secs" "$rounds" "$netlab" "${COMPARE:-}"
fi

secs=$2
rounds=$3
netlab=$4
compare=$5
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
ip link set lo up
ip netns add a
ip netns add b
ip link add u0 netns a type veth peer name u0 netns b
ip -n a addr add 192.168.1.2/24 dev u0
ip -n b addr add 192.168.1.3/24 dev u0
# The compared binaries' forwarders use their own underlay addresses: 192.168.1.(12 + 2i)
# and .(13 + 2i) for the i-th.
i=0
for c in $compare; do
  ip -n a addr add 192.168.1.$((12 + 2 * i))/24 dev u0
  ip -n b addr add 192.168.1.$((13 + 2 * i))/24 dev u0
  i=$((i + 1))
done
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
# which is what `ip tuntap ... multi_queue vnet_hdr` makes. fl(i + 1) and tl(i + 1): the
# same for the i-th compared binary.
devs=0
i=0
for c in $compare; do i=$((i + 1)); devs="$devs $i"; done
for n in a b; do
  ip -n $n link set vx0 mtu 1450 up
  for i in $devs; do
    ip -n $n tuntap add dev fl$i mode tun multi_queue vnet_hdr
    ip -n $n link set fl$i mtu 1472 up
    ip -n $n tuntap add dev tl$i mode tun multi_queue vnet_hdr
    ip -n $n link set tl$i mtu 1480 up
  done
done
ip -n a addr add 10.2.0.1/24 dev fl0
ip -n b addr add 10.2.0.2/24 dev fl0
ip -n a addr add 10.3.0.1/24 dev tl0
ip -n b addr add 10.3.0.2/24 dev tl0
# The i-th compared binary's: 10.(10 + i).0.0/24 over udp, 10.(30 + i).0.0/24 over ipip.
for i in $devs; do
  [ $i = 0 ] && continue
  ip -n a addr add 10.$((9 + i)).0.1/24 dev fl$i
  ip -n b addr add 10.$((9 + i)).0.2/24 dev fl$i
  ip -n a addr add 10.$((29 + i)).0.1/24 dev tl$i
  ip -n b addr add 10.$((29 + i)).0.2/24 dev tl$i
done

# forward BINARY NS DEV ENCAP LOCAL PEER: starts a forwarder, its pid in $pid.
forward() {
  ip netns exec "$2" "$1" forward --dev "$3" --encap "$4" --local "$5" --peer "$6" 2>/dev/null &
  pid=$!
}
forward "$netlab" a fl0 udp 192.168.1.2 192.168.1.3; fa=$pid
forward "$netlab" b fl0 udp 192.168.1.3 192.168.1.2; fb=$pid
forward "$netlab" a tl0 ipip 192.168.1.2 192.168.1.3; ia=$pid
forward "$netlab" b tl0 ipip 192.168.1.3 192.168.1.2; ib=$pid
pids="$fa $fb $ia $ib"
dsts="10.1.0.2 10.2.0.2 10.3.0.2"
# /run/compared: "NAME DST PID PID" for each compared binary's udp and ipip tunnels.
: > /run/compared
i=0
for c in $compare; do
  a=192.168.1.$((12 + 2 * i)) b=192.168.1.$((13 + 2 * i))
  forward "$c" a fl$((i + 1)) udp $a $b; ca=$pid
  forward "$c" b fl$((i + 1)) udp $b $a; cb=$pid
  forward "$c" a tl$((i + 1)) ipip $a $b; da=$pid
  forward "$c" b tl$((i + 1)) ipip $b $a; db=$pid
  echo "udp$i 10.$((10 + i)).0.2 $ca $cb" >> /run/compared
  echo "ipip$i 10.$((30 + i)).0.2 $da $db" >> /run/compared
  pids="$pids $ca $cb $da $db"
  dsts="$dsts 10.$((10 + i)).0.2 10.$((30 + i)).0.2"
  i=$((i + 1))
done
ip netns exec b iperf3 -s -D --pidfile /run/iperf3.pid >/dev/null
sleep 1
for dst in $dsts; do
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
# Each thread of processes (named by process order: a, b): "NAME TICKS" per line.
thread_ticks() {
  side=a
  for p in "$@"; do
    for s in /proc/"$p"/task/*/stat; do
      [ -r "$s" ] && awk -v side=$side '{ sub(/^[^(]*\(/, ""); sub(/\)/, ""); print side "." $1, $13 + $14 }' "$s"
    done
    side=b
  done
}
hz=$(getconf CLK_TCK)
# Ticks of the kernel's softirq threads (work deferred there is nobody's in the counts above).
ksoftirqd_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 ~ /^\(ksoftirqd/ { t += $14 + $15 } END { print t + 0 }'
}

# run NAME DST FORWARDER_PIDS...: one iperf3 run; appends "NAME GBITS CPU_S_PER_GB" to
# /run/results. CPU: the forwarders' from /proc, iperf3's own (client and server) from -V.
run() {
  name=$1 dst=$2
  shift 2
  before=$(ticks "$@")
  thread_ticks "$@" > /run/threads.before
  cpu_before=$(head -1 /proc/stat)
  ksoft_before=$(ksoftirqd_ticks)
  ip netns exec a iperf3 -c "$dst" -t "$secs" -f g -V ${CC:+-C "$CC"} > /run/iperf.txt
  cpu_after=$(head -1 /proc/stat)
  ksoft_after=$(ksoftirqd_ticks)
  after=$(ticks "$@")
  line=$(grep receiver /run/iperf.txt | grep Gbits)
  gbits=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == "Gbits/sec") print $(i-1)}')
  iperf_cpu=$(grep "CPU Utilization" /run/iperf.txt | tr -d '%' | awk '{print $4 + $7}')
  echo "$name $gbits $(echo "$after $before $hz $iperf_cpu $secs $gbits" |
    awk '{printf "%.2f", (($1 - $2) / $3 + $4 / 100 * $5) / ($6 * $5 / 8)}')" >> /run/results
  if [ -n "${THREADS:-}" ]; then
    thread_ticks "$@" | awk -v name=$name -v hz=$hz -v gb="$(echo "$gbits $secs" | awk '{print $1 * $2 / 8}')" \
      -v busy="$(echo "$cpu_before" "$cpu_after" | awk '{ for (i = 2; i <= 11; i++) { t += $(i + 11) - $i } idle = $(16) - $5 + $(17) - $6; print 100 * (t - idle) / t }')" \
      -v steal="$(echo "$cpu_before" "$cpu_after" | awk '{ for (i = 2; i <= 11; i++) { t += $(i + 11) - $i } print 100 * ($(20) - $9) / t }')" \
      -v ncpu="$(nproc)" -v secs="$secs" -v ksoft="$((ksoft_after - ksoft_before))" \
      -v iperf="$(grep "CPU Utilization" /run/iperf.txt | tr -d '%' | awk -v s=$secs '{print $4 / 100 * s, $7 / 100 * s}')" '
      NR == FNR { before[$1] = $2; next }
      { d[$1] += $2 - before[$1] }
      END {
        split(iperf, ip, " ")
        line = sprintf("%s threads, CPU s per GB: iperf3 client %.2f server %.2f", name, ip[1] / gb, ip[2] / gb)
        line = line sprintf(" [machine busy %.0f%% (steal %.0f%%) = %.2f s/GB, ksoftirqd %.2f s/GB]", busy, steal, busy / 100 * ncpu * secs / gb, ksoft / hz / gb)
        for (t in d) if (d[t] > 0) line = line sprintf(", %s %.2f", t, d[t] / hz / gb)
        print line
      }' /run/threads.before - >> /run/threads
  fi
}

: > /run/results
: > /run/threads
default="vxlan udp ipip"
if [ -n "$compare" ]; then
  default="vxlan udp $(awk '$1 ~ /^udp/ { printf "%s ", $1 }' /run/compared)ipip $(awk '$1 ~ /^ipip/ { printf "%s ", $1 }' /run/compared)"
fi
i=0
while [ $i -lt "$rounds" ]; do
  for t in ${TUNNELS:-$default}; do
    case $t in
      vxlan) run vxlan 10.1.0.2 ;;
      udp) run udp 10.2.0.2 $fa $fb ;;
      ipip) run ipip 10.3.0.2 $ia $ib ;;
      *) run $(grep "^$t " /run/compared) ;;
    esac
  done
  i=$((i + 1))
done

kill $pids "$(cat /run/iperf3.pid)"
wait $pids 2>/dev/null || true

echo "iperf3 TCP ($(cat /proc/sys/net/ipv4/tcp_congestion_control)), one stream, ${secs} s per run, ${rounds} round(s); veth underlay mtu 1500; kernel $(uname -r)"
i=0
for c in $compare; do echo "udp$i, ipip$i: $c"; i=$((i + 1)); done
awk '
  { n[$1]++; g[$1] += $2; c[$1] += $3 }
  END {
    printf "%-6s %8s %9s %16s\n", "tunnel", "Gbit/s", "vs vxlan", "CPU s per GB"
    split("vxlan udp udp0 udp1 udp2 udp3 udp4 udp5 ipip ipip0 ipip1 ipip2 ipip3 ipip4 ipip5", order, " ")
    for (k = 1; k <= 15; k++) {
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
[ -n "${THREADS:-}" ] && cat /run/threads
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
