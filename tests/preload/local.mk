# tests/preload: programs written only against the Linux Homa socket API
# (homa/homa.h, never libhomaclient), run under libhomapreload across two
# homads in network namespaces (preload.sh).
check_PROGRAMS += tests/preload/preload_test
TESTS += tests/preload/preload.sh
EXTRA_DIST += tests/preload/preload.sh
tests_preload_preload_test_SOURCES = tests/preload/preload_test.c
tests_preload_preload_test_CPPFLAGS = -I$(top_srcdir)/libpreload
tests_preload_preload_test_CFLAGS = $(AM_CFLAGS) $(PTHREAD_LIBS)
tests_preload_preload_test_LDADD = $(PTHREAD_LIBS)
