#!/usr/bin/env bash
# Installs normlab into a temporary prefix (meson install), then builds and runs the out-of-tree
# example (examples/out_of_tree: its own Makefile, normlab found through pkg-config) against it, in
# the float build and in the double build (whose installed headers must say double).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/deps.sh"
deps_ensure
deps_tool make make
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for real in float double; do
    prefix=$tmp/prefix-$real
    meson setup "$tmp/build-$real" "$root" --prefix "$prefix" -Dreal=$real >/dev/null
    meson install -C "$tmp/build-$real" --quiet >/dev/null
    pc=$(dirname "$(find "$prefix" -name normlab.pc)")
    cp -r "$root/examples/out_of_tree" "$tmp/app-$real" # built where normlab's tree is not
    # warnings are errors here: what a user compiles against the installed headers builds cleanly
    PKG_CONFIG_PATH="$pc" make -s -C "$tmp/app-$real" CFLAGS="-O2 -Wall -Wextra -Werror"
    out=$("$tmp/app-$real/fit")
    echo "$real: $out"
    case $out in *"($real)"*) ;; *) echo "install_check: the installed headers do not say $real" >&2; exit 1 ;; esac
done
echo "install_check: the out-of-tree example built and trained against both installed builds"
