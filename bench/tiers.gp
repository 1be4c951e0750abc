# Figure of bench/tiers.sh from OUT/tiers.tsv, drawn with gnuplot: uniform against tiered
# sharding (S = 8, R = 4) on Fashion-MNIST, three panels: rows retrained per deletion request
# (sisa plan-tiers' expectation and the mean over the simulated requests), mean wall time per
# request, and test accuracy.
#
#   gnuplot -e "dir='OUT'; out='docs/figures'; sub='DATE, CPU'" bench/tiers.gp
if (!exists("dir")) dir = "out/bench/tiers"
if (!exists("out")) out = dir
if (!exists("sub")) sub = ""

set terminal pngcairo size 1140,420 font ",11"
set output out."/tiers.png"
set datafile separator "\t"
set datafile columnheaders
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set yrange [0:*]
set multiplot layout 1,3 title "Risk tiers on Fashion-MNIST (S = 8, R = 4; 10 % of rows draw 90 % of requests)\n{/*0.8 ".sub."}"
set title "rows retrained per request"
set key top right font ",9" samplen 1.5
set yrange [0:9500]
plot dir."/tiers.tsv" using 2:xtic(1) title "expected" lc rgb "#9ecae1", \
     "" using 3 title "measured (mean)" lc rgb "#1f77b4"
set title "wall time per request (s)"
set key off
set yrange [0:*]
plot dir."/tiers.tsv" using 5:xtic(1) lc rgb "#d62728"
set title "test accuracy"
set yrange [0.8:0.9]
plot dir."/tiers.tsv" using 7:xtic(1) lc rgb "#2ca02c"
unset multiplot
