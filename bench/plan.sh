#!/bin/sh
# How long `netlab plan` takes on a generated 10,000-namespace lab (50 bridges, 11,000 veth
# pairs, 1,000 routes: about 86,000 ops), text and JSON. Needs hyperfine (apt install hyperfine).
# Usage: bench/plan.sh [NODES]
set -eu
cd "$(dirname "$0")/.."
n=${1:-10000}
cargo build --release --quiet --bin netlab --example gen_topology
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
./target/release/examples/gen_topology mixed "$n" > "$dir/lab.toml"
./target/release/netlab validate "$dir/lab.toml"
hyperfine --warmup 2 --runs 20 \
  -n "validate ($n nodes)" "./target/release/netlab validate $dir/lab.toml" \
  -n "plan text ($n nodes)" "./target/release/netlab plan $dir/lab.toml" \
  -n "plan json ($n nodes)" "./target/release/netlab plan --format json $dir/lab.toml" \
  -n "plan --down ($n nodes)" "./target/release/netlab plan --down $dir/lab.toml"
