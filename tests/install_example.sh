#!/usr/bin/env bash
# Install libsisa from the build tree into a scratch prefix, build examples/ against the installed
# tree with pkg-config and with CMake (shared and static libsisa), and run them: each trains,
# deletes, predicts and checks the posteriors against a store trained without the rows.
#   tests/install_example.sh BUILD_DIR SCRATCH [SANITIZERS]
set -euo pipefail
build=$1 scratch=$2 san=${3:-}
src=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$scratch"
mkdir -p "$scratch"
prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >"$scratch/install.log"
for f in include/sisa/sisa.h include/sisa/version.h lib/libsisa.so lib/libsisa.a \
         lib/pkgconfig/sisa.pc lib/cmake/sisa/sisaConfig.cmake lib/cmake/sisa/sisaTargets.cmake; do
  [ -e "$prefix/$f" ] || { echo "install_example: $prefix/$f was not installed" >&2; exit 1; }
done
flags=()
[ -n "$san" ] && flags=(-fsanitize="$san" -fno-omit-frame-pointer)
# Leak checks stay on; the example runs as one process (no MPI).

echo "== pkg-config"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046 # pkg-config prints several flags, one word each
cc -std=c11 -Wall -Wextra -Werror "${flags[@]}" "$src/examples/unlearn_in_memory.c" \
  $(pkg-config --cflags --libs sisa) -Wl,-rpath,"$prefix/lib" -o "$scratch/ex_pkgconfig"
"$scratch/ex_pkgconfig" "$scratch/run-pkgconfig"

echo "== CMake"
cmake -S "$src/examples" -B "$scratch/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DHDF5_C_COMPILER_EXECUTABLE=/usr/bin/h5cc \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror ${flags[*]}" >"$scratch/cmake.log"
cmake --build "$scratch/cmake" -j2 >"$scratch/cmake-build.log"
"$scratch/cmake/unlearn_in_memory" "$scratch/run-cmake"
echo "== CMake, static libsisa"
"$scratch/cmake/unlearn_in_memory_static" "$scratch/run-static"
echo "install_example: ok"
