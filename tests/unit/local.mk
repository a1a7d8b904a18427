# Unit tests: one Check suite per module (test_X.c tests X.c).
check_PROGRAMS += tests/unit/test_wire tests/unit/test_config \
	tests/unit/test_engine tests/unit/test_log
TESTS += tests/unit/test_wire tests/unit/test_config tests/unit/test_engine \
	tests/unit/test_log

tests_unit_test_wire_SOURCES = tests/unit/test_wire.c tests/unit/pcapvec.c \
	tests/unit/pcapvec.h
tests_unit_test_wire_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_wire_CFLAGS = $(TESTS_CFLAGS) $(PCAP_CFLAGS)
tests_unit_test_wire_LDADD = $(TESTS_LDADD) $(PCAP_LIBS)

tests_unit_test_engine_SOURCES = tests/unit/test_engine.c
tests_unit_test_engine_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_engine_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_engine_LDADD = $(TESTS_LDADD)

tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_config_CFLAGS = $(TESTS_CFLAGS) $(LIBCONFIG_CFLAGS)
tests_unit_test_config_LDADD = $(TESTS_LDADD)

tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CPPFLAGS = $(TESTS_CPPFLAGS)
tests_unit_test_log_CFLAGS = $(TESTS_CFLAGS)
tests_unit_test_log_LDADD = $(TESTS_LDADD)
