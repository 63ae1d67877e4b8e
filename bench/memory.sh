#!/bin/sh
# Peak memory (max RSS) of `netlab validate` and `netlab plan` against the size of the
# topology file, on generated files, and how much of it toml's own parse takes.
# BASELINE=path/to/an/older/netlab runs that binary side by side. No root.
# Usage: bench/memory.sh
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin netlab --example gen_topology --example load_peak
netlab=./target/release/netlab
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Shapes: a million empty nodes (the most nodes per byte), 400,000 nodes that each name an
# unknown network (400,000 problems), the mixed lab of bench/plan.sh at 300,000 nodes, a
# 10 MB host name, and a 50 MB file (over the 16 MiB bound).
awk 'BEGIN { print "[lab]\nname = \"big\"\n"; for (i = 0; i < 1000000; i++) printf "[nodes.n%d]\n", i }' > "$dir/empty-1e6.toml"
awk 'BEGIN { print "[lab]\nname = \"big\"\n"; for (i = 0; i < 400000; i++) printf "[nodes.n%d]\nnetwork = \"x\"\n", i }' > "$dir/problems-4e5.toml"
./target/release/examples/gen_topology mixed 300000 > "$dir/mixed-3e5.toml"
awk 'BEGIN { printf "[lab]\nname = \"big\"\n[nodes.a]\nhostname = \""; for (i = 0; i < 10485760 / 64; i++) printf "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; print "_\"" }' > "$dir/hostname-10m.toml"
awk 'BEGIN { print "[lab]\nname = \"big\"\n"; for (i = 0; i < 51200; i++) printf "# %01000d\n", i }' > "$dir/comments-50m.toml"

peak() { # BINARY ARGS...: max RSS in KiB, whatever the exit code
    /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1
}
printf '%-18s %10s  %-8s %12s %7s' file bytes command "max RSS KiB" ratio
[ -n "${BASELINE:-}" ] && printf ' %14s %7s' "baseline KiB" ratio
printf '\n'
for f in empty-1e6 problems-4e5 mixed-3e5 hostname-10m comments-50m; do
    size=$(stat -c %s "$dir/$f.toml")
    for cmd in validate plan; do
        kib=$(peak $netlab $cmd "$dir/$f.toml")
        printf '%-18s %10d  %-8s %12d %6.1fx' $f $size $cmd $kib $(echo "$kib * 1024 / $size" | bc -l)
        if [ -n "${BASELINE:-}" ]; then
            base=$(peak "$BASELINE" $cmd "$dir/$f.toml")
            printf ' %14d %6.1fx' $base $(echo "$base * 1024 / $size" | bc -l)
        fi
        printf '\n'
    done
done
echo
echo "toml's own parse (toml::de::DeTable::parse), then netlab's spec and resolve, of the files under 16 MiB:"
for f in empty-1e6 problems-4e5 mixed-3e5; do
    size=$(stat -c %s "$dir/$f.toml")
    line="$f:"
    for stage in toml spec resolve; do
        kib=$(./target/release/examples/load_peak "$dir/$f.toml" $stage)
        line="$line  $stage $kib KiB ($(printf %.1f $(echo "$kib * 1024 / $size" | bc -l))x)"
    done
    echo "$line"
done
