/*
 * missing_pcap.h - configure did not find libpcap: it passes this header
 * (PCAP_CFLAGS) to every test program that reads captures, to stop
 * `make check` with a message saying what to do.
 */
#error "make check needs libpcap (the tests read captures): install the Debian package libpcap-dev and rerun configure"
