#!/bin/sh
# What reading back costs `up`: wall and CPU time of `netlab up` and of `netlab up --verify`
# of a star lab, side by side, and the read back's own share of each `up --verify`
# (its NETLAB_TIMINGS line `verify`). Issue 12's budget: at most 15 % of up's wall time on
# the 1000-namespace star, or reading back is not the default (it is `--verify`).
#
# Usage: bench/verify-up.sh [SIZE]      (as root; SIZE default 1000)
#
# Builds netlab in release mode (or uses $NETLAB). In one throwaway host (unshare'd net,
# mount and pid namespaces, private /run and /sys, as bench/cpu-up-down.sh), RUNS rounds
# (default 9) each time `up` then `up --verify` (alternating, so load from other programs
# falls on both alike), each followed by an untimed `down` and a wait until the kernel has
# destroyed the lab's devices. Prints each run, then the medians: wall and CPU (user +
# sys, /usr/bin/time) of each, the read back in ms, and its share of its own `up`.
set -eu

script=verify-up.sh
. "$(dirname "$0")/lib.sh"

inner() {
	nl=$1 lab=$2 runs=$3 dir=$4
	out=$dir/runs
	: > "$out"
	for r in $(seq 1 "$runs"); do
		for which in plain verify; do
			flag=
			[ "$which" = verify ] && flag=--verify
			settle
			NETLAB_TIMINGS=1 /usr/bin/time -f '%e %U %S' -o "$dir/t" "$nl" up $flag "$lab" > /dev/null 2> "$dir/timings" ||
				die "up $flag failed: $(tail -n 5 "$dir/timings")"
			verify=$(awk '/^timing: verify /{print $(NF - 1)}' "$dir/timings")
			awk -v w="$which" -v v="${verify:-0}" '{printf "%s %.3f %.3f %s\n", w, $1, $2 + $3, v}' "$dir/t" >> "$out"
			"$nl" down "$lab" > /dev/null
			say "  round $r up $flag: $(tail -n 1 "$out" | awk '{printf "wall %s s, cpu %s s, read back %s ms", $2, $3, $4}')"
		done
	done
	for which in plain verify; do
		wall=$(awk -v w="$which" '$1 == w {print $2}' "$out" | median)
		cpu=$(awk -v w="$which" '$1 == w {print $3}' "$out" | median)
		printf '%-6s up: median wall %s s, median CPU %s s (runs: %s)\n' "$which" "$wall" "$cpu" "$runs"
	done
	verify=$(awk '$1 == "verify" {print $4}' "$out" | median)
	share=$(awk '$1 == "verify" {printf "%.1f\n", 100 * $4 / 1000 / $2}' "$out" | median)
	printf 'read back: median %s ms, median share of its up --verify %s %%\n' "$verify" "$share"
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "needs root (it builds namespaces, in a throwaway host)"
n=${1:-1000}
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${NETLAB:-}" ]; then
	cargo build --release --quiet
	NETLAB=$target/release/netlab
fi
dir=$(mktemp -d /tmp/netlab-verify.XXXXXX)
star "$n" "$dir"
say "== star $n: netlab up against up --verify ($NETLAB); load: $(cut -d' ' -f1-3 /proc/loadavg)"
in_throwaway "$self" "$(realpath "$NETLAB")" "$dir/star.toml" "${RUNS:-9}" "$dir" | tee "$dir/medians"
rm -f "$dir/star.toml"
say "runs and medians: $dir"
