# man/: manual pages.
dist_man_MANS += man/homa.conf.5
