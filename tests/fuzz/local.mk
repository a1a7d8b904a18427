# tests/fuzz/: libFuzzer targets (./configure CC=clang --enable-fuzz, then
# `make fuzz`; tests/fuzz/run.sh runs each for a bounded time, README.md
# tells how to run them long), and the settings of the sanitizer builds
# (--enable-sanitizers, which --enable-fuzz implies).
FUZZ_TARGETS = tests/fuzz/fuzz_wire tests/fuzz/fuzz_engine \
	tests/fuzz/fuzz_client_msg tests/fuzz/fuzz_config
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/run.sh tests/fuzz/mkseeds.py \
	tests/fuzz/fuzz.h tests/fuzz/lsan.supp

if FUZZ
noinst_PROGRAMS += $(FUZZ_TARGETS)
fuzz: $(FUZZ_TARGETS)
else
fuzz:
	@echo "make fuzz: configure with CC=clang --enable-fuzz first" >&2; exit 1
endif
.PHONY: fuzz

FUZZ_INCLUDES = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fuzz
FUZZ_LINK = -fsanitize=fuzzer

tests_fuzz_fuzz_wire_SOURCES = tests/fuzz/fuzz_wire.c
tests_fuzz_fuzz_wire_CPPFLAGS = $(FUZZ_INCLUDES)
tests_fuzz_fuzz_wire_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_wire_LDADD = libhomad.la

tests_fuzz_fuzz_engine_SOURCES = tests/fuzz/fuzz_engine.c
tests_fuzz_fuzz_engine_CPPFLAGS = $(FUZZ_INCLUDES)
tests_fuzz_fuzz_engine_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_engine_LDADD = libhomad.la

tests_fuzz_fuzz_client_msg_SOURCES = tests/fuzz/fuzz_client_msg.c
tests_fuzz_fuzz_client_msg_CPPFLAGS = $(FUZZ_INCLUDES)
tests_fuzz_fuzz_client_msg_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_fuzz_fuzz_client_msg_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_client_msg_LDADD = libhomad.la
tests/fuzz/tests_fuzz_fuzz_client_msg-fuzz_client_msg.$(OBJEXT): \
	proto/homa_client.pb-c.h

tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_CPPFLAGS = $(FUZZ_INCLUDES)
tests_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(LIBCONFIG_CFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_config_LDADD = libhomad.la

if SANITIZERS
# homad and the tests under ASan + UBSan: stop at the first report; leak
# checking on (every program frees what it allocates before exit).
# io_uring works under ASan: the rings are mmap()ed, not malloc()ed.
AM_TESTS_ENVIRONMENT += \
	ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1$${ASAN_OPTIONS:+:$$ASAN_OPTIONS}"; \
	LSAN_OPTIONS="suppressions=$(abs_top_srcdir)/tests/fuzz/lsan.supp$${LSAN_OPTIONS:+:$$LSAN_OPTIONS}"; \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1$${UBSAN_OPTIONS:+:$$UBSAN_OPTIONS}"; \
	CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-4}; \
	export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS CK_TIMEOUT_MULTIPLIER;
endif
