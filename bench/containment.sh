#!/bin/sh
# How to keep a lab's processes together so that `down` ends all of them, even the ones
# that daemonized, even after `up` was killed: a PID namespace whose PID 1 is netlab's
# reaper (what netlab does), side by side with a cgroup v2 (cgroup.kill), on what decides:
#
#   escape      can a process get out? (a daemon that double-forks and setsid()s; a root
#               process that tries to leave on purpose)
#   start       the cost of the container itself (a PID namespace and its init, or a
#               cgroup directory) and of putting N processes in it
#   end         from "stop everything" to "nothing left", with N processes inside
#   unprivileged  whether an ordinary user (in a user namespace, as `netlab run` is) can
#               make one at all
#
# Usage: bench/containment.sh [N] [ROUNDS]      (as root; default 200 processes, 5 rounds)
# Everything runs inside a throwaway `unshare --pid --mount` (so nothing outlives the
# script); the cgroups are made under the cgroup2 hierarchy (/sys/fs/cgroup/unified on
# this machine, else /sys/fs/cgroup) and removed at the end.
set -eu

n=${1:-200}
rounds=${2:-5}
if [ "${INSIDE:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "containment.sh: run as root" >&2; exit 1; }
  exec env INSIDE=1 unshare --mount --propagation private --pid --fork --kill-child --mount-proc sh "$0" "$n" "$rounds"
fi

cg2=/sys/fs/cgroup/unified
[ -f $cg2/cgroup.procs ] || cg2=/sys/fs/cgroup
base=$cg2/netlab-bench-$$
mkdir "$base"
trap 'for d in "$base"/*/ "$base"; do [ -d "$d" ] && { echo 1 > "$d/cgroup.kill" 2>/dev/null; rmdir "$d" 2>/dev/null; }; done; true' EXIT

now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) / 1e6}'; }

# A script that starts N processes, half of them daemons that leave their parent (setsid,
# re-parented), then says "started".
spawn_n="i=0; while [ \$i -lt $n ]; do if [ \$((i % 2)) = 0 ]; then sleep 1000 & else setsid sleep 1001 </dev/null >/dev/null 2>&1 & fi; i=\$((i + 1)); done; echo started"

count_sleeps() { pgrep -c -x sleep || true; }

echo "== escape"
# PID namespace: a daemon is re-parented to the namespace's init, and nothing a process
# does (setsid, double fork, setns, being root) takes it out of its PID namespace.
unshare --pid --fork --kill-child sh -c 'setsid sh -c "sleep 1002 &" ; sleep 0.1; echo $(pgrep -c -x sleep)' >/tmp/cb.$$ &
holder=$!
sleep 0.3
echo "pid ns: daemon's PID namespace is the lab's: $( [ "$(readlink /proc/"$(pgrep -x -n sleep)"/ns/pid)" != "$(readlink /proc/self/ns/pid)" ] && echo yes || echo no)"
kill -9 $holder 2>/dev/null || true
wait $holder 2>/dev/null || true
sleep 0.1
echo "pid ns: after its init is killed, sleeps left: $(count_sleeps)"
# cgroup: the daemon stays in the cgroup, but a root process can move itself out.
mkdir "$base/escape"
sh -c "echo \$\$ > $base/escape/cgroup.procs; setsid sh -c 'sleep 1003 &'; sh -c 'echo \$\$ > $cg2/cgroup.procs; exec sleep 1004' &"
sleep 0.2
echo 1 > "$base/escape/cgroup.kill"
sleep 0.1
echo "cgroup: after cgroup.kill, left: $(pgrep -a -x sleep | awk '{print $2, $3}' | tr '\n' ' ') (a root process that wrote itself into another cgroup escaped)"
pkill -x sleep || true
rmdir "$base/escape"

echo "== start and end, $n processes (half daemonized), $rounds rounds"
tp_start=0; tp_end=0; tc_start=0; tc_end=0
r=0
while [ $r -lt "$rounds" ]; do
  # PID namespace: unshare's child is PID 1 (the reaper); killing it ends the namespace.
  t0=$(now)
  unshare --pid --fork --kill-child sh -c "$spawn_n; exec sleep 1000" > /tmp/cb.$$ 2>/dev/null &
  holder=$!
  while [ "$(cat /tmp/cb.$$ 2>/dev/null)" != started ]; do sleep 0.001; done
  t1=$(now)
  kill -9 $holder
  wait $holder 2>/dev/null || true
  while [ "$(count_sleeps)" != 0 ]; do sleep 0.001; done
  t2=$(now)
  tp_start=$(awk -v a="$tp_start" -v d="$(ms "$t0" "$t1")" 'BEGIN {print a + d}')
  tp_end=$(awk -v a="$tp_end" -v d="$(ms "$t1" "$t2")" 'BEGIN {print a + d}')

  # cgroup: a directory, the processes written into it, cgroup.kill, wait until empty, rmdir.
  t0=$(now)
  mkdir "$base/r$r"
  sh -c "echo \$\$ > $base/r$r/cgroup.procs; $spawn_n" > /tmp/cb.$$
  t1=$(now)
  echo 1 > "$base/r$r/cgroup.kill"
  while grep -q 'populated 1' "$base/r$r/cgroup.events"; do sleep 0.001; done
  rmdir "$base/r$r"
  t2=$(now)
  tc_start=$(awk -v a="$tc_start" -v d="$(ms "$t0" "$t1")" 'BEGIN {print a + d}')
  tc_end=$(awk -v a="$tc_end" -v d="$(ms "$t1" "$t2")" 'BEGIN {print a + d}')
  r=$((r + 1))
done
awk -v ps="$tp_start" -v pe="$tp_end" -v cs="$tc_start" -v ce="$tc_end" -v r="$rounds" 'BEGIN {
  printf "%-14s %10s %10s\n", "", "start ms", "end ms";
  printf "%-14s %10.1f %10.1f\n", "pid namespace", ps / r, pe / r;
  printf "%-14s %10.1f %10.1f\n", "cgroup v2", cs / r, ce / r;
  printf "%-14s %10.2f %10.2f\n", "ratio pid/cg", ps / cs, pe / ce }'

echo "== unprivileged (uid 65534, in a user namespace of its own)"
if setpriv --reuid 65534 --regid 65534 --clear-groups unshare -r --pid --fork sh -c 'sleep 0 & wait' 2>/dev/null; then
  echo "pid ns: yes"
else
  echo "pid ns: no"
fi
if setpriv --reuid 65534 --regid 65534 --clear-groups unshare -r sh -c "mkdir $base/user" 2>/dev/null; then
  echo "cgroup: yes"
  rmdir "$base/user"
else
  echo "cgroup: no ($(setpriv --reuid 65534 --regid 65534 --clear-groups unshare -r sh -c "mkdir $base/user" 2>&1 | sed 's/.*: //'))"
fi
rm -f /tmp/cb.$$
