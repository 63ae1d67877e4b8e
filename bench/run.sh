#!/bin/sh
# What `netlab run`'s throwaway host costs, side by side with the way the tests make one:
#   harness      unshare --net --mount --pid (private /run, /etc/netns, /sys), then
#                netlab up LAB, true, netlab down LAB inside it
#   run          netlab run LAB -- true                 (as root)
#   run-user     the same as uid 65534, in a user namespace of its own
#   run-no-etc   as root, on a host without /etc/netns (netlab run then shows /etc again
#                on a tmpfs, one bind mount per entry); `no-etc-host` is what making that
#                host costs the script (`true` in place of netlab run), so netlab's own part
#                is the difference
# Each is run ROUNDS times in turn; the mean wall time of one round, and the ratio to
# harness. Then the same for a lab with processes (redis-cluster.toml: six servers and the
# cluster create), where the lab's own start dominates.
#
# Usage: bench/run.sh [ROUNDS]      (as root; default 10)
# Everything runs in throwaway namespaces; "no /etc/netns" is made in a mount namespace of
# the script's own, never on the machine.
set -eu

if [ "${INSIDE:-}" != 1 ]; then
	cd "$(dirname "$0")/.."
	[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root" >&2; exit 1; }
	cargo build --release --quiet --bin netlab
	netlab="$(pwd)/${CARGO_TARGET_DIR:-target}/release/netlab"
	case "${CARGO_TARGET_DIR:-}" in /*) netlab="$CARGO_TARGET_DIR/release/netlab" ;; esac
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work skews the numbers)"
	exec env INSIDE=1 NETLAB="$netlab" ROOT="$(pwd)" unshare --mount --propagation private sh "$0" "$@"
fi

rounds=${1:-10}
now() { date +%s%N; }
# A scratch directory for /etc's entries, on a tmpfs of this mount namespace.
scratch=$(mktemp -d)
mount -t tmpfs tmpfs "$scratch"
trap 'umount -l "$scratch"; rmdir "$scratch"' EXIT

harness() {
	unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc sh -c \
		"mount -t tmpfs -o mode=755 tmpfs /run && mkdir /run/netns && mount -t tmpfs -o mode=755 tmpfs /etc/netns && mount -t sysfs sysfs /sys \
		 && ip link set lo up && $NETLAB up $1 && true && $NETLAB down $1"
}
run() { "$NETLAB" run "$1" -- true; }
run_user() { setpriv --reuid 65534 --regid 65534 --clear-groups "$NETLAB" run "$1" -- true; }
# /etc without netns: /etc's entries bound into a tmpfs, in a mount namespace of its own.
no_etc() {
	unshare --mount --propagation private sh -c \
		"mkdir -p $scratch/etc && mount --rbind /etc $scratch/etc && mount -t tmpfs tmpfs /etc && \
		 for e in $scratch/etc/*; do n=\${e#$scratch/etc/}; [ \$n = netns ] && continue; \
		   if [ -L \$e ]; then ln -s \$(readlink \$e) /etc/\$n; elif [ -d \$e ]; then mkdir /etc/\$n && mount --rbind \$e /etc/\$n; \
		   else touch /etc/\$n && mount --bind \$e /etc/\$n; fi; done; $2"
}
run_no_etc() { no_etc "$1" "$NETLAB run $1 -- true"; }
no_etc_host() { no_etc "$1" true; }

bench() {
	lab=$1
	echo "== $lab, $rounds rounds (ms per round: up, the command, down)"
	ways="harness run run_user run_no_etc no_etc_host"
	for way in $ways; do
		$way "$lab" >/dev/null 2>&1 || { echo "$way failed on $lab:"; $way "$lab"; exit 1; }
		eval "total_$way=0"
	done
	r=0
	while [ $r -lt "$rounds" ]; do
		for way in $ways; do
			t0=$(now)
			$way "$lab" >/dev/null 2>&1
			t1=$(now)
			eval "total_$way=\$((total_$way + t1 - t0))"
		done
		r=$((r + 1))
	done
	base=$((total_harness / rounds))
	for way in $ways; do
		eval "t=\$((total_$way / rounds))"
		awk -v w="$way" -v t="$t" -v b="$base" 'BEGIN {printf "%-12s %8.1f ms  %5.2f x harness\n", w, t / 1e6, t / b}'
	done
	awk -v a="$((total_run_no_etc / rounds))" -v b="$((total_no_etc_host / rounds))" -v r="$((total_run / rounds))" \
		'BEGIN {printf "netlab run without /etc/netns: %.1f ms, with it %.1f ms (its /etc shown again: %.1f ms)\n", (a - b) / 1e6, r / 1e6, (a - b - r) / 1e6}'
}

bench "$ROOT/topologies/veth-pair.toml"
if command -v redis-server >/dev/null; then
	bench "$ROOT/topologies/redis-cluster.toml"
fi
