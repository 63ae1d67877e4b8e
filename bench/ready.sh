#!/bin/sh
# What a `tcp:PORT` readiness check costs, by the two ways the kernel tells which sockets
# listen in a namespace, side by side, as the namespace holds more sockets:
#   procfs     /proc/net/tcp and tcp6 read whole (what netlab reads, from a thread that
#              entered the namespace), then searched for the port
#   sock_diag  an inet_diag query for listening sockets on that port (what `ss` sends)
# Both are timed as a process that does one query (cat + grep, ss), ITER times, so the
# process start costs the same on both sides; the difference is the kernel's work and
# the text to parse. With N sockets listening on other ports (one python3 process holds them).
# Usage: bench/ready.sh [ITER] [N...]      (as root; default 200 iterations; 10 1000 10000 sockets)
set -eu

if [ "${INSIDE:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "bench/ready.sh: run as root" >&2; exit 1; }
	exec env INSIDE=1 unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc sh "$0" "$@"
fi
iter=${1:-200}
shift || true
sizes=${*:-10 1000 10000}
ip link set lo up
ulimit -n "$(ulimit -Hn)"
now() { date +%s%N; }
for n in $sizes; do
	python3 -c "
import socket, sys, time
socks = []
for i in range($n):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', 20000 + i)); s.listen(); socks.append(s)
print('ready', flush=True); time.sleep(3600)" > /tmp/ready-bench.$$ &
	holder=$!
	while [ "$(cat /tmp/ready-bench.$$)" != ready ]; do sleep 0.05; done
	# The port looked for is the last one: the whole table is read either way.
	port=$((20000 + n - 1))
	hex=$(printf '%04X' $port)
	t0=$(now); i=0
	while [ $i -lt "$iter" ]; do cat /proc/net/tcp /proc/net/tcp6 | grep -q ":$hex 00000000:0000 0A"; i=$((i + 1)); done
	t1=$(now); i=0
	while [ $i -lt "$iter" ]; do ss -Hltn "sport = :$port" | grep -q .; i=$((i + 1)); done
	t2=$(now)
	awk -v n="$n" -v a="$((t1 - t0))" -v b="$((t2 - t1))" -v it="$iter" 'BEGIN {
		printf "%6d sockets: procfs %7.2f ms, sock_diag %7.2f ms per check (procfs/sock_diag %.2f)\n", n, a / it / 1e6, b / it / 1e6, a / b }'
	kill $holder
	wait $holder 2>/dev/null || true
	rm -f /tmp/ready-bench.$$
done
