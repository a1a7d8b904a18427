#!/bin/sh
# overload.sh - a homad too busy to read its sockets must not look dead.
#
# Since Linux 6.9 a raw IP socket whose receive queue is full no longer
# counts as having taken a packet, and a packet no raw socket took is
# answered with ICMP protocol unreachable: the peer then fails every RPC to
# this host.  homad's link gives each raw socket group a sentinel (link.h)
# so that a full queue is a silent drop.  Here homad in B has the smallest
# receive buffers (network.rcvbuf), is stopped with SIGSTOP, and A floods
# it with DATA, control and garbage packets over IPv4 and IPv6.  B's kernel
# must have sent no ICMP destination unreachable and counted no packet of
# an unknown protocol (/proc/net/snmp, snmp6), and once homad runs again
# its status and metrics must show the kernel's drops.  The udp link needs
# no sentinel (a full UDP queue draws no ICMP answer); it is checked the
# same way.
. "$(dirname "$0")/lib.sh"

require_netns
setup_tmp
A=hd-$$-a
B=hd-$$-b
make_pair "$A" "$B"
SOCK="$T_TMP/homad.sock"

# Until B's fresh interface is fully up (addrconf finishes in the
# background, up to a second after make_pair) B drops A's neighbour
# solicitations for B6, and A's kernel queues what it sends there (the
# last unres_qlen_bytes of it: 256 small packets) until a solicitation
# retried a second later is answered.  The ip case's IPv6 flood then never
# reached B during that case and arrived in the udp case instead, where no
# protocol-146 socket is open and B's kernel rightly counted 256 packets of
# an unknown protocol.  So both families must reach B before any flood.
require_cmd ping "ping (iputils-ping)"
for dst in "$B4" "$B6"; do
	wait_for ip netns exec "$A" ping -c 1 -W 1 "$dst" ||
		fail "A cannot reach $dst"
done

homactl_b() {
	ip netns exec "$B" "$HOMACTL" -s "$SOCK" "$@"
}

# snmp: B's IPv4 and IPv6 counters the kernel moves when it answers a
# packet nobody took: "InUnknownProtos OutDestUnreachs InUnknownProtos6
# OutDestUnreachs6".
snmp() {
	ip netns exec "$B" awk '
		$1 == "Ip:" && !ip { for (i = 2; i <= NF; i++) h[i] = $i; ip = 1; next }
		$1 == "Ip:" { for (i = 2; i <= NF; i++) if (h[i] == "InUnknownProtos") u = $i }
		$1 == "Icmp:" && !ic { for (i = 2; i <= NF; i++) g[i] = $i; ic = 1; next }
		$1 == "Icmp:" { for (i = 2; i <= NF; i++) if (g[i] == "OutDestUnreachs") d = $i }
		$1 == "Ip6InUnknownProtos" { u6 = $2 }
		$1 == "Icmp6OutDestUnreachs" { d6 = $2 }
		END { print u + 0, d + 0, u6 + 0, d6 + 0 }
	' /proc/net/snmp /proc/net/snmp6
}

# received: the packets B's kernel has received, "IPv4 IPv6" (fragments
# each count).
received() {
	ip netns exec "$B" awk '
		$1 == "Ip:" && !ip { for (i = 2; i <= NF; i++) h[i] = $i; ip = 1; next }
		$1 == "Ip:" { for (i = 2; i <= NF; i++) if (h[i] == "InReceives") r = $i }
		$1 == "Ip6InReceives" { r6 = $2 }
		END { print r + 0, r6 + 0 }
	' /proc/net/snmp /proc/net/snmp6
}

# flood LINKARGS...: many packets of every kind from A to B, both families;
# fails unless B's kernel received at least half of what went to each (a
# flood that does not reach B tests nothing).
flood() {
	for dst in "$B4" "$B6"; do
		rx0=$(received)
		sent=0
		# DATA at a scheduled (bulk) and an unscheduled (high)
		# priority, control packets and garbage: every queue fills.
		for prio in 0 6 0 6; do
			ip netns exec "$A" "$PKTSEND" "$@" -P $prio -d "$dst" \
				-p "$VECTORS/kernel/concurrent_4x300k.pcap" \
				-g garbage:500 -g truncated:200 >"$T_TMP/sent" ||
				fail "pktsend to $dst"
			n=$(awk '{ n += $NF } END { print n + 0 }' "$T_TMP/sent")
			sent=$((sent + n))
		done
		rx1=$(received)
		if [ "$dst" = "$B4" ]; then
			got=$((${rx1% *} - ${rx0% *}))
		else
			got=$((${rx1#* } - ${rx0#* }))
		fi
		note "flood to $dst: $sent packets sent, B received $got"
		[ $((got * 2)) -ge "$sent" ] ||
			fail "the flood to $dst did not reach B:" \
				"$got of $sent packets received"
	done
}

# overload_case LINK [PKTSEND-ARGS...]
overload_case() {
	link=$1
	shift
	cat >"$T_TMP/homa.conf" <<EOF
network = {
	link = "$link";
	udp_port = 4999;
	rcvbuf = 1024;
};
EOF
	ip netns exec "$B" "$HOMAD" -c "$T_TMP/homa.conf" -S "$SOCK" \
		-C "$T_TMP/clients.sock" >"$T_TMP/homad.log" 2>&1 &
	HPID=$!
	T_PIDS="$T_PIDS $HPID"
	wait_for homactl_b status ||
		{ cat "$T_TMP/homad.log"; fail "$link: homad did not start"; }
	before=$(snmp)
	kill -STOP "$HPID"
	flood "$@"
	after=$(snmp)
	kill -CONT "$HPID"
	wait_for homactl_b status || fail "$link: homad does not answer"
	homactl_b -j status >"$T_TMP/status.json" || fail "homactl -j status"
	homactl_b status >"$T_TMP/status.txt" || fail "homactl status"
	homactl_b metrics >"$T_TMP/metrics" || fail "homactl metrics"
	drops=$(sed -n 's/^ *"rx_kernel_drops": *\([0-9]*\).*/\1/p' \
		"$T_TMP/status.json")
	note "$link: B's kernel (InUnknownProtos OutDestUnreachs, IPv4 then" \
		"IPv6) before $before, after $after; homad saw $drops drops"
	grep '^rx backlog:' "$T_TMP/status.txt" | sed 's/^/# /'
	[ "$before" = "$after" ] ||
		fail "$link: B's kernel counted packets of an unknown" \
			"protocol or answered with ICMP unreachable:" \
			"$before -> $after"
	[ "${drops:-0}" -gt 0 ] ||
		fail "$link: no kernel drop in homactl -j status"
	[ "$(metric "$T_TMP/metrics" link_rx_kernel_drops)" -gt 0 ] ||
		fail "$link: link_rx_kernel_drops is 0"
	grep -q '^homad_link_rx_backlog_peak_bytes [0-9]' "$T_TMP/metrics" ||
		fail "$link: no link_rx_backlog_peak_bytes gauge"
	grep -q '^rx backlog: .* kernel drops$' "$T_TMP/status.txt" ||
		fail "$link: no rx backlog line in homactl status"
	kill -TERM "$HPID"
	wait "$HPID" || fail "$link: homad exited $? on SIGTERM"
}

overload_case ip
overload_case udp -u 4999
echo "PASS: overload.sh"
