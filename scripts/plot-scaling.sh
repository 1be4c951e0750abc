#!/usr/bin/env bash
# Figures from the CSV of a scaling experiment (slurm/scaling.sbatch), drawn with gnuplot:
#   accuracy-vs-shards.png   ensemble test accuracy against the number of shards S
#   unlearning-speedup.png   unlearning speed-up against S, against the slices R and against the
#                            requests per batch K, with the SISA cost model's prediction
#   train-time-vs-ranks.png  training time against the number of ranks P, with ideal scaling
#
#   scripts/plot-scaling.sh SCALING.csv OUTDIR
#
# Each sweep varies one parameter around the grid's base point, the most frequent value of each
# of S, R, P and K in the CSV (configs/scaling-grid.csv: S=8, R=4, P=2, K=1).
#
# The cost model (docs/scaling.md): a shard holding j of the K deleted rows (uniform over S
# shards and R slices) retrains the fraction f(j) = sum_r r (1 - ((R-r)/R)^j) / (R(R+1)/2) of
# its work, so the expected work is W(K) = sum_j Binomial(j; K, 1/S) f(j) of full retraining,
# and the predicted speed-up in work is 1/W(K). The figures show it next to the measured work
# speed-up (1 / retrain_fraction, from sisa unlearn's sample-visit count) and the measured
# wall-time speed-up (train_s / unlearn_s), which also pays fixed costs (opening and checking
# the store, rewriting shard files) and uses fewer ranks than training when few shards are hit.
set -euo pipefail
csv=${1:?usage: scripts/plot-scaling.sh SCALING.csv OUTDIR}
out=${2:?usage: scripts/plot-scaling.sh SCALING.csv OUTDIR}
[ -r "$csv" ] || { echo "plot-scaling: cannot read $csv" >&2; exit 2; }
cd "$(dirname "$0")/.."
command -v gnuplot >/dev/null || SISA_EXTRA_PKGS=gnuplot-nox bash scripts/install-deps.sh
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The sweeps as gnuplot data files, with the model, in awk.
awk -F, -v dir="$tmp" '
  function f(j, S, R,   r, s) { s = 0; for (r = 1; r <= R; r++) s += r * (1 - ((R - r) / R) ^ j); return s / (R * (R + 1) / 2) }
  function W(K, S, R,   p, q, j, pmf, s) {
    if (S == 1) return f(K, S, R)
    p = 1 / S; q = 1 - p; pmf = q ^ K; s = 0
    for (j = 1; j <= K; j++) { pmf *= (K - j + 1) / j * p / q; s += pmf * f(j, S, R) }
    return s
  }
  function mode(a,   k, best, n) { n = -1; for (k in a) if (a[k] > n || (a[k] == n && k + 0 < best + 0)) { best = k; n = a[k] } return best + 0 }
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  {
    n++; S[n] = $col["shards"]; R[n] = $col["slices"]; P[n] = $col["ranks"]; K[n] = $col["requests"]
    acc[n] = $col["accuracy"]; tr[n] = $col["train_s"]; un[n] = $col["unlearn_s"]; fr[n] = $col["retrain_fraction"]
    cS[S[n]]++; cR[R[n]]++; cP[P[n]]++; cK[K[n]]++
  }
  END {
    if (n == 0) { print "plot-scaling: no rows" > "/dev/stderr"; exit 1 }
    S0 = mode(cS); R0 = mode(cR); P0 = mode(cP); K0 = mode(cK)
    print S0, R0, P0, K0 > (dir "/base")
    for (i = 1; i <= n; i++) {
      line = sprintf("%g %g %g %g %g", acc[i], tr[i] > 0 && un[i] > 0 ? tr[i] / un[i] : "NaN", fr[i] > 0 ? 1 / fr[i] : "NaN", 1 / W(K[i], S[i], R[i]), tr[i])
      if (R[i] == R0 && P[i] == P0 && K[i] == K0) print S[i], line > (dir "/S.dat")
      if (S[i] == S0 && P[i] == P0 && K[i] == K0) print R[i], line > (dir "/R.dat")
      if (S[i] == S0 && R[i] == R0 && P[i] == P0) print K[i], line > (dir "/K.dat")
      if (S[i] == S0 && R[i] == R0 && K[i] == K0) print P[i], line > (dir "/P.dat")
      if (S[i] > maxS) maxS = S[i]; if (R[i] > maxR) maxR = R[i]; if (K[i] > maxK) maxK = K[i]
    }
    # Smooth model curves over each swept range.
    for (s = 1; s <= maxS; s++) print s, 1 / W(K0, s, R0) > (dir "/S.model")
    for (r = 1; r <= maxR; r++) print r, 1 / W(K0, S0, r) > (dir "/R.model")
    for (k = 1; k <= maxK; k++) print k, 1 / W(k, S0, R0) > (dir "/K.model")
  }' "$csv"
for f in S R K P; do
  [ -s "$tmp/$f.dat" ] || echo "NaN NaN NaN NaN NaN NaN" >"$tmp/$f.dat"
  sort -n -o "$tmp/$f.dat" "$tmp/$f.dat"
done
read -r S0 R0 P0 K0 <"$tmp/base"
core=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "core") c = i; next } { print $c; exit }' "$csv")
rows=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "rows") c = i; next } { print $c; exit }' "$csv")
t1=$(awk '$1 == 1 { print $6 }' "$tmp/P.dat")

# 2. The figures. Columns of the .dat files: x, accuracy, wall speed-up, work speed-up,
#    model speed-up, train_s.
gnuplot <<GP
set terminal pngcairo size 720,480 font ",11"
set grid
set key top left
set style line 1 lc rgb "#1f77b4" pt 7 ps 1.3 lw 2
set style line 2 lc rgb "#d62728" pt 5 ps 1.2 lw 2
set style line 3 lc rgb "#2ca02c" pt 9 ps 1.4 lw 2
set style line 4 lc rgb "#555555" dt 2 lw 2

set output "$out/accuracy-vs-shards.png"
set title "Test accuracy against shards (R=$R0, $rows training rows, OpenBLAS $core)"
set xlabel "shards S"
set ylabel "ensemble test accuracy"
set logscale x 2
plot "$tmp/S.dat" using 1:2 with linespoints ls 1 title "sisa eval"

set output "$out/train-time-vs-ranks.png"
set title "Training time against ranks (S=$S0, R=$R0, $rows rows, OpenBLAS $core)"
set xlabel "MPI ranks P"
set ylabel "sisa train wall time (s)"
set logscale x 2
set logscale y 2
set key top right
plot "$tmp/P.dat" using 1:6 with linespoints ls 1 title "measured", \
     "$tmp/P.dat" using 1:(${t1:-NaN} / (\$1 < $S0 ? \$1 : $S0)) with lines ls 4 title "ideal: T(1) / min(P, S)"
unset logscale y

set terminal pngcairo size 1500,480 font ",11"
set output "$out/unlearning-speedup.png"
set multiplot layout 1,3 title "Unlearning speed-up over retraining the whole store (OpenBLAS $core, $rows rows)"
set key top left
set ylabel "speed-up (x)"
set logscale y 2
set logscale x 2
set title "against shards (R=$R0, P=$P0, K=$K0)"
set xlabel "shards S"
plot "$tmp/S.model" using 1:2 with lines ls 4 title "model 1/W(K)", \
     "$tmp/S.dat" using 1:4 with points ls 2 title "work (sample visits)", \
     "$tmp/S.dat" using 1:3 with linespoints ls 1 title "wall time"
set title "against slices (S=$S0, P=$P0, K=$K0)"
set xlabel "slices R"
plot "$tmp/R.model" using 1:2 with lines ls 4 title "model 1/W(K)", \
     "$tmp/R.dat" using 1:4 with points ls 2 title "work (sample visits)", \
     "$tmp/R.dat" using 1:3 with linespoints ls 1 title "wall time"
set title "against requests per batch (S=$S0, R=$R0, P=$P0)"
set xlabel "deleted samples K"
set key top right
plot "$tmp/K.model" using 1:2 with lines ls 4 title "model 1/W(K)", \
     "$tmp/K.dat" using 1:4 with points ls 2 title "work (sample visits)", \
     "$tmp/K.dat" using 1:3 with linespoints ls 1 title "wall time"
unset multiplot
GP
echo "plot-scaling: wrote $out/accuracy-vs-shards.png, $out/unlearning-speedup.png, $out/train-time-vs-ranks.png (base point S=$S0 R=$R0 P=$P0 K=$K0)"
