# systemd/: service and socket units.
systemdunit_DATA = systemd/homad.service systemd/homad.socket
systemdunitdir = $(systemdsystemunitdir)
EXTRA_DIST += systemd/homad.service.in systemd/homad.socket
CLEANFILES += systemd/homad.service

systemd/homad.service: $(top_srcdir)/systemd/homad.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(top_srcdir)/systemd/homad.service.in > $@
