# libpreload/: libhomapreload, the Linux Homa socket API (homa/homa.h) on
# homad for unmodified programs (LD_PRELOAD; homa-run(1) sets it).  It is
# libhomaclient's objects plus the interposed calls; it exports only the
# libc functions it interposes.
lib_LTLIBRARIES += libhomapreload.la
libhomapreload_la_SOURCES = libpreload/preload_int.h libpreload/preload.c \
	libpreload/wait.c libpreload/handoff.c
libhomapreload_la_CPPFLAGS = -I$(top_srcdir)/libpreload \
	-I$(top_srcdir)/libclient -I$(top_builddir)/proto -I$(top_srcdir)/proto
libhomapreload_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(PTHREAD_LIBS)
libhomapreload_la_LIBADD = libhomaclient_core.la $(PROTOBUF_C_LIBS) \
	$(PTHREAD_LIBS) -ldl
libhomapreload_la_LDFLAGS = -avoid-version -shared -no-undefined \
	-export-symbols-regex '^(socket|close|dup|dup2|dup3|fcntl|fcntl64|bind|getsockname|setsockopt|getsockopt|sendmsg|recvmsg|read|write|recv|send|recvfrom|sendto|ioctl|shutdown|poll|ppoll|select|pselect|epoll_ctl|epoll_wait|epoll_pwait|execve|execv|execvp|execvpe|fexecve|execl|execlp|execle)$$'

homaincdir = $(includedir)/homa
homainc_HEADERS = libpreload/homa/homa.h

# homa-run: runs a program with the installed library preloaded.
bin_SCRIPTS = contrib/homa-run
CLEANFILES += contrib/homa-run
EXTRA_DIST += contrib/homa-run.in
contrib/homa-run: $(top_srcdir)/contrib/homa-run.in Makefile
	$(AM_V_GEN)mkdir -p contrib && \
	sed -e 's|@PRELOAD_LIB@|$(libdir)/libhomapreload.so|g' \
		$(top_srcdir)/contrib/homa-run.in >$@ && chmod +x $@
