# plot.gp - P50 and P99 slowdown versus message size, Homa and TCP on one
# chart, as the Homa papers plot them (log-scaled size, slowdown from 1).
#
#   gnuplot -e "tcp='run-tcp.slowdown'; homa='run-homa.slowdown'; \
#               out='slowdown.png'; title='W4, 80% of 1 Gbit/s'" plot.gp
#
# tcp and homa are PREFIX.slowdown files written by `homa-bench -o PREFIX`
# or `homa-bench report -o PREFIX` (columns: upper_bytes median_bytes count
# slow_p50 slow_p99 ...); either may be '' to leave that protocol out.
# Buckets with fewer than 100 RPCs have no meaningful P99 and are skipped
# for the P99 lines.
if (!exists("tcp")) tcp = ''
if (!exists("homa")) homa = ''
if (!exists("out")) out = 'slowdown.png'
if (!exists("title")) title = 'slowdown'

set terminal pngcairo size 1000,620 noenhanced font ',11'
set output out
set title title
set logscale x
set logscale y
set xlabel 'message size (bytes)'
set ylabel 'slowdown (RTT / best possible RTT)'
set format x '%.0s%c'
set yrange [*:*]
set grid xtics ytics mxtics
set key top left
set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 0.7
set style line 2 lc rgb '#1f77b4' lw 2 dt 2 pt 6 ps 0.7
set style line 3 lc rgb '#d62728' lw 2 pt 5 ps 0.7
set style line 4 lc rgb '#d62728' lw 2 dt 2 pt 4 ps 0.7

p99(n, v) = (n >= 100 ? v : NaN)

if (homa ne '' && tcp ne '') {
	plot homa using 2:4 with linespoints ls 1 title 'Homa P50', \
	     homa using 2:(p99($3, $5)) with linespoints ls 2 title 'Homa P99', \
	     tcp using 2:4 with linespoints ls 3 title 'TCP P50', \
	     tcp using 2:(p99($3, $5)) with linespoints ls 4 title 'TCP P99'
} else {
	if (tcp ne '') {
		plot tcp using 2:4 with linespoints ls 3 title 'TCP P50', \
		     tcp using 2:(p99($3, $5)) with linespoints ls 4 title 'TCP P99'
	} else {
		plot homa using 2:4 with linespoints ls 1 title 'Homa P50', \
		     homa using 2:(p99($3, $5)) with linespoints ls 2 title 'Homa P99'
	}
}
