#!/usr/bin/env bash
# Accuracy of the default config (configs/fashion-mnist.yaml: MLP 784-256-10, Adam with a
# cosine schedule) on the Fashion-MNIST test set, trained on the full training set:
#   S=1, R=1 (one model, no slicing) must reach at least 0.87;
#   S=8, R=4 (the demo's SISA setting) must reach at least 0.85.
# Only shards, slices and paths are changed; every training setting comes from the file, and
# OPENBLAS_CORETYPE is whatever the environment sets. Each OpenBLAS core trains other bits:
# bench/accuracy.sh measures the margin under each core (docs/benchmarks.md).
#   tests/fmnist_accuracy.sh SISA_BINARY SCRATCH_DIR [CONFIG "S R FLOOR"...]
# With CONFIG (a file under configs/) and settings, that config is checked instead, e.g. the
# cnn test: configs/fashion-mnist-cnn.yaml "1 1 0.91" "8 4 0.89".
set -euo pipefail
sisa=$1
dir=$2
src=$(cd "$(dirname "$0")/.." && pwd)
config=$src/configs/fashion-mnist.yaml
settings=("1 1 0.87" "8 4 0.85")
if [ $# -gt 2 ]; then
  config=$src/$3
  settings=("${@:4}")
fi
fm=${SISA_FMNIST:-/usr/share/datasets/fashion-mnist}
rm -rf "$dir" && mkdir -p "$dir"
"$sisa" -q import idx --images "$fm/train-images-idx3-ubyte.gz" \
  --labels "$fm/train-labels-idx1-ubyte.gz" --scale 255 -o "$dir/train.h5" >/dev/null
"$sisa" -q import idx --images "$fm/t10k-images-idx3-ubyte.gz" \
  --labels "$fm/t10k-labels-idx1-ubyte.gz" --scale 255 --id-offset 60000 -o "$dir/test.h5" >/dev/null

fail=0
for setting in "${settings[@]}"; do
  # shellcheck disable=SC2086 # split "S R floor" into $1 $2 $3
  set -- $setting
  cfg=$dir/S$1-R$2.yaml
  sed -e "s|^\(  train:\).*|\1 train.h5|" -e "s|^\(  test:\).*|\1 test.h5|" \
      -e "s|^store:.*|store: store-S$1-R$2|" \
      -e "s|^\(  shards:\) *[0-9]*|\1 $1|" -e "s|^\(  slices:\) *[0-9]*|\1 $2|" \
      "$config" >"$cfg"
  # The rewrite must have hit every line it meant to.
  shown=$("$sisa" config show -c "$cfg")
  for want in "shards: $1" "slices: $2" "store-S$1-R$2" "$dir/train.h5" "$dir/test.h5"; do
    grep -q -- "$want" <<<"$shown" || { echo "config rewrite missed '$want':"; echo "$shown"; exit 1; }
  done
  t0=$(date +%s.%N)
  "$sisa" -q train -c "$cfg" >/dev/null
  t1=$(date +%s.%N)
  acc=$("$sisa" -q eval -c "$cfg" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
  ok=$(/usr/bin/python3 -c "print(1 if $acc >= $3 else 0)")
  printf 'S=%s R=%s: test accuracy %.4f (required >= %s), trained in %.1f s\n' "$1" "$2" "$acc" "$3" \
    "$(echo "$t1 - $t0" | bc -l)"
  [ "$ok" = 1 ] || fail=1
done
exit $fail
