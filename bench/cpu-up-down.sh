#!/bin/sh
# netlab's own CPU time (user + system) for `up` and for `down` of a star lab, two netlab
# binaries side by side: the gate for changes that must not make netlab slower. Wall time
# is too noisy on a shared machine to gate on; CPU time of netlab's own process (and its
# threads) is what a change to netlab moves.
#
# Usage: bench/cpu-up-down.sh BEFORE AFTER [SIZE]      (as root; SIZE default 1000)
#
# BEFORE and AFTER are netlab binaries (e.g. one built from main in a worktree, and this
# tree's target/release/netlab). In one throwaway host (unshare'd net, mount and pid
# namespaces, private /run and /sys, as bench/up-down.sh), RUNS rounds (default 5) each
# run `up` then `down` with BEFORE, then with AFTER (alternating, so load from other
# programs falls on both alike), timed by /usr/bin/time. Between runs, untimed, it waits
# until the kernel has destroyed the last lab's devices. Prints each run and the medians.
set -eu

script=cpu-up-down.sh
. "$(dirname "$0")/lib.sh"

# One timed netlab command; appends "WHAT CPU_SECONDS" to $out.
timed() {
	what=$1
	shift
	/usr/bin/time -f '%U %S' -o "$dir/t" "$@" > /dev/null
	awk -v w="$what" '{printf "%s %.3f\n", w, $1 + $2}' "$dir/t" >> "$out"
}

inner() {
	before=$1 after=$2 lab=$3 runs=$4 dir=$5
	out=$dir/runs
	: > "$out"
	for r in $(seq 1 "$runs"); do
		for which in before after; do
			eval "nl=\$$which"
			settle
			timed "$which up" "$nl" up "$lab"
			timed "$which down" "$nl" down "$lab"
			say "  round $r $which: $(tail -n 2 "$out" | awk '{printf "%s %s s  ", $2, $3}')"
		done
	done
	for what in "before up" "after up" "before down" "after down"; do
		grep "^$what " "$out" | awk '{print $3}' | sort -n |
			awk -v w="$what" '{v[NR] = $1} END {printf "%-12s median %.3f s CPU (runs: %d)\n", w, v[int((NR + 1) / 2)], NR}'
	done
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit 0
fi

[ $# -ge 2 ] || die "usage: bench/cpu-up-down.sh BEFORE AFTER [SIZE]"
[ "$(id -u)" -eq 0 ] || die "needs root (it builds namespaces, in a throwaway host)"
before=$(realpath "$1") after=$(realpath "$2") n=${3:-1000}
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/netlab-cpu.XXXXXX)
star "$n" "$dir"
say "== star $n: netlab CPU time (user + sys), $before (before) against $after (after)"
in_throwaway "$self" "$before" "$after" "$dir/star.toml" "${RUNS:-5}" "$dir" | tee "$dir/medians"
rm -f "$dir/star.toml"
say "runs and medians: $dir"
