#!/bin/sh
# Builds netlab as one statically linked, stripped release binary for this machine's
# architecture, with its SHA-256 checksum, in the target directory (CARGO_TARGET_DIR, else
# ./target) under dist/:
#
#   netlab-VERSION-TARGET          the binary: no program interpreter, no shared libraries
#   netlab-VERSION-TARGET.sha256   `sha256sum -c netlab-VERSION-TARGET.sha256` checks it
#
# TARGET is rustc's host triple (x86_64-unknown-linux-gnu here). It is passed explicitly
# because only then does cargo keep RUSTFLAGS away from build scripts and proc-macros,
# which must stay dynamic for rustc to load them; without --target they fail to build.
# dist/deb.sh packages the binary this makes.
set -eu
cd "$(dirname "$0")/.."

# Cargo's own answer honours CARGO_TARGET_DIR and build.target-dir alike.
target_dir=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$target_dir" ] && [ -n "$target" ] || {
    echo "dist/build.sh: cannot tell cargo's target directory or rustc's host triple" >&2
    exit 1
}

# Stripped by the linker, and no debug info to strip: the release profile keeps line
# tables for backtraces, which a 6 MB download does without.
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
CARGO_PROFILE_RELEASE_STRIP=true \
CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo build --release --locked --target "$target" --bin netlab

built="$target_dir/$target/release/netlab"
version=$("$built" -V | sed -n 's/^netlab //p')
name="netlab-$version-$target"
mkdir -p "$target_dir/dist"
cp "$built" "$target_dir/dist/$name.tmp"
mv "$target_dir/dist/$name.tmp" "$target_dir/dist/$name"
(cd "$target_dir/dist" && sha256sum "$name" >"$name.sha256")

echo "$target_dir/dist/$name: $(wc -c <"$target_dir/dist/$name") bytes"
cat "$target_dir/dist/$name.sha256"
