#!/bin/sh
# Where the time of up and down goes on a star lab, for netlab and for the ip -batch way of
# bench/up-down.sh: netlab's per-batch timings (NETLAB_TIMINGS=1), then `perf record -a -g`
# around each step, summarised as the share of CPU samples in a list of kernel paths.
#
# Usage: bench/profile-up-down.sh [SIZE]      (as root; default 1000; needs perf)
#
# Everything runs in one throwaway host (unshare'd net and mount namespaces, private /run and
# /sys), as in bench/up-down.sh. Steps, each recorded on its own:
#   netlab-up      netlab up star.toml          netlab-down    netlab down star.toml
#   batch-host     ip -batch host.up            batch-ns       ip -n NS -batch NS.up, each NS
#   batch-down     ip -batch host.down, then wait until no veth is left in the host
# perf samples the whole machine (-a). The shares are over the samples of this lab's own
# processes (netlab, ip) and the kernel's threads (kworker, ksoftirqd), where the deferred
# work runs (MLD reports, DAD, namespace cleanup); other programs and idle are left out.
# A path's share includes what it calls (perf report --children), so shares overlap.
# The perf data and full reports stay in a temp dir (printed at the end).
set -eu

die() {
	echo "profile-up-down.sh: $*" >&2
	exit 1
}

now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN {printf "%.2f", a - b}'; }

# Records one step: perf record -a -g around a command.
rec() {
	name=$1
	shift
	perf record -q -a -g -o "$out/$name.data" -- "$@" > /dev/null 2> "$out/$name.err" ||
		die "$name failed: $(cat "$out/$name.err")"
}

wait_veths() {
	while [ -n "$(ip -o link show type veth)" ]; do sleep 0.01; done
}

# The kernel paths of the summary, with what each stands for.
PATHS='copy_net_ns                      namespace setup (unshare CLONE_NEWNET)
__register_sysctl_table          . its per-namespace sysctl tables
register_netdevice               device registration
veth_newlink                     . veth pair creation
br_add_if                        bridge port add
rtnl_setlink                     link set (master, up)
mld_ifc_work                     IPv6 MLD reports (deferred work)
addrconf_dad_work                IPv6 DAD neighbour solicitations (deferred work)
br_flood                         bridge flooding multicast to every port
br_nf_pre_routing_ipv6           bridge netfilter on bridged IPv6 (route lookup per packet)
ipv6_rcv                         IPv6 receive in the namespaces
netlink_rcv_skb                  rtnetlink requests, all of them
unregister_netdevice_many_notify device unregistration
cleanup_net                      namespace cleanup (deferred work)
copy_mnt_ns                      mount namespace copies (ip -n, ip netns exec)
__x64_sys_mount                  mount (netns bind mounts, sysfs)
__x64_sys_umount                 umount (netns del)
__x64_sys_execve                 process start (exec)
do_exit                          process exit'

summary() {
	for name in netlab-up netlab-down batch-host batch-ns batch-down; do
		data=$out/$name.data
		perf report -i "$data" --sort comm --stdio -g none 2> /dev/null | grep -v '^#' |
			awk 'NF >= 3 {c = $3; for (i = 4; i <= NF; i++) c = c " " $i; print c "\t" $1}' > "$out/$name.comms"
		ours=$(awk -F '\t' '$1 ~ /^(netlab|ip|kworker|ksoftirqd)/ {print $1}' "$out/$name.comms" | paste -sd, -)
		perf report -i "$data" --comms "$ours" --percentage relative --children --sort sym --stdio -g none \
			2> /dev/null | grep -v '^#' | grep -v '^$' > "$out/$name.children"
		total=$(perf report -i "$data" --stdio -g none --sort comm 2> /dev/null | awk '/^# Samples:/ {print $3}')
		printf '\n== %s: %s CPU samples (%s)\n' "$name" "$total" "$(awk -F '\t' '
				{ sub(/%/, "", $2)
				  if ($1 ~ /^(netlab|ip)$/) lab += $2; else if ($1 ~ /^(kworker|ksoftirqd)/) k += $2
				  else if ($1 ~ /^swapper/) idle += $2; else other += $2 }
				END { printf "lab processes %.0f%%, kernel threads %.0f%%, idle %.0f%%, other programs %.0f%%",
				      lab, k, idle, other }' "$out/$name.comms")"
		printf '%s\n' "$PATHS" | while read -r sym what; do
			v=$(awk -v s="$sym" '$4 == s {print $1; exit}' "$out/$name.children")
			[ -z "$v" ] || printf '  %7s  %-32s %s\n' "$v" "$sym" "$what"
		done
	done
}

[ "$(id -u)" -eq 0 ] || die "needs root (it builds namespaces, in a throwaway host)"
for tool in perf ip unshare; do
	command -v "$tool" > /dev/null || die "needs $tool"
done

if [ "${1:-}" = --inner ]; then
	n=$2 out=$3 netlab=$4
	cd "$out"
	echo "== star $n in a throwaway host; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "-- NETLAB_TIMINGS=1 netlab up / down"
	t=$(now)
	NETLAB_TIMINGS=1 "$netlab" up star.toml > /dev/null
	echo "netlab up: $(since "$t") s"
	t=$(now)
	NETLAB_TIMINGS=1 "$netlab" down star.toml > /dev/null
	echo "netlab down: $(since "$t") s"
	sleep 2
	echo "-- ip -batch, by part"
	t=$(now)
	ip -batch host.up
	echo "ip -batch host part: $(since "$t") s"
	t=$(now)
	for ns in $(cat netns); do ip -n "$ns" -batch "ns/$ns"; done
	echo "ip -n NS -batch, each namespace: $(since "$t") s"
	t=$(now)
	ip -batch host.down
	echo "ip -batch down: $(since "$t") s"
	wait_veths
	echo "ip -batch down, until no veth is left: $(since "$t") s"
	sleep 2
	echo "-- perf record -a -g, each step"
	rec netlab-up "$netlab" up star.toml
	rec netlab-down "$netlab" down star.toml
	sleep 2
	rec batch-host ip -batch host.up
	rec batch-ns sh -c 'for ns in $(cat netns); do ip -n "$ns" -batch "ns/$ns"; done'
	rec batch-down sh -c 'ip -batch host.down && while [ -n "$(ip -o link show type veth)" ]; do sleep 0.01; done'
	summary
	exit 0
fi

n=${1:-1000}
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bin netlab --example gen_topology
netlab=${NETLAB:-$target/release/netlab}
out=$(mktemp -d /tmp/netlab-profile.XXXXXX)
mkdir -p "$out/ns"
"$target/release/examples/gen_topology" star "$n" > "$out/star.toml"
"$netlab" plan --format ip "$out/star.toml" > "$out/up.sh"
# The same split as bench/up-down.sh: `ip -n NS` lines to NS's batch, the rest to the host's.
awk -v out="$out" '
	/^ip -n / { ns = $3; sub(/^ip -n [^ ]+ /, ""); if (!(ns in seen)) { seen[ns] = 1; print ns > (out "/netns") }
	            f = out "/ns/" ns; print >> f; close(f); next }
	/^ip / { sub(/^ip /, ""); print > (out "/host.up")
	         if ($1 == "netns" && $2 == "add") nss[++m] = $3
	         if ($NF == "bridge" && $(NF - 1) == "type") br[++b] = $3; next }
	END { for (i = m; i >= 1; i--) print "netns del " nss[i] > (out "/host.down")
	      for (i = b; i >= 1; i--) print "link del dev " br[i] > (out "/host.down") }
' "$out/up.sh"
# No pid namespace here (unlike bench/up-down.sh): perf must see the host's kernel threads,
# where the deferred work runs, by their names.
unshare --net --mount --propagation private sh -c '
	mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns &&
	mount -t sysfs sysfs /sys && ip link set lo up && exec sh "$@"' \
	sh "$self" --inner "$n" "$out" "$netlab"
echo
echo "perf data and full reports (*.children: perf report --children --sort sym): $out"
