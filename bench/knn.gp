# Figures of bench/knn.sh from its TSV files, drawn with gnuplot:
#   knn-accuracy.png    test accuracy against shards S, merge against vote and mean
#   knn-throughput.png  sisa predict's queries per second against scikit-learn's
#   knn-deletion.png    wall time of a deletion (and of sisa verify), kNN against MLP
#
#   gnuplot -e "dir='OUT'; out='docs/figures'; sub='DATE, CPU, OpenBLAS core X'; skacc=0.8554" bench/knn.gp
#
# dir holds knn-accuracy.tsv, knn-throughput.tsv and knn-deletion.tsv; skacc (scikit-learn's
# accuracy, drawn as a line) may be NaN.
if (!exists("dir")) dir = "out/bench/knn"
if (!exists("out")) out = dir
if (!exists("sub")) sub = ""
if (!exists("skacc")) skacc = NaN

set terminal pngcairo size 760,500 font ",11"
set datafile separator "\t"
set datafile columnheaders
set grid
set style line 1 lc rgb "#1f77b4" pt 7 ps 1.3 lw 2
set style line 2 lc rgb "#d62728" pt 5 ps 1.2 lw 2
set style line 3 lc rgb "#2ca02c" pt 9 ps 1.4 lw 2
set style line 4 lc rgb "#555555" dt 2 lw 2

# 1. Accuracy against S.
set output out."/knn-accuracy.png"
set title "kNN (k = 5, Euclidean) test accuracy on Fashion-MNIST against shards\n{/*0.8 ".sub."}"
set xlabel "shards S (R = 4)"
set ylabel "test accuracy (10 000 rows)"
set logscale x
set xrange [0.8:25]
set xtics ("1" 1, "8" 8, "20" 20)
set key bottom left
plot dir."/knn-accuracy.tsv" using 1:2 with linespoints ls 1 title "merge: one kNN over all rows", \
     "" using 1:4 with linespoints ls 3 title "mean: S kNNs, posteriors averaged", \
     "" using 1:3 with linespoints ls 2 title "vote: S kNNs, majority", \
     skacc with lines ls 4 title "scikit-learn KNeighborsClassifier"
unset logscale x
unset xrange
set xtics autofreq

# 2. Throughput: horizontal bars, one per case, top to bottom in the file's order.
set output out."/knn-throughput.png"
set terminal pngcairo size 860,520 font ",11"
set title "kNN prediction: 10 000 queries against 60 000 rows, k = 5, best run\n{/*0.8 ".sub."}"
set xlabel "queries per second (whole process: reading the rows included)"
unset ylabel
set yrange [] reverse
set grid x
unset grid
set grid xtics
set offsets 0, graph 0.3, 0.6, 0.6
set xrange [0:*]
set style fill solid 0.85 border -1
set key off
plot dir."/knn-throughput.tsv" using ($9 / 2):0:($9 / 2):(0.35):(strstrt(strcol(1), "scikit") ? 0xd62728 : 0x1f77b4):ytic(1) \
       with boxxyerror lc rgb variable, \
     "" using 9:0:(sprintf(" %.0f/s (%.1f s)", $9, $7)) with labels left font ",10"
set yrange [*:*] noreverse
unset xrange
set offsets 0, 0, 0, 0
set grid

# 3. Deletion: wall time per request, kNN against MLP, log scale.
set output out."/knn-deletion.png"
set terminal pngcairo size 760,500 font ",11"
set title "Wall time of sisa unlearn and sisa verify, kNN against MLP (S = 8, R = 4, 1 rank)\n{/*0.8 ".sub."}"
unset xlabel
set ylabel "wall time (s, log scale)"
stats dir."/knn-deletion.tsv" using 10 nooutput
set logscale y
set yrange [0.01:STATS_max * 30]
set xrange [-0.6:2.6]
set bmargin 4
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set xtics ("delete 1 row\n(mean of 3 requests)" 0, "delete 60 rows\n(one request)" 1, "sisa verify\n(after 63 rows)" 2)
plot dir."/knn-deletion.tsv" using 4 title "kNN (model.type knn)" lc rgb "#1f77b4", \
     "" using 10 title "MLP 784-256-10 (configs/fashion-mnist.yaml)" lc rgb "#d62728", \
     "" using ($0 - 1.0 / 6):4:(sprintf("%.2f s", $4)) with labels offset 0, 0.7 font ",10" notitle, \
     "" using ($0 + 1.0 / 6):10:(sprintf("%.2f s", $10)) with labels offset 0, 0.7 font ",10" notitle
