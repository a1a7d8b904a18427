/*
 * missing_check.h - configure did not find Check: it passes this header
 * (CHECK_CFLAGS) to every test program that needs Check, to stop
 * `make check` with a message saying what to do.
 */
#error "make check needs Check, the unit test framework: install the Debian package check and rerun configure"
