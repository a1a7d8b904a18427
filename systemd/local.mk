# systemd/: service and socket units.
# Not installed when configured --without-systemd.
if SYSTEMD
systemdunit_DATA = systemd/homad.service systemd/homad.socket \
	systemd/homad-metrics.socket systemd/homad-metrics@.service
endif
systemdunitdir = $(systemdsystemunitdir)
EXTRA_DIST += systemd/homad.service.in systemd/homad.socket \
	systemd/homad-metrics.socket systemd/homad-metrics@.service.in
CLEANFILES += systemd/homad.service systemd/homad-metrics@.service

systemd/homad.service: $(top_srcdir)/systemd/homad.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(top_srcdir)/systemd/homad.service.in > $@

# The scrape unit runs the installed homactl (bindir).
systemd/homad-metrics@.service: $(top_srcdir)/systemd/homad-metrics@.service.in \
		Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' \
		$(top_srcdir)/systemd/homad-metrics@.service.in > $@
