# Simulation: real engines behind a simulated switch (tests/sim/sim.h).
# test_sim runs the protocol scenarios; homa-sim runs workloads W1-W5.
noinst_LTLIBRARIES += tests/sim/libhomasim.la
tests_sim_libhomasim_la_SOURCES = tests/sim/sim.c tests/sim/sim.h
tests_sim_libhomasim_la_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_sim_libhomasim_la_CFLAGS = $(AM_CFLAGS)

check_PROGRAMS += tests/sim/test_sim
TESTS += tests/sim/test_sim
tests_sim_test_sim_SOURCES = tests/sim/test_sim.c
tests_sim_test_sim_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_sim_test_sim_CFLAGS = $(TESTS_CFLAGS)
tests_sim_test_sim_LDADD = tests/sim/libhomasim.la $(TESTS_LDADD)

# homa-sim: workloads W1-W5 on the simulator (see homa-sim --help).
noinst_PROGRAMS += tests/sim/homa-sim
tests_sim_homa_sim_SOURCES = tests/sim/homa_sim.c
tests_sim_homa_sim_CPPFLAGS = $(AM_CPPFLAGS) \
	-DWORKLOADS_DIR='"$(abs_top_srcdir)/contrib/workloads"'
tests_sim_homa_sim_CFLAGS = $(AM_CFLAGS)
tests_sim_homa_sim_LDADD = tests/sim/libhomasim.la libhomad.la -lm

# The workloads (size CDFs of the Homa papers), installed for homa-sim and
# homa-bench.
workloadsdir = $(pkgdatadir)/workloads
dist_workloads_DATA = contrib/workloads/w1.csv contrib/workloads/w2.csv \
	contrib/workloads/w3.csv contrib/workloads/w4.csv \
	contrib/workloads/w5.csv contrib/workloads/README.md
