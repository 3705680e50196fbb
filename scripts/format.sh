#!/usr/bin/env bash
# Formats rig's C++ sources with .clang-format. Only Debian 12's clang-format 14 (scripts/setup.sh
# installs it) is used: other versions lay out the same code differently, so a check with them
# would fail on code that is formatted.
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; list the files that differ and exit 1 if any
#                               (exit 77, skipped, without clang-format 14: CTest `format`)
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1
cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ] || ! "$cf" --version | grep -q "version 14\."; then
  echo "format: SKIPPED: needs clang-format 14 (Debian 12's; scripts/setup.sh installs it)"
  exit 77
fi
# Every C++ source and header the project owns (nothing here is vendored).
mapfile -t files < <(find src analysis tests bench -type f \( -name '*.cc' -o -name '*.h' \) 2>/dev/null | sort)
if [ "$check" -eq 0 ]; then
  "$cf" -i "${files[@]}"
  echo "format: ${#files[@]} files formatted"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$cf" "$f" | cmp -s - "$f" || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format: ${#bad[@]} of ${#files[@]} files differ from .clang-format (run scripts/format.sh):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "format: ${#files[@]} files match .clang-format"
