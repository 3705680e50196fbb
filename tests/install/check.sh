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
# The runner's API: the trials and rows that `rig run` writes (read with Debian's h5py).
cat > "$tmp/run.yaml" <<EOF
name: consumer
seed: 5
model: {path: $model}
stimuli:
  - {condition: help, prompts: ["Can you help me bake bread?", "Can you help me plan a picnic?"]}
electrodes: [{site: $site}]
trials: {repetitions: 2, batch_size: 3, generate: {max_new_tokens: 4}}
recording: {path: $tmp/run.h5}
EOF
got_run="$("$tmp/b/consumer" --run "$tmp/run.yaml")"
echo "$got_run"
"$build/rig" run "$tmp/run.yaml" --quiet
want_run="$(/usr/bin/python3 - "$tmp/run.h5" <<'EOF'
import sys
import h5py
t = h5py.File(sys.argv[1])["trials"]
for i, p, g in zip(t["index"], t["n_prompt_tokens"], t["n_generated"]):
    print(f"trial {i}: {p + g} rows")
EOF
)"
[ "$got_run" = "$want_run" ] || { echo "run: want"; echo "$want_run"; exit 1; }
echo "installed rig::rig: same shape, generation and recorded trials as the CLI"
