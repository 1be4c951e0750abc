#!/usr/bin/env bash
# Figures of a gauge (sisa gauge score DIR), drawn with gnuplot into OUTDIR (default DIR):
#   gauge-F.png         F per method with its bootstrap 95 % interval, and the noise floor's
#                       interval as a band
#   gauge-epsilon.png   histograms of the per-example epsilon of every method (steps of 0.5, as
#                       scored; infinity and the narrow-population value 50 in the last bin)
#   gauge-ks.png        empirical CDFs of the per-example KS p-values (under "indistinguishable"
#                       close to the diagonal; a method that is told apart piles up near 0)
#
#   scripts/plot-gauge.sh DIR [OUTDIR]
#
# Reads DIR/gauge.tsv and DIR/gauge.h5 (with h5py, Debian's python3-h5py); installs gnuplot-nox
# through scripts/install-deps.sh when gnuplot is missing.
set -euo pipefail
dir=${1:?usage: scripts/plot-gauge.sh DIR [OUTDIR]}
out=${2:-$dir}
for f in gauge.tsv gauge.h5; do
  [ -r "$dir/$f" ] || { echo "plot-gauge: cannot read $dir/$f (run sisa gauge score $dir first)" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
command -v gnuplot >/dev/null || SISA_EXTRA_PKGS=gnuplot-nox bash scripts/install-deps.sh
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Per method: the epsilon histogram and the sorted p-values, as gnuplot data files.
/usr/bin/python3 - "$dir/gauge.h5" "$tmp" <<'PYEOF'
import math, sys
import h5py
import numpy as np
f = h5py.File(sys.argv[1], "r")
n = int(f.attrs["models_per_population"])
last = 2 * math.ceil(math.log(n - 1))  # the first bucket that scores 0
methods = sorted(f["epsilon"].keys(), key=lambda m: (m == "retrain2", m))
with open(f"{sys.argv[2]}/methods", "w") as out:
    out.write(" ".join(methods) + "\n")
for m in methods:
    eps = np.asarray(f["epsilon"][m])
    b = np.where(np.isfinite(eps), np.floor(eps / 0.5), last).astype(int)
    b = np.minimum(b, last)
    counts = np.bincount(b, minlength=last + 1)
    with open(f"{sys.argv[2]}/eps-{m}", "w") as out:
        for k, c in enumerate(counts):
            out.write(f"{0.5 * k + 0.25} {c / len(eps)}\n")
    p = np.sort(np.asarray(f["ks_pvalue"][m]))
    with open(f"{sys.argv[2]}/ks-{m}", "w") as out:
        for i, v in enumerate(p):
            out.write(f"{v} {(i + 1) / len(p)}\n")
with open(f"{sys.argv[2]}/last", "w") as out:
    out.write(f"{0.5 * last}\n")
PYEOF
read -r -a methods <"$tmp/methods"
last=$(cat "$tmp/last")
# F per method (gauge.tsv: method final F F_lo F_hi ...), the floor's interval.
awk -F'\t' 'NR > 1 { print NR - 2, $1, $3, $4, $5 }' "$dir/gauge.tsv" >"$tmp/F"
read -r flo fhi < <(awk -F'\t' '$1 == "retrain2" { print $4, $5 }' "$dir/gauge.tsv")
nrows=$(wc -l <"$tmp/F")

# One fixed colour per method in both figures, so that exact and the noise floor stand out
# (thick) and no two methods share a colour.
style_of() {
  case $1 in
    exact) echo "lc rgb '#000000' lw 3" ;;
    retrain2) echo "lc rgb '#888888' lw 3 dt 3" ;;
    none) echo "lc rgb '#d62728' lw 2" ;;
    finetune) echo "lc rgb '#1f77b4' lw 1.5" ;;
    gradient-ascent) echo "lc rgb '#ff7f0e' lw 1.5" ;;
    neggrad) echo "lc rgb '#9467bd' lw 1.5" ;;
    random-labels) echo "lc rgb '#2ca02c' lw 1.5" ;;
    *) echo "lw 1.5" ;;
  esac
}
eps_plot="" ks_plot=""
for m in "${methods[@]}"; do
  st=$(style_of "$m")
  eps_plot+="${eps_plot:+, }'$tmp/eps-$m' using 1:2 with linespoints $st title '$m'"
  ks_plot+="${ks_plot:+, }'$tmp/ks-$m' using 1:2 with steps $st title '$m'"
done
gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output '$out/gauge-F.png'
set title 'F per method (bootstrap 95 % intervals); band: the noise floor (retrain2 against retrain)'
set ylabel 'F'
set xrange [-0.6:$nrows - 0.4]
set yrange [0:*]
set style fill transparent solid 0.25 noborder
set object 1 rectangle from graph 0, first $flo to graph 1, first $fhi behind fillcolor rgb '#cfdcff' fillstyle solid 1.0 noborder
unset key
plot '$tmp/F' using 1:3:4:5:xticlabels(2) with yerrorbars pt 7 ps 1.5 lw 2

set output '$out/gauge-epsilon.png'
unset object 1
set title 'per-example epsilon (buckets of 0.5; the last: $last and beyond, infinity, 50)'
set xlabel 'epsilon'
set ylabel 'share of forget examples'
set xrange [0:$last + 0.5]
set yrange [0:*]
set key top left
plot $eps_plot

set output '$out/gauge-ks.png'
set title 'KS p-values of the forget examples (method against retrain): empirical CDF'
set xlabel 'p-value'
set ylabel 'share of forget examples'
set xrange [0:1]
set yrange [0:1]
set key bottom right
plot x with lines dt 2 lc rgb '#bbbbbb' title 'uniform', $ks_plot
GP
echo "plot-gauge: wrote $out/gauge-F.png, $out/gauge-epsilon.png, $out/gauge-ks.png"
