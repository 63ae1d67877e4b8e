#!/bin/sh
# What a lab's firewall costs at up and down: docker-modes.toml as shipped (nat = true on
# both bridges, a published port: a conntrack flush, two nft transactions, a table read
# back per observe, hairpin and classes) against the same file with its nat and ports taken
# out, the same netlab binary, in one throwaway host (unshare'd net, mount and pid
# namespaces, private /run, /etc/netns and /sys), alternating, RUNS rounds (default 10).
# Prints the medians of wall time (ms) and netlab's CPU time (user + system, ms) of each.
#
# Usage: sudo bench/nat-up-down.sh [NETLAB]        (default target/release/netlab)
set -eu
cd "$(dirname "$0")/.."
nl=${1:-target/release/netlab}
[ -x "$nl" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
dir=$(mktemp -d)
sed -e '/^nat = true$/d' -e '/^ports = /d' topologies/docker-modes.toml > "$dir/plain.toml"
cp topologies/docker-modes.toml "$dir/nat.toml"

cat > "$dir/inner.sh" <<INNER
set -eu
mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns /etc/netns
mount -t tmpfs -o mode=755 tmpfs /etc/netns && mount -t sysfs sysfs /sys && ip link set lo up
: > $dir/runs
for r in \$(seq 1 ${RUNS:-10}); do
  for which in plain nat; do
    for cmd in up down; do
      s=\$(date +%s%N)
      /usr/bin/time -f '%U %S' -o $dir/t $nl \$cmd $dir/\$which.toml > /dev/null
      e=\$(date +%s%N)
      awk -v w="\$which \$cmd" -v ms=\$(( (e - s) / 1000000 )) '{printf "%s %d %.0f\n", w, ms, (\$1 + \$2) * 1000}' $dir/t >> $dir/runs
    done
    while [ -n "\$(ip -o link show type veth)" ]; do sleep 0.01; done
  done
done
INNER
unshare --net --mount --propagation private --pid --fork --mount-proc sh "$dir/inner.sh"
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for what in "plain up" "nat up" "plain down" "nat down"; do
  wall=$(grep "^$what " "$dir/runs" | awk '{print $3}' | median)
  cpu=$(grep "^$what " "$dir/runs" | awk '{print $4}' | median)
  printf '%-10s wall median %4d ms   netlab cpu median %4d ms   (%d runs)\n' "$what" "$wall" "$cpu" "$(grep -c "^$what " "$dir/runs")"
done
rm -rf "$dir"
