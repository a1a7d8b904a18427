# tests/: unit (Check), integration (real processes in network namespaces).
# `make check` runs them all; integration tests skip (77) only where a
# prerequisite is truly absent (no root, no netns), and say why.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; top_builddir='$(abs_top_builddir)'; \
	export top_srcdir top_builddir;

TESTS_CPPFLAGS = $(AM_CPPFLAGS) -DVECTORS_DIR='"$(abs_top_srcdir)/tests/vectors"'
TESTS_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TESTS_LDADD = libhomad.la $(CHECK_LIBS)

include tests/unit/local.mk
include tests/integration/local.mk
include tests/preload/local.mk
include tests/sim/local.mk
include tests/fuzz/local.mk

TESTS += tests/format.sh
EXTRA_DIST += tests/format.sh tests/missing_check.h tests/missing_pcap.h

EXTRA_DIST += tests/vectors
