#!/usr/bin/env bash
# A user can read sisa's models with h5py: data made with h5py is imported (sisa import h5),
# trained (S=3, R=2, MLP with two hidden layers, cosine schedule), predicted with --per-shard,
# and the recipe of docs/formats.md ("Reading a model with h5py") run in numpy on each shard's
# final checkpoint (found through `sisa status --json`) must reproduce that shard's posteriors,
# and their mean the ensemble's. The checkpoints' `optimizer` attribute must name the schedule.
#   tests/h5py_model.sh SISA_BINARY SCRATCH_DIR
set -euo pipefail
sisa=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$dir" && mkdir -p "$dir"
/usr/bin/python3 "$here/h5py_model.py" make "$dir/raw.h5"
"$sisa" -q import h5 "$dir/raw.h5" --x features --y labels -o "$dir/data.h5" >/dev/null
cat >"$dir/cfg.yaml" <<YAML
data: {train: data.h5}
store: store
seed: 3
sisa: {shards: 3, slices: 2}
model: {type: mlp, hidden: [16, 8]}
train: {optimizer: adam, lr: 0.01, schedule: cosine, final_lr_fraction: 0.25, batch_size: 32, epochs: 4}
aggregate: {strategy: mean}
YAML
"$sisa" -q train -c "$dir/cfg.yaml" >/dev/null
"$sisa" -q predict -c "$dir/cfg.yaml" -i "$dir/data.h5" -o "$dir/pred.h5" --per-shard >/dev/null
"$sisa" -q status -c "$dir/cfg.yaml" --json >"$dir/status.json"
/usr/bin/python3 "$here/h5py_model.py" check "$dir/status.json" "$dir/data.h5" "$dir/pred.h5"

/usr/bin/python3 "$here/h5py_model.py" make_images "$dir/raw-img.h5"
"$sisa" -q import h5 "$dir/raw-img.h5" --x images --y labels -o "$dir/img.h5" >/dev/null
cat >"$dir/cnn.yaml" <<YAML
data: {train: img.h5}
store: store-cnn
seed: 4
sisa: {shards: 2, slices: 2}
model: {type: cnn, input: [2, 8, 4], conv: [3, 4], kernel: 3, pool: 2, hidden: [5]}
train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 16, epochs: 12}
aggregate: {strategy: mean}
YAML
"$sisa" -q train -c "$dir/cnn.yaml" >/dev/null
"$sisa" -q predict -c "$dir/cnn.yaml" -i "$dir/img.h5" -o "$dir/pred-cnn.h5" --per-shard >/dev/null
"$sisa" -q status -c "$dir/cnn.yaml" --json >"$dir/status-cnn.json"
/usr/bin/python3 "$here/h5py_model.py" check_cnn "$dir/status-cnn.json" "$dir/img.h5" "$dir/pred-cnn.h5"
