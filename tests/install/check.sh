#!/usr/bin/env bash
# Installs rig from a build directory into a temporary prefix, builds tests/install (a program
# outside the tree that finds rig with find_package(rig) and links rig::rig) and checks that it
# records and generates as rig's CLI does.   Usage: check.sh BUILD_DIR MODEL_DIR
set -euo pipefail
build="$1"
model="$2"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/rig-install-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
# The LibTorch rig was built with: its Torch_DIR, and the build's prefix path, which for the
# wheel's LibTorch is the torch directory (else Debian's libtorch may be found first).
torch_dir="$(sed -n 's/^Torch_DIR:PATH=//p' "$build/CMakeCache.txt")"
prefix_path="$(sed -n 's/^CMAKE_PREFIX_PATH:[A-Z]*=//p' "$build/CMakeCache.txt")"
cmake -S "$here" -B "$tmp/b" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix;$prefix_path;$torch_dir" > "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/b" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
site=gpt_neox.layers.1.mlp
prompt="Can you help me bake bread?"
got="$("$tmp/b/consumer" "$model" "$site" "$prompt" 3)"
echo "$got"
width="$("$build/rig" inspect "$model" --sites | awk -v s="$site" '$1 == s { print $4 }')"
n_commas="$(echo "\"$prompt\"" | "$build/rig" tokenize "$model" --special | tr -cd ',' | wc -c)"
want_shape="$site $((n_commas + 1))x$width"
want_text="$("$build/rig" generate "$model" -p "$prompt" -n 3)"
[ "$(echo "$got" | sed -n 1p | cut -d' ' -f2-)" = "$want_shape" ] || { echo "shape: want $want_shape"; exit 1; }
[ "$(echo "$got" | sed -n '2,$p')" = "$want_text" ] || { echo "text: want '$want_text'"; exit 1; }
echo "installed rig::rig: same shape and generation as the CLI"
