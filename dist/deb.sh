#!/bin/sh
# Builds netlab's Debian package from the static binary dist/build.sh made, next to it:
# netlab_VERSION_ARCH.deb and netlab_VERSION_ARCH.deb.sha256. dpkg-deb is all it needs.
#
# What goes in follows the repository when it runs, not a list kept here: every man page
# in man/, the bash, zsh and fish completions in completions/, every topology in
# topologies/ as an example:
#
#   /usr/bin/netlab
#   /usr/share/man/man1/netlab*.1.gz                 (gzip -9n, as Debian policy wants)
#   /usr/share/bash-completion/completions/netlab
#   /usr/share/zsh/vendor-completions/_netlab
#   /usr/share/fish/vendor_completions.d/netlab.fish
#   /usr/share/doc/netlab/copyright, changelog.gz, README.md.gz, examples/*.toml
#
# The maintainer scripts (dist/debian/maintscript) say when labs are up on upgrade or
# removal. The maintainer is [package.metadata.deb] maintainer in Cargo.toml.
#
# Usage: dist/deb.sh [BINARY]     BINARY defaults to what dist/build.sh made for this machine.
set -eu
cd "$(dirname "$0")/.."
umask 022

metadata=$(cargo metadata --no-deps --format-version 1)
target_dir=$(printf '%s' "$metadata" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
maintainer=$(printf '%s' "$metadata" | sed -n 's/.*"deb":{"maintainer":"\([^"]*\)".*/\1/p')
# `path+file:///...#netlab@0.1.0` (or `#0.1.0`).
version=$(cargo pkgid | sed 's/.*[#@]//')
target=$(rustc -vV | sed -n 's/^host: //p')
arch=$(dpkg --print-architecture)
bin=${1:-$target_dir/dist/netlab-$version-$target}
[ -n "$target_dir" ] && [ -n "$maintainer" ] && [ -n "$version" ] && [ -n "$target" ] || {
    echo "dist/deb.sh: cannot tell the target directory, the maintainer, the version or the host triple" >&2
    exit 1
}
[ -x "$bin" ] || { echo "dist/deb.sh: no binary at $bin: run dist/build.sh first" >&2; exit 1; }
[ "$("$bin" -V)" = "netlab $version" ] || {
    echo "dist/deb.sh: $bin is not netlab $version but $("$bin" -V): run dist/build.sh again" >&2
    exit 1
}
# `netlab 0.1.0 (commit 74eebcac79b0)`
commit=$("$bin" --version | sed -n 's/.*(commit \(.*\))$/\1/p')
# Reproducible: the same commit gives the same package (dates in the changelog, mtimes).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

out="$target_dir/dist"
mkdir -p "$out"
stage=$(mktemp -d "$out/deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
doc="$stage/usr/share/doc/netlab"

install -D -m 0755 "$bin" "$stage/usr/bin/netlab"
mkdir -p "$stage/usr/share/man/man1"
for page in man/*.1; do
    gzip -9n <"$page" >"$stage/usr/share/man/man1/${page##*/}.gz"
done
install -D -m 0644 completions/netlab.bash "$stage/usr/share/bash-completion/completions/netlab"
install -D -m 0644 completions/_netlab "$stage/usr/share/zsh/vendor-completions/_netlab"
install -D -m 0644 completions/netlab.fish "$stage/usr/share/fish/vendor_completions.d/netlab.fish"
mkdir -p "$doc/examples"
install -m 0644 topologies/*.toml "$doc/examples/"
gzip -9n <README.md >"$doc/README.md.gz"
chmod 0644 "$stage"/usr/share/man/man1/* "$doc/README.md.gz"

# A native package's changelog (there is no upstream one): which netlab this is.
gzip -9n >"$doc/changelog.gz" <<EOF
netlab ($version) unstable; urgency=medium

  * netlab $version, built from commit $commit.

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
chmod 0644 "$doc/changelog.gz"

# The binary is static: the C library and every crate it links are in it, so their
# licences are named here too.
case $target in
*-gnu*) libc="the GNU C Library $(getconf GNU_LIBC_VERSION | sed 's/^glibc //'), LGPL-2.1+, /usr/share/common-licenses/LGPL-2.1" ;;
*-musl*) libc="musl libc, MIT" ;;
*) libc="the C library of $target" ;;
esac
crates=$(cargo tree --locked --offline --target "$target" -e normal,no-proc-macro --prefix none \
    --format '{p}|{l}' | grep -v '^netlab ' | sed 's/ (\*)$//; s/|/ /' | sort -u | sed 's/^/ /')
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: netlab
Comment: /usr/bin/netlab is statically linked. Besides netlab it contains
 $libc,
 and these Rust crates, each under the licence named:
 .
$crates

Files: *
Copyright: the netlab developers
License: MIT or Apache-2.0

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.

License: Apache-2.0
 On Debian systems, the complete text of the Apache License, Version 2.0, is
 in /usr/share/common-licenses/Apache-2.0.
EOF
chmod 0644 "$doc/copyright"

mkdir -p "$stage/DEBIAN"
install -m 0755 dist/debian/maintscript "$stage/DEBIAN/prerm"
install -m 0755 dist/debian/maintscript "$stage/DEBIAN/postinst"
(cd "$stage" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$stage/DEBIAN/md5sums"
cat >"$stage/DEBIAN/control" <<EOF
Package: netlab
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk "$stage/usr" | cut -f1)
Section: net
Priority: optional
Suggests: iproute2
Description: declarative Linux network labs from one TOML file
 netlab turns a declarative TOML topology into real Linux networking: network
 namespaces, veth pairs, bridges, ipip, vxlan and udp tunnels, addresses,
 routes, sysctls and Docker's network modes. \`netlab plan\` prints the ordered
 kernel operations without touching anything, \`netlab up\` builds or converges
 a lab and \`netlab down\` removes it.
 .
 The binary is static and speaks netlink itself: it needs no iproute2 (which
 runs the scripts \`netlab plan --format ip\` prints). Example topologies are in
 /usr/share/doc/netlab/examples.
EOF

deb="netlab_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/$deb.tmp" >/dev/null
mv "$out/$deb.tmp" "$out/$deb"
(cd "$out" && sha256sum "$deb" >"$deb.sha256")
echo "$out/$deb: $(wc -c <"$out/$deb") bytes"
cat "$out/$deb.sha256"
