# contrib/examples: libhomaclient examples (built by `make`, not installed).
noinst_PROGRAMS += contrib/examples/echo_server contrib/examples/echo_client

contrib_examples_echo_server_SOURCES = contrib/examples/echo_server.c
contrib_examples_echo_server_CPPFLAGS = -I$(top_srcdir)/libclient
contrib_examples_echo_server_CFLAGS = $(AM_CFLAGS) $(PTHREAD_LIBS)
contrib_examples_echo_server_LDADD = libhomaclient.la $(PTHREAD_LIBS)

contrib_examples_echo_client_SOURCES = contrib/examples/echo_client.c
contrib_examples_echo_client_CPPFLAGS = -I$(top_srcdir)/libclient
contrib_examples_echo_client_CFLAGS = $(AM_CFLAGS)
contrib_examples_echo_client_LDADD = libhomaclient.la
