#!/usr/bin/env bash
# Check that every C source and header follows .clang-format (clang-format 14, Debian 12).
# Prints the files that differ and exits 1; `scripts/check-format.sh --fix` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = "--fix" ] && fix=1
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed" >&2; exit 1; }
mapfile -t files < <(find src include shard aggregate tests bench -name '*.[ch]' -not -name '*.in' 2>/dev/null | sort)
bad=0
for f in "${files[@]}"; do
  if [ $fix -eq 1 ]; then clang-format -i "$f"; continue; fi
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "needs formatting: $f (run scripts/check-format.sh --fix)"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "check-format: ${#files[@]} files formatted correctly"
exit $bad
