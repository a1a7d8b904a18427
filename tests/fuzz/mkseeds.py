#!/usr/bin/env python3
"""mkseeds.py - seed corpora for the libFuzzer targets of tests/fuzz.

    tests/fuzz/mkseeds.py SRCDIR OUTDIR

writes OUTDIR/fuzz_wire (every Homa packet of the captures in
SRCDIR/tests/vectors), OUTDIR/fuzz_engine (those packets as fuzz_engine
scripts, plus scripts of whole RPCs the engine runs with itself),
OUTDIR/fuzz_client_msg (one ClientMsg of each command, protobuf-encoded
here by hand) and OUTDIR/fuzz_config (conf/homa.conf, the same with every
default set explicitly, and small variants).
"""
import glob
import hashlib
import os
import struct
import sys

# fuzz_engine opcodes (enum fe_op in fuzz_engine.c)
RX_RAW, RX_BUILT, TICK, SEND_REQ, SEND_RESP, RECYCLE, ABORT, ICMP, REFLECT, SOCK = range(10)


def pcap_homa(path):
    """Yield (ipv, src_last_byte, tos, homa_bytes) for each Homa packet."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack('<I', data[:4])[0]
    endian = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    linktype = struct.unpack(endian + 'I', data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + 'IIII', data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if linktype == 1:
            if len(frame) < 14:
                continue
            etype = struct.unpack('>H', frame[12:14])[0]
            ip = frame[14:]
        elif linktype == 101:  # raw IP
            ip = frame
            etype = 0x0800 if ip and ip[0] >> 4 == 4 else 0x86dd
        else:
            return
        if etype == 0x0800 and len(ip) >= 20:
            ihl = (ip[0] & 15) * 4
            total = struct.unpack('>H', ip[2:4])[0]
            if ip[9] != 146:
                continue
            yield 4, ip[15], ip[1], ip[ihl:total]
        elif etype == 0x86dd and len(ip) >= 40:
            plen = struct.unpack('>H', ip[4:6])[0]
            if ip[6] != 146:
                continue
            tclass = ((ip[0] & 15) << 4) | (ip[1] >> 4)
            yield 6, ip[23], tclass, ip[40:40 + plen]


def write(outdir, blob):
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(blob)


def engine_rx(ipv, last, tos, pkt):
    peer = (0 if ipv == 4 else 2) + (last & 1)
    return struct.pack('<BBBH', RX_RAW, peer, tos, len(pkt)) + pkt


def tick(us=1000):
    return struct.pack('<BHB', TICK, us, 1)


def engine_selfrpc(reqlen, resplen, rounds):
    """Client socket -> server socket (port 4000) through REFLECT."""
    s = b''
    # SEND_REQ: sock 1, length, not small, peer 0, port selector 3 (4000)
    s += struct.pack('<BBIBBBQ', SEND_REQ, 1, reqlen - 1, 0, 0, 3, 7)
    for _ in range(rounds):
        s += struct.pack('<BB', REFLECT, 31) + b'\x01' * 32 + tick(200)
    # SEND_RESP to the first delivery, then recycle it
    s += struct.pack('<BBIB', SEND_RESP, 0, resplen - 1, 0)
    for _ in range(rounds):
        s += struct.pack('<BB', REFLECT, 31) + b'\x01' * 32 + tick(200)
    s += struct.pack('<BB', RECYCLE, 0) + struct.pack('<BB', RECYCLE, 0)
    s += tick(60000) * 4
    return s


def varint(v):
    if v < 0:
        v += 1 << 64
    out = b''
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fv(num, v):
    return varint(num << 3) + varint(v)


def fb(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def client_msgs():
    a4 = fb(1, bytes([10, 0, 0, 1])) + fv(2, 4000)
    a6 = fb(1, bytes(15) + b'\x01') + fv(2, 4000)
    yield fv(1, 1) + fb(10, fv(1, 1) + fv(2, 10) + fv(3, 1 << 20) + fv(4, 1 << 20))
    yield fv(1, 2) + fb(11, fv(1, 4000))
    yield fv(1, 3) + fb(12, fv(1, 1))
    yield fb(13, fv(1, 2) + fb(2, a4) + fv(3, 99) + fv(4, 1) + fb(7, b'hello'))
    yield fb(13, fv(1, 4) + fb(2, a6) + fv(5, 4096) + fv(6, 100))
    yield fb(14, fv(1, 3) + fb(2, a4) + fb(5, b'world'))
    yield fb(14, fv(1, 5) + fb(2, a6) + fv(3, 0) + fv(4, 65536))
    yield fv(1, 4) + fb(15, fv(1, 0) + fv(2, 125))
    yield fv(1, 5) + fb(15, fv(1, 2) + fv(2, -1))
    yield fb(16, fb(1, varint(0) + varint(65536) + varint(131072)))
    yield fb(16, fv(1, 65536))
    yield fv(1, 6) + fb(17, fv(1, 16))
    yield fv(1, 7) + fb(18, b'')
    yield fv(1, 8) + fb(19, b'')


def configs(top):
    with open(os.path.join(top, 'conf', 'homa.conf'), 'rb') as f:
        conf = f.read()
    yield conf
    # every commented default set explicitly
    lines = []
    for line in conf.split(b'\n'):
        s = line.lstrip()
        if s.startswith(b'#') and b'=' in s and s.rstrip().endswith(b';'):
            line = line.replace(b'#', b'', 1)
        lines.append(line)
    yield b'\n'.join(lines)
    yield b''
    yield b'protocol = { max_overcommit = 0; };\n'
    yield b'protocol = { unsched_cutoffs = [1, 2, 3, 4, 5, 6, 7, 8]; };\n'
    yield b'network = { link = "udp"; addresses = ["127.0.0.1", "::1"]; };\n'
    yield b'peers = ( { prefix = "10.0.0.0/8"; rate_mbps = 1000; } );\n'
    yield b'limits = { max_memory = 5000000000L; };\n'


def main():
    top, out = sys.argv[1], sys.argv[2]
    dirs = {}
    for t in ('fuzz_wire', 'fuzz_engine', 'fuzz_client_msg', 'fuzz_config'):
        dirs[t] = os.path.join(out, t)
        os.makedirs(dirs[t], exist_ok=True)
    pcaps = sorted(glob.glob(os.path.join(top, 'tests', 'vectors', '*', '*.pcap')))
    seen = set()
    for p in pcaps:
        pkts = list(pcap_homa(p))
        for _, _, _, h in pkts:
            # one packet of each (type, length) per capture is plenty
            key = (h[11] if len(h) > 11 else -1, len(h), os.path.basename(p))
            if key not in seen:
                seen.add(key)
                write(dirs['fuzz_wire'], h)
        for start in (0, max(0, len(pkts) - 48)):
            s = b''
            for i, pk in enumerate(pkts[start:start + 48]):
                s += engine_rx(*pk)
                if i % 8 == 7:
                    s += tick()
            write(dirs['fuzz_engine'], s + tick(60000) * 3)
    for req, resp, rounds in ((100, 100, 2), (30000, 100, 4), (100, 150000, 8),
                              (200000, 200000, 12)):
        write(dirs['fuzz_engine'], engine_selfrpc(req, resp, rounds))
    for m in client_msgs():
        write(dirs['fuzz_client_msg'], m)
    for c in configs(top):
        write(dirs['fuzz_config'], c)
    for t, d in sorted(dirs.items()):
        print('%s: %d seeds' % (t, len(os.listdir(d))))


if __name__ == '__main__':
    main()
