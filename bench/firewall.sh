#!/usr/bin/env bash
# The firewall engine, measured: applying and reading back a lab table of N published
# ports with `nft -f` (netlab's text, what the engine does), `nft -j -f` (the same table as
# nft's JSON, what the nftables crate sends) and nf_tables netlink directly (a prototype
# that encodes the DNAT rules by hand). Each run happens in a network namespace of its own
# (examples/nft_engines.rs unshares one): root, and the host's firewall is never touched.
#
#   sudo bench/firewall.sh                # N = 10 100 1000 5000, median of 10 runs each
#   sudo RUNS=20 bench/firewall.sh 50 500
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example nft_engines >&2
bin="${CARGO_TARGET_DIR:-target}/release/examples/nft_engines"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000 5000)
nft --version
for n in "${sizes[@]}"; do
  "$bin" "$n" "${RUNS:-10}"
  echo
done
