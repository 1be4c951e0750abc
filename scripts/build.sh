#!/usr/bin/env bash
# Configure and build sisa into a build folder.
#   scripts/build.sh DIR [extra cmake arguments...]
# The build type defaults to RelWithDebInfo (SISA_BUILD_TYPE overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/build.sh DIR [cmake args...]}
shift
mkdir -p "$dir"
if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="${SISA_BUILD_TYPE:-RelWithDebInfo}" "$@" \
    >"$dir/configure.log" 2>&1; then
  cat "$dir/configure.log" >&2
  echo "build: cmake configure failed (log: $dir/configure.log)" >&2
  exit 1
fi
cmake --build "$dir" -j"$(nproc)"
