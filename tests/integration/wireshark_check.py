#!/usr/bin/env python3
"""wireshark_check.py - decode a capture with tshark and contrib/wireshark/
homa.lua and check the result.

  wireshark_check.py LUA PCAP TXT       the vector's listing (TXT, the
                                        format of tests/vectors/README.md)
  wireshark_check.py LUA PCAP --homad   a capture of homad's own traffic
  wireshark_check.py --make PCAP TXT    write packets the vectors lack
                                        (each malformed kind, the udp
                                        link over IPv4 and IPv6, homad's
                                        marker and flags) and their listing

With TXT: the frames tshark decodes as Homa are exactly the listed ones,
every listed field has the listed value, a frame listed valid=1 carries no
error and nothing malformed, and one listed valid=0 carries the dissector's
malformed error for its reason.  With --homad: every frame that is Homa
(IP protocol 146, or the udp link's port) decodes as Homa, none has an
error or anything malformed, and every DATA packet carries homad's marker.
Nothing is ever malformed in any layer of any frame that should be valid.
Prints one summary line; exit 0 ok, 1 a mismatch (each one printed), 2
usage or tshark failing.
"""
import subprocess
import sys

# tshark fields, in column order.
COLUMNS = [
    "frame.number", "frame.protocols", "ip.version", "ipv6.version",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.dsfield", "ipv6.tclass",
    "ip.proto", "ipv6.nxt", "udp.port", "homa.len", "homa.type", "homa.sport",
    "homa.dport", "homa.seq", "homa.doff", "homa.flags", "homa.urgent",
    "homa.sender_id", "homa.data.msg_len", "homa.data.incoming",
    "homa.data.cutoff_version", "homa.data.retransmit",
    "homa.data.seg_offset", "homa.data.ack_client_id",
    "homa.data.ack_server_port", "homa.data.offset", "homa.data.payload_len",
    "homa.data.homad", "homa.data.homad_flags", "homa.grant.offset", "homa.grant.priority",
    "homa.resend.offset", "homa.resend.length", "homa.resend.priority",
    "homa.cutoffs.cutoff", "homa.cutoffs.version", "homa.ack.num_acks",
    "homa.ack.client_id", "homa.ack.server_port", "_ws.malformed",
    "_ws.expert.severity", "_ws.expert.message",
    "homa.malformed.short", "homa.malformed.bad_type",
    "homa.malformed.truncated", "homa.malformed.num_acks",
    "homa.malformed.msg_length", "homa.malformed.payload_length",
    "homa.malformed.offset",
]
AGG = "\x1f"
SEVERITY_ERROR = 0x00800000  # PI_ERROR

# The listing's key -> tshark field, per packet type (common ones for all).
COMMON = {
    "sport": "homa.sport", "dport": "homa.dport", "seq": "homa.seq",
    "doff": "homa.doff", "flags": "homa.flags", "urgent": "homa.urgent",
    "sender_id": "homa.sender_id", "homa_len": "homa.len",
}
PER_TYPE = {
    "DATA": {
        "msg_len": "homa.data.msg_len", "incoming": "homa.data.incoming",
        "cutoff_version": "homa.data.cutoff_version",
        "retransmit": "homa.data.retransmit",
        "seg_offset": "homa.data.seg_offset",
        "ack_client_id": "homa.data.ack_client_id",
        "ack_server_port": "homa.data.ack_server_port",
        "offset": "homa.data.offset", "payload_len": "homa.data.payload_len",
        "homad": "homa.data.homad", "homad_flags": "homa.data.homad_flags",
    },
    "GRANT": {"offset": "homa.grant.offset",
              "priority": "homa.grant.priority"},
    "RESEND": {"offset": "homa.resend.offset",
               "length": "homa.resend.length",
               "priority": "homa.resend.priority"},
    "CUTOFFS": dict([("cutoff%d" % i, ("homa.cutoffs.cutoff", i))
                     for i in range(8)] +
                    [("cutoff_version", "homa.cutoffs.version")]),
    "ACK": dict([("num_acks", "homa.ack.num_acks")] +
                [("acks%d_client_id" % i, ("homa.ack.client_id", i))
                 for i in range(5)] +
                [("acks%d_server_port" % i, ("homa.ack.server_port", i))
                 for i in range(5)]),
}
TYPE_NAMES = {0x10: "DATA", 0x11: "GRANT", 0x12: "RESEND",
              0x13: "RPC_UNKNOWN", 0x14: "BUSY", 0x15: "CUTOFFS",
              0x16: "FREEZE", 0x17: "NEED_ACK", 0x18: "ACK"}
# The listing's reason=... -> the dissector's malformed expert.
REASONS = {
    "shorter_than_common_header": "homa.malformed.short",
    "unknown_type": "homa.malformed.bad_type",
    "shorter_than_type_header": "homa.malformed.truncated",
    "num_acks": "homa.malformed.num_acks",
    "msg_length": "homa.malformed.msg_length",
    "payload_length": "homa.malformed.payload_length",
    "offset": "homa.malformed.offset",
}


def number(text):
    """A tshark value or a listing value as an int (decimal or 0x hex)."""
    return {"True": 1, "False": 0}.get(text) if text in ("True", "False") \
        else int(text, 0)


def decode(lua, pcap):
    cmd = ["tshark", "-n", "-r", pcap, "-X", "lua_script:" + lua,
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=" + AGG]
    for c in COLUMNS:
        cmd += ["-e", c]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    err = [l for l in res.stderr.splitlines()
           if "Running as user" not in l and l.strip()]
    if res.returncode != 0 or err:
        sys.stderr.write("tshark failed (%d) on %s:\n%s\n" %
                         (res.returncode, pcap, "\n".join(err)))
        sys.exit(2)
    frames = {}
    for line in res.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) != len(COLUMNS):
            sys.stderr.write("unexpected tshark line: %r\n" % line)
            sys.exit(2)
        f = {}
        for name, val in zip(COLUMNS, cols):
            f[name] = val.split(AGG) if val != "" else []
        frames[int(cols[0])] = f
    return frames


def is_homa(f):
    return "homa" in f["frame.protocols"][0].split(":") if \
        f["frame.protocols"] else False


def has_error(f):
    return any(number(s) >= SEVERITY_ERROR for s in f["_ws.expert.severity"])


def last(f, name):
    """The last occurrence (the innermost layer), or None."""
    return f[name][-1] if f[name] else None


def actual(f, key, ptype):
    """The decoded value of the listing's key, or None if absent."""
    if key == "ipv":
        # (IPv6 shows ip.version too.)
        return 6 if f["ipv6.version"] else 4 if f["ip.version"] else None
    if key in ("src", "dst"):
        return last(f, "ip." + key) or last(f, "ipv6." + key)
    if key == "tos":
        v = last(f, "ip.dsfield") or last(f, "ipv6.tclass")
        return None if v is None else number(v)
    if key == "type":
        v = last(f, "homa.type")
        return None if v is None else TYPE_NAMES.get(number(v), v)
    field = COMMON.get(key) or PER_TYPE.get(ptype, {}).get(key)
    if field is None:
        return "(no such field)"
    if isinstance(field, tuple):
        name, i = field
        return number(f[name][i]) if len(f[name]) > i else None
    v = last(f, field)
    return None if v is None else number(v)


def parse_listing(path):
    rows = []
    with open(path) as fp:
        for line in fp:
            line = line.strip()
            if not line:
                continue
            rows.append(dict(kv.split("=", 1) for kv in line.split()))
    return rows


def check_vector(frames, rows, name):
    bad = []
    listed = set()
    fields = 0
    for row in rows:
        n = int(row["frame"])
        listed.add(n)
        f = frames.get(n)
        if f is None:
            bad.append("frame %d: not in the capture" % n)
            continue
        if not is_homa(f):
            bad.append("frame %d: not decoded as Homa (%s)" %
                       (n, f["frame.protocols"]))
            continue
        if row["valid"] == "1":
            if has_error(f) or f["_ws.malformed"]:
                bad.append("frame %d: valid but flagged: %s" %
                           (n, f["_ws.expert.message"]))
        else:
            expert = REASONS.get(row.get("reason"))
            if expert is None:
                bad.append("frame %d: unknown reason %s" %
                           (n, row.get("reason")))
            elif not f[expert]:
                bad.append("frame %d: %s not flagged %s (experts: %s)" %
                           (n, row["reason"], expert,
                            f["_ws.expert.message"]))
            elif not f["_ws.malformed"]:
                bad.append("frame %d: invalid but not malformed" % n)
        ptype = row.get("type")
        for key, want in row.items():
            if key in ("frame", "valid", "reason", "need", "type_byte"):
                continue
            if row["valid"] != "1" and key not in ("ipv", "src", "dst",
                                                    "tos", "homa_len"):
                continue
            got = actual(f, key, ptype)
            if key in ("src", "dst", "type"):
                ok = got == want
            else:
                ok = got is not None and got == number(want)
            fields += 1
            if not ok:
                bad.append("frame %d: %s=%s, tshark: %s" % (n, key, want, got))
        if row["valid"] != "1" and row.get("type_byte") is not None:
            got = last(f, "homa.type")
            fields += 1
            if got is None or number(got) != number(row["type_byte"]):
                bad.append("frame %d: type_byte=%s, tshark: %s" %
                           (n, row["type_byte"], got))
    for n, f in sorted(frames.items()):
        if n not in listed and is_homa(f):
            bad.append("frame %d: decoded as Homa but not listed" % n)
        if n not in listed and (f["_ws.malformed"] or has_error(f)):
            bad.append("frame %d: malformed (%s)" %
                       (n, f["_ws.expert.message"]))
    for b in bad:
        print("# %s: %s" % (name, b))
    print("# %s: %d frames, %d Homa listed, %d fields compared, %d "
          "mismatches" % (name, len(frames), len(listed), fields, len(bad)))
    return not bad


def check_homad(frames, name):
    bad = []
    types = {}
    data = marked = 0
    for n, f in sorted(frames.items()):
        proto = (f["ip.proto"] or f["ipv6.nxt"] or ["0"])[-1]
        expect = number(proto) == 146 or bool(f["udp.port"])
        if f["_ws.malformed"] or has_error(f):
            bad.append("frame %d: malformed or error: %s" %
                       (n, f["_ws.expert.message"]))
        if not expect:
            continue
        if not is_homa(f):
            bad.append("frame %d: not decoded as Homa (%s)" %
                       (n, f["frame.protocols"]))
            continue
        # A GSO/GRO train of the udp link: several Homa packets a frame.
        for v in f["homa.type"]:
            t = TYPE_NAMES.get(number(v), v)
            types[t] = types.get(t, 0) + 1
            data += t == "DATA"
        marked += sum(number(v) for v in f["homa.data.homad"])
    if data == 0:
        bad.append("no DATA packet in the capture")
    if marked != data:
        bad.append("%d of %d DATA packets without homad's marker" %
                   (data - marked, data))
    for b in bad:
        print("# %s: %s" % (name, b))
    print("# %s: %d frames, Homa packets by type: %s; %d problems" %
          (name, len(frames),
           " ".join("%s=%d" % kv for kv in sorted(types.items())), len(bad)))
    return not bad


# ---- --make: packets the vectors lack ---------------------------------------

def be(n, v):
    return v.to_bytes(n, "big")


def common(ptype, sport=40001, dport=501, seq=0, sender_id=42):
    return (be(2, sport) + be(2, dport) + be(4, seq) + bytes(3) +
            be(1, ptype) + be(1, 0xE0 if ptype == 0x10 else 0x50) +
            bytes(7) + be(8, sender_id))


def data(msg_len, offset, payload, pad=bytes(3), incoming=None):
    return (common(0x10, seq=offset) + be(4, msg_len) +
            be(4, msg_len if incoming is None else incoming) + be(8, 0) +
            be(2, 0) + be(2, 0) + be(1, 0) + pad + be(4, offset) + payload)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


SRC4, DST4 = bytes([10, 146, 9, 1]), bytes([10, 146, 9, 2])
SRC6 = bytes.fromhex("fd460009000000000000000000000001")
DST6 = bytes.fromhex("fd460009000000000000000000000002")


def ipv4(proto, payload, tos=0xE0):
    h = (be(1, 0x45) + be(1, tos) + be(2, 20 + len(payload)) + be(2, 1) +
         be(2, 0x4000) + be(1, 64) + be(1, proto) + be(2, 0) + SRC4 + DST4)
    return h[:10] + be(2, csum(h)) + h[12:] + payload


def ipv6(nxt, payload, tclass=0xE0):
    return (be(4, (6 << 28) | (tclass << 20)) + be(2, len(payload)) +
            be(1, nxt) + be(1, 64) + SRC6 + DST6 + payload)


def udp(v6, payload, sport=4146, dport=4146):
    ln = 8 + len(payload)
    h = be(2, sport) + be(2, dport) + be(2, ln) + be(2, 0)
    if v6:
        pseudo = SRC6 + DST6 + be(4, ln) + bytes(3) + be(1, 17)
    else:
        pseudo = SRC4 + DST4 + bytes(1) + be(1, 17) + be(2, ln)
    c = csum(pseudo + h + payload) or 0xFFFF
    return h[:6] + be(2, c) + payload


def make(pcap, txt):
    hd = b"HD\x01"
    ack6 = (common(0x18) + be(2, 6) + b"".join(be(8, 2 * i + 2) + be(2, 501)
                                              for i in range(5)))
    pkts = [  # (packet, listing)
        (ipv4(146, common(0x11)[:20]),
         "ipv=4 homa_len=20 valid=0 reason=shorter_than_common_header"),
        (ipv4(146, ack6),
         "ipv=4 homa_len=80 valid=0 reason=num_acks type=ACK"),
        (ipv4(146, data(0, 0, b"x")),
         "ipv=4 homa_len=57 valid=0 reason=msg_length type=DATA"),
        (ipv4(146, data(10, 0, bytes(20))),
         "ipv=4 homa_len=76 valid=0 reason=payload_length type=DATA"),
        (ipv4(146, data(100, 90, bytes(20))),
         "ipv=4 homa_len=76 valid=0 reason=offset type=DATA"),
        (ipv4(17, udp(False, data(1000, 0, bytes(100), hd, 600))),
         "ipv=4 src=10.146.9.1 dst=10.146.9.2 tos=0xe0 homa_len=156 valid=1 "
         "type=DATA sport=40001 dport=501 seq=0 doff=224 flags=0 urgent=0 "
         "sender_id=42 msg_len=1000 incoming=600 cutoff_version=0 "
         "retransmit=0 seg_offset=0 ack_client_id=0 ack_server_port=0 "
         "offset=0 payload_len=100 homad=1 homad_flags=1"),
        (ipv6(17, udp(True, common(0x11, 501, 40001, 0, 43) + be(4, 5000) +
                      be(1, 4)), 0x00),
         "ipv=6 src=fd46:9::1 dst=fd46:9::2 tos=0x00 homa_len=33 valid=1 "
         "type=GRANT sport=501 dport=40001 seq=0 doff=80 flags=0 urgent=0 "
         "sender_id=43 offset=5000 priority=4"),
        (ipv6(17, udp(True, common(0x17, 501, 40001, 0, 43))),
         "ipv=6 homa_len=28 valid=1 type=NEED_ACK sport=501 dport=40001 "
         "sender_id=43"),
        (ipv6(146, data(0xFFFFFFFF, 0, b"")),
         "ipv=6 homa_len=56 valid=0 reason=msg_length type=DATA"),
        # A GSO train of the udp link: 3 DATA packets of one 250-byte
        # message in one datagram (listed: the last).
        (ipv4(17, udp(False, b"".join(
            data(250, o, bytes(min(100, 250 - o)), hd, 250)
            for o in (0, 100, 200)))),
         "ipv=4 homa_len=106 valid=1 type=DATA msg_len=250 offset=200 "
         "seg_offset=200 payload_len=50 homad=1 homad_flags=1"),
        # A retransmission's train: packets that do not follow each
        # other (offsets 0 and 200 of a 300-byte message) ...
        (ipv4(17, udp(False, b"".join(
            data(300, o, bytes(100), hd, 300) for o in (0, 200)))),
         "ipv=4 homa_len=156 valid=1 type=DATA msg_len=300 offset=200 "
         "seg_offset=200 payload_len=100 homad=1 homad_flags=1"),
        # ... and the same 1-byte packet twice.
        (ipv6(17, udp(True, data(1, 0, b"x", hd, 1) * 2)),
         "ipv=6 homa_len=57 valid=1 type=DATA msg_len=1 offset=0 "
         "seg_offset=0 payload_len=1 homad=1 homad_flags=1"),
        # Not Homa: another UDP port.
        (ipv4(17, udp(False, common(0x10), 5000, 5001)), None),
    ]
    with open(pcap, "wb") as p, open(txt, "w") as t:
        # pcap header: LINKTYPE_RAW (101), IPv4 or IPv6 by version.
        p.write(be(4, 0xA1B2C3D4) + be(2, 2) + be(2, 4) + bytes(8) +
                be(4, 65535) + be(4, 101))
        for i, (pkt, listing) in enumerate(pkts):
            p.write(be(4, i) + be(4, 0) + be(4, len(pkt)) + be(4, len(pkt)) +
                    pkt)
            if listing:
                t.write("frame=%d %s\n" % (i + 1, listing))


def main(argv):
    if len(argv) == 4 and argv[1] == "--make":
        make(argv[2], argv[3])
        return 0
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    lua, pcap, what = argv[1:]
    frames = decode(lua, pcap)
    name = pcap.rsplit("/", 1)[-1]
    if what == "--homad":
        return 0 if check_homad(frames, name) else 1
    return 0 if check_vector(frames, parse_listing(what), name) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
