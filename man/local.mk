# man/: manual pages.
dist_man_MANS += man/homad.8 man/homactl.8 man/homa.conf.5
dist_man_MANS += man/homa-bench.1
dist_man_MANS += man/libhomaclient.3
dist_man_MANS += man/homa-run.1 man/libhomapreload.7
