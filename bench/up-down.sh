#!/bin/sh
# How long building and removing a star lab takes: netlab against iproute2, side by side.
#
# Usage: bench/up-down.sh [SIZE...]      (as root; default sizes: 50 200 1000)
#
# For each SIZE, `gen_topology star SIZE` (SIZE namespaces on one host bridge, each with a
# veth port, an address, lo up and a default route) is built and removed four ways, timed
# by one hyperfine run inside one throwaway host (unshare'd net, mount and pid namespaces
# with a private /run and /sys; the machine's own network is never touched):
#   netlab                 netlab up star.toml && netlab down star.toml (release build)
#   ip script              `netlab plan --format ip` and `plan --down --format ip`, run by sh:
#                          one ip process per op
#   ip -batch              one `ip -batch` for the host's part, one `ip -n NS -batch` per
#                          namespace; down is one `ip -batch` (netns del each, bridge del)
#   ip -batch, down waits  the same, then waits until no veth is left in the host (netns
#                          deletion is asynchronous: `ip netns del` returns before the kernel
#                          has destroyed the devices; `netlab down` returns when they are gone)
# Before timing, each way is run once and checked: the same namespaces, links, addresses and
# routes as netlab's lab, and a ping between the first and the last namespace.
# Then a table: mean wall time per size, netlab / ip -batch ratios, growth between the last
# two sizes. hyperfine's JSON and markdown stay in a temp dir (printed at the end).
#
# Environment: RUNS (runs per size; default 10, and 3 for sizes of 1000 and more), WARMUP
# (default 0), NETLAB (a netlab binary to use instead of building one), KEEP=1 (keep the
# generated labs too). Needs hyperfine, jq, iproute2, util-linux; see bench/README.md.
set -eu

say() { printf '%s\n' "$*" >&2; }
die() {
	say "up-down.sh: $*"
	exit 1
}

# --- inside the throwaway host -------------------------------------------------------------

# Waits until the kernel has finished removing the previous lab: no veth left in the host,
# no peer namespace id left (both go when a namespace's cleanup runs). Untimed (--prepare).
settle() {
	i=0
	while [ -n "$(ip -o link show type veth)" ] || [ -n "$(ip netns list-id)" ]; do
		i=$((i + 1))
		[ "$i" -lt 6000 ] || die "the kernel still holds the last lab's devices after 60 s"
		sleep 0.01
	done
}

# The lab as the kernel has it, without what differs from build to build (ifindexes, MACs,
# IPv6 link-local addresses, netlab's own marks, the order things were made in): per
# namespace ("host" for the root one), each link's name, admin state, mtu and master, its
# IPv4 addresses and its routes, one sorted line each.
fingerprint() {
	printf 'link show\naddr show\nroute show\n' > "$1.cmds"
	{
		echo "== host"
		ip -o -batch "$1.cmds"
		for ns in $(ip netns list | awk '{print $1}' | sort); do
			echo "== $ns"
			ip -o -n "$ns" -batch "$1.cmds"
		done
	} 2>&1 | awk '
		/^== / { sec = $2; next }
		/^[0-9]+: [^ ]+: </ {
			name = $2; sub(/:$/, "", name); sub(/@.*/, "", name)
			up = ($3 ~ /[<,]UP[,>]/) ? "up" : "down"
			master = "-"; mtu = "?"
			for (i = 4; i < NF; i++) { if ($i == "master") master = $(i + 1); if ($i == "mtu") mtu = $(i + 1) }
			print sec, "link", name, up, "mtu", mtu, "master", master; next
		}
		/^[0-9]+: [^ ]+ +inet / { print sec, "addr", $2, $4; next }
		/^[0-9]+: [^ ]+ +inet6 / { next }
		{ print sec, "route", $0 }
	' | LC_ALL=C sort > "$1"
	ip netns list | awk '{print $1}' | sort -V > "$1.netns"
}

# Checks the lab that is up: SIZE namespaces, the same lab as netlab's, a ping across it.
check_up() {
	what=$1
	fingerprint "$lab/fp.$what"
	count=$(wc -l < "$lab/fp.$what.netns")
	[ "$count" -eq "$n" ] || die "$what: $count namespaces, not $n"
	veths=$(ip -o link show type veth | wc -l)
	[ "$veths" -eq "$n" ] || die "$what: $veths veths in the host, not $n"
	links=$(grep -c '^[^ ]* link ' "$lab/fp.$what")
	[ "$links" -eq $((3 * n + 2)) ] || die "$what: $links links in all, not $((3 * n + 2))"
	if [ "$what" != netlab ]; then
		diff -u "$lab/fp.netlab" "$lab/fp.$what" > "$lab/fp.$what.diff" ||
			die "$what builds another lab than netlab: $lab/fp.$what.diff"
	fi
	first=$(head -n 1 "$lab/fp.$what.netns")
	last=$(tail -n 1 "$lab/fp.$what.netns")
	to=$(ip -n "$last" -4 -o addr show dev eth0 | awk '{sub(/\/.*/, "", $4); print $4}')
	ip netns exec "$first" ping -c 1 -W 5 "$to" > /dev/null || die "$what: $first cannot ping $last ($to)"
	say "  $what: $count namespaces, $links links ($veths host veths), same lab as netlab's, $first pings $last ($to)"
}

check_down() {
	what=$1
	left=$(ip netns list | wc -l)
	[ "$left" -eq 0 ] || die "$what: $left namespaces left after down"
	bridges=$(ip -o link show type bridge | wc -l)
	[ "$bridges" -eq 0 ] || die "$what: $bridges bridges left after down"
	say "  $what, after down: no namespace or bridge left; $(ip -o link show type veth | wc -l) host veths not yet destroyed"
}

inner() {
	n=$1 lab=$2 netlab=$3 runs=$4 warmup=$5 out=$6
	cd "$lab"
	say "== star $n, in throwaway host (pid $$): checking each way once"
	"$netlab" up star.toml > /dev/null
	check_up netlab
	"$netlab" down star.toml > /dev/null
	check_down netlab
	settle
	sh up.sh
	check_up "ip script"
	sh down.sh
	check_down "ip script"
	settle
	sh batch-up.sh
	check_up "ip -batch"
	sh batch-down.sh
	check_down "ip -batch"
	sh wait-veth.sh
	check_down "ip -batch, down waits"
	settle
	say "== star $n: timing; load average $(cut -d' ' -f1-3 /proc/loadavg) (other programs' load shows in the times)"
	hyperfine --runs "$runs" --warmup "$warmup" --prepare "sh $0 --settle" \
		--export-json "$out/star$n.json" --export-markdown "$out/star$n.md" \
		-n netlab "$netlab up star.toml > /dev/null && $netlab down star.toml > /dev/null" \
		-n "ip script" "sh up.sh && sh down.sh" \
		-n "ip -batch" "sh batch-up.sh && sh batch-down.sh" \
		-n "ip -batch, down waits" "sh batch-up.sh && sh batch-down.sh && sh wait-veth.sh"
}

case "${1:-}" in
--settle)
	settle
	exit 0
	;;
--inner)
	shift
	inner "$@"
	exit 0
	;;
esac

# --- outside: build, generate, one throwaway host per size, the table -----------------------

[ "$(id -u)" -eq 0 ] || die "needs root (it builds namespaces, in a throwaway host)"
for tool in hyperfine jq ip unshare; do
	command -v "$tool" > /dev/null || die "needs $tool (apt-get install -y $tool)"
done
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bin netlab --example gen_topology
netlab=${NETLAB:-$target/release/netlab}
gen=$target/release/examples/gen_topology
[ $# -gt 0 ] || set -- 50 200 1000
dir=$(mktemp -d /tmp/netlab-up-down.XXXXXX)
out=$dir/results
mkdir -p "$out"

for n in "$@"; do
	lab=$dir/star$n
	mkdir -p "$lab/ns"
	"$gen" star "$n" > "$lab/star.toml"
	"$netlab" plan --format ip "$lab/star.toml" > "$lab/up.sh"
	"$netlab" plan --down --format ip "$lab/star.toml" > "$lab/down.sh"
	# ip -batch files from the ip script: `ip -n NS CMD` lines go to NS's own batch, the
	# other `ip CMD` lines to the host's; down deletes the namespaces and the bridge.
	awk -v lab="$lab" '
		/^#/ || /^set -e$/ || /^$/ { next }
		/^ip -n / {
			ns = $3; sub(/^ip -n [^ ]+ /, "")
			if (!(ns in seen)) { seen[ns] = 1; order[++k] = ns }
			f = lab "/ns/" ns; print >> f; close(f); next
		}
		/^ip / {
			sub(/^ip /, ""); print > (lab "/host.up")
			if ($1 == "netns" && $2 == "add") nss[++m] = $3
			if ($1 == "link" && $2 == "add" && $NF == "bridge" && $(NF - 1) == "type") br[++b] = $3
			next
		}
		{ print "unexpected line in the ip script: " $0 > "/dev/stderr"; bad = 1 }
		END {
			if (bad) exit 1
			print "set -e" > (lab "/batch-up.sh")
			print "ip -batch " lab "/host.up" > (lab "/batch-up.sh")
			for (i = 1; i <= k; i++) print "ip -n " order[i] " -batch " lab "/ns/" order[i] > (lab "/batch-up.sh")
			for (i = m; i >= 1; i--) print "netns del " nss[i] > (lab "/host.down")
			for (i = b; i >= 1; i--) print "link del dev " br[i] > (lab "/host.down")
			print "ip -batch " lab "/host.down" > (lab "/batch-down.sh")
		}
	' "$lab/up.sh"
	cat > "$lab/wait-veth.sh" << 'EOF'
# Waits until the kernel has destroyed the namespaces' devices: no veth left in the host.
while [ -n "$(ip -o link show type veth)" ]; do sleep 0.01; done
EOF
	if [ -n "${RUNS:-}" ]; then runs=$RUNS; elif [ "$n" -ge 1000 ]; then runs=3; else runs=10; fi
	unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc sh -c '
		mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns &&
		mount -t sysfs sysfs /sys && ip link set lo up && exec sh "$@"' \
		sh "$self" --inner "$n" "$lab" "$netlab" "$runs" "${WARMUP:-0}" "$out"
	[ "${KEEP:-0}" = 1 ] || rm -rf "$lab"
done

# --- the table ----------------------------------------------------------------------------

mean() { # mean of method $2 at size $1, in seconds
	jq -r --arg m "$2" '.results[] | select(.command == $m) | .mean' "$out/star$1.json"
}
sizes=$*
prev='' last=''
for n in "$@"; do prev=$last last=$n; done
{
	printf '%-30s' "method"
	for n in $sizes; do printf ' | %17s' "star $n"; done
	[ -z "$prev" ] || printf ' | %13s' "growth $last/$prev"
	printf '\n'
	for m in netlab "ip script" "ip -batch" "ip -batch, down waits"; do
		printf '%-30s' "$m"
		for n in $sizes; do
			jq -r --arg m "$m" '.results[] | select(.command == $m) | "\(.mean) \(.stddev // 0)"' \
				"$out/star$n.json" | awk '{printf " | %7.3f s ± %5.3f", $1, $2}'
		done
		[ -z "$prev" ] || awk -v a="$(mean "$last" "$m")" -v b="$(mean "$prev" "$m")" \
			'BEGIN {printf " | %12.2fx", a / b}'
		printf '\n'
	done
	for m in "ip -batch" "ip -batch, down waits"; do
		printf '%-30s' "netlab / $m"
		for n in $sizes; do
			awk -v a="$(mean "$n" netlab)" -v b="$(mean "$n" "$m")" 'BEGIN {printf " | %17.2f", a / b}'
		done
		printf '\n'
	done
} | tee "$out/table.txt"
[ -z "$prev" ] || say "(linear growth $last/$prev would be $(awk -v a="$last" -v b="$prev" 'BEGIN {printf "%.2f", a / b}')x)"
say "hyperfine JSON and markdown, and this table: $out"
