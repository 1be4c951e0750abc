#!/usr/bin/env bash
# Install the Debian packages sisa needs to build, test and run its demo. Idempotent: returns at
# once when everything is present. Runs apt-get (as root, or through sudo when available).
#
#   scripts/install-deps.sh            # the build + test + demo set
#   SISA_EXTRA_PKGS="slurmd ..." scripts/install-deps.sh
set -euo pipefail

PKGS=(
  gcc make cmake pkg-config bc
  g++                                 # the public headers compiled as C++ (CTest headers)
  libopenmpi-dev openmpi-bin          # MPI ranks
  libhdf5-dev hdf5-tools              # serial HDF5 (data, checkpoints) and h5dump
  libopenblas-dev                     # dense math
  libyaml-dev                         # configs
  zlib1g-dev                          # gzipped inputs
  libcmocka-dev                       # unit tests
  clang-format                        # the format check in CI
  clang libfuzzer-14-dev              # the fuzzers (scripts/fuzz.sh): clang 14 and libFuzzer
  python3-h5py python3-numpy          # read-back checks in tests, the Python binding (python/)
  python3-scipy                       # reference statistics for the gauge (tests/gauge_reference.py)
  python3-sklearn                     # reference LOF and Isolation Forest (tests/outliers_reference.py)
  gnuplot-nox                         # figures (sisa gauge score, scripts/plot-scaling.sh)
  dataset-fashion-mnist               # the demo and test data (IDX files)
)
# shellcheck disable=SC2206
[ -n "${SISA_EXTRA_PKGS:-}" ] && PKGS+=(${SISA_EXTRA_PKGS})

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "install-deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  "${SUDO[@]}" apt-get install -y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 \
    --no-install-recommends "$@"
}
# Package lists on a fresh machine may be empty or stale: refresh them first when apt does not
# know a package, and once more if the install still fails.
for p in "${missing[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then "${SUDO[@]}" apt-get update -q; break; fi
done
if ! apt_install "${missing[@]}"; then
  "${SUDO[@]}" apt-get update -q
  apt_install "${missing[@]}"
fi
