# contrib/bench: homa-bench, the load generator (Homa vs TCP, workloads
# W1-W5), and its scripts: compare (one-command comparisons on the
# contrib/testbed namespace test-bed) and plot.gp (gnuplot).
bin_PROGRAMS += contrib/bench/homa-bench
contrib_bench_homa_bench_SOURCES = contrib/bench/homa_bench.c \
	contrib/bench/bench.h contrib/bench/workload.c contrib/bench/stats.c \
	contrib/bench/tcp.c contrib/bench/homa.c contrib/bench/scale.c \
	contrib/bench/kernel.c
contrib_bench_homa_bench_CPPFLAGS = $(AM_CPPFLAGS) -DHAVE_HOMACLIENT \
	-I$(top_srcdir)/libclient -I$(top_srcdir)/libpreload \
	-DWORKLOADS_INSTALLED='"$(pkgdatadir)/workloads"'
contrib_bench_homa_bench_CFLAGS = $(AM_CFLAGS)
contrib_bench_homa_bench_LDADD = libhomaclient.la -lm
EXTRA_DIST += contrib/testbed contrib/testbed.md contrib/bench/compare \
	contrib/bench/plot.gp
