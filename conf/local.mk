# conf/: the documented configuration file.
homaconfdir = $(sysconfdir)
dist_homaconf_DATA = conf/homa.conf
