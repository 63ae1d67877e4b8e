# What the star-lab benchmarks share (bench/cpu-up-down.sh, bench/verify-up.sh): sourced,
# after setting `script` to the script's name, for messages.

say() { printf '%s\n' "$*" >&2; }
die() {
	say "$script: $*"
	exit 1
}

# Waits, untimed, until the kernel has destroyed the last lab's devices and namespaces.
settle() {
	i=0
	while [ -n "$(ip -o link show type veth)" ] || [ -n "$(ip netns list-id)" ]; do
		i=$((i + 1))
		[ "$i" -lt 6000 ] || die "the kernel still holds the last lab's devices after 60 s"
		sleep 0.01
	done
}

# The median of the numbers on standard input, one a line.
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# star SIZE DIR: a star lab of SIZE namespaces in DIR/star.toml (gen_topology, release).
star() {
	cargo build --release --quiet --example gen_topology
	"${CARGO_TARGET_DIR:-$PWD/target}/release/examples/gen_topology" star "$1" > "$2/star.toml"
}

# in_throwaway SCRIPT ARGS...: runs `sh SCRIPT --inner ARGS...` in a throwaway host of its
# own (unshare'd net, mount and pid namespaces, a private /run and /sys, as the live tests'
# tests/common): the machine's own network, /run/netns and /run/netlab are never touched.
in_throwaway() {
	inner_script=$1
	shift
	unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc sh -c '
		mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns &&
		mount -t sysfs sysfs /sys && ip link set lo up && exec sh "$@"' \
		sh "$inner_script" --inner "$@"
}
