#!/usr/bin/env bash
# The main job, end to end, on the default data (Fashion-MNIST from Debian's
# dataset-fashion-mnist package): install what is missing, build, then run the demo.
#
#   scripts/run.sh
#
# Outputs go to out/fashion-mnist/. Re-running replaces them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/install-deps.sh
SISA_BUILD_TYPE=Release bash scripts/build.sh build/release -DBUILD_TESTING=OFF >/dev/null
SISA=$ROOT/build/release/sisa
FM=/usr/share/datasets/fashion-mnist
OUT=$ROOT/out/fashion-mnist
CFG=$ROOT/configs/fashion-mnist.yaml
mkdir -p "$OUT"

echo "== sisa"
"$SISA" --version
echo
echo "== import Fashion-MNIST (IDX, gzipped) into sisa dataset files"
"$SISA" import idx --images "$FM/train-images-idx3-ubyte.gz" --labels "$FM/train-labels-idx1-ubyte.gz" \
  --scale 255 --force -o "$OUT/train.h5"
# Test IDs continue after the training IDs, so every sample in the demo has a unique ID.
"$SISA" import idx --images "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" \
  --scale 255 --id-offset 60000 --force -o "$OUT/test.h5"
echo
echo "== training set"
"$SISA" info "$OUT/train.h5"
echo
echo "== test set"
"$SISA" info "$OUT/test.h5"
echo
echo "== configuration ($CFG)"
"$SISA" config check -c "$CFG"
