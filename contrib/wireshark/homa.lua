-- homa.lua - Wireshark dissector for Homa as homad speaks it.
--
-- Homa is IP protocol 146 (IPv4 protocol, IPv6 next header); homad's udp
-- link carries the very same bytes as the payload of a UDP datagram (port
-- 4146 by default: homa.conf network.udp_port, and this dissector's "UDP
-- port" preference).  The byte layout is that of the Linux Homa module,
-- written down in homad's spec/wire.md: a 28-byte common header shaped like
-- a TCP header, then per type:
--
--   0x10 DATA         56 + payload   0x15 CUTOFFS   62
--   0x11 GRANT        33             0x16 FREEZE    28
--   0x12 RESEND       37             0x17 NEED_ACK  28
--   0x13 RPC_UNKNOWN  28             0x18 ACK       80
--   0x14 BUSY         28
--
-- Every field is shown, including the ones receivers ignore (doff, flags,
-- window, checksum, urgent) and homad's own marker in DATA's pad bytes
-- ('H', 'D', then homad's flags).  A packet that homad's codec
-- (daemon/core/wire.c) would refuse gets an error of the "Malformed" group
-- naming the reason, with the same short names as homad's metrics (short,
-- bad_type, truncated, num_acks, msg_length, payload_length, offset).
--
-- Install: copy into Wireshark's Lua plugin directory (`tshark -G folders`,
-- "Lua Plugins"; `make install` does it), or run once with
-- `tshark -X lua_script:homa.lua`.

local homa = Proto("homa", "Homa transport (homad)")

local TYPES = {
	[0x10] = "DATA",
	[0x11] = "GRANT",
	[0x12] = "RESEND",
	[0x13] = "RPC_UNKNOWN",
	[0x14] = "BUSY",
	[0x15] = "CUTOFFS",
	[0x16] = "FREEZE",
	[0x17] = "NEED_ACK",
	[0x18] = "ACK",
}

-- Full header length of each type (spec/wire.md).
local HEADER_LEN = {
	[0x10] = 56,
	[0x11] = 33,
	[0x12] = 37,
	[0x13] = 28,
	[0x14] = 28,
	[0x15] = 62,
	[0x16] = 28,
	[0x17] = 28,
	[0x18] = 80,
}

local COMMON_LEN = 28
local DATA_LEN = 56
local MAX_MESSAGE_LENGTH = 1000000
local MAX_ACKS = 5
local SEG_OFFSET_NONE = 0xFFFFFFFF
local RESEND_ALL = 0xFFFFFFFF
local PAD_MAGIC0 = 0x48 -- 'H'
local PAD_MAGIC1 = 0x44 -- 'D'
local DEFAULT_UDP_PORT = 4146


-- ---- fields ----------------------------------------------------------------

local f = {
	-- common header
	sport = ProtoField.uint16("homa.sport", "Source port", base.DEC),
	dport = ProtoField.uint16("homa.dport", "Destination port", base.DEC),
	port = ProtoField.uint16("homa.port", "Port", base.DEC),
	seq = ProtoField.uint32("homa.seq", "Sequence", base.DEC),
	ack_unused = ProtoField.bytes("homa.ack_unused", "Unused (TCP ack)"),
	type = ProtoField.uint8("homa.type", "Type", base.HEX, TYPES),
	doff = ProtoField.uint8("homa.doff", "Data offset", base.HEX),
	doff_len = ProtoField.uint8("homa.doff.len", "Header length (bytes)",
		base.DEC),
	flags = ProtoField.uint8("homa.flags", "Flags (TCP position)", base.HEX),
	window = ProtoField.uint16("homa.window", "Window (unused)", base.HEX),
	checksum = ProtoField.uint16("homa.checksum", "Checksum (not verified)",
		base.HEX),
	urgent = ProtoField.uint16("homa.urgent", "Urgent (unused)", base.DEC),
	sender_id = ProtoField.uint64("homa.sender_id", "Sender's RPC id",
		base.DEC),
	receiver_id = ProtoField.uint64("homa.receiver_id", "Receiver's RPC id",
		base.DEC),
	from_client = ProtoField.bool("homa.from_client",
		"Sent by the RPC's client"),
	homa_len = ProtoField.uint32("homa.len", "Homa packet length", base.DEC),
	ip_priority = ProtoField.uint8("homa.ip_priority",
		"Priority (IP TOS/traffic class >> 5)", base.DEC),

	-- DATA
	msg_len = ProtoField.uint32("homa.data.msg_len", "Message length",
		base.DEC),
	incoming = ProtoField.uint32("homa.data.incoming", "Incoming", base.DEC),
	ack_client_id = ProtoField.uint64("homa.data.ack_client_id",
		"Ack: client RPC id", base.DEC),
	ack_server_port = ProtoField.uint16("homa.data.ack_server_port",
		"Ack: server port", base.DEC),
	cutoff_version = ProtoField.uint16("homa.data.cutoff_version",
		"Cutoff version", base.DEC),
	retransmit = ProtoField.uint8("homa.data.retransmit", "Retransmit",
		base.DEC, { [0] = "no", [1] = "yes: answers a RESEND" }),
	pad = ProtoField.bytes("homa.data.pad", "Pad"),
	homad = ProtoField.bool("homa.data.homad", "Sent by homad (pad marker HD)"),
	homad_flags = ProtoField.uint8("homa.data.homad_flags", "homad flags",
		base.HEX),
	homad_incast = ProtoField.bool("homa.data.homad_flags.incast",
		"Incast: send the response with few unscheduled bytes", 8, nil, 0x01),
	homad_flags_other = ProtoField.uint8("homa.data.homad_flags.unknown",
		"Unknown flags", base.HEX, nil, 0xfe),
	seg_offset = ProtoField.uint32("homa.data.seg_offset", "Segment offset",
		base.DEC),
	offset = ProtoField.uint32("homa.data.offset", "Offset", base.DEC),
	payload_len = ProtoField.uint32("homa.data.payload_len", "Payload length",
		base.DEC),
	data_end = ProtoField.uint32("homa.data.end", "End of payload", base.DEC),
	payload = ProtoField.bytes("homa.data.payload", "Payload"),

	-- GRANT
	grant_offset = ProtoField.uint32("homa.grant.offset", "Granted offset",
		base.DEC),
	grant_priority = ProtoField.uint8("homa.grant.priority", "Priority",
		base.DEC),

	-- RESEND
	resend_offset = ProtoField.uint32("homa.resend.offset", "Offset", base.DEC),
	resend_length = ProtoField.uint32("homa.resend.length", "Length", base.DEC),
	resend_priority = ProtoField.uint8("homa.resend.priority", "Priority",
		base.DEC),

	-- CUTOFFS
	cutoff = ProtoField.uint32("homa.cutoffs.cutoff",
		"Unscheduled cutoff", base.DEC),
	cutoffs_version = ProtoField.uint16("homa.cutoffs.version",
		"Cutoff version", base.DEC),

	-- ACK
	num_acks = ProtoField.uint16("homa.ack.num_acks", "Number of acks",
		base.DEC),
	acks_client_id = ProtoField.uint64("homa.ack.client_id", "Client RPC id",
		base.DEC),
	acks_server_port = ProtoField.uint16("homa.ack.server_port",
		"Server port", base.DEC),
	acks_unused = ProtoField.bool("homa.ack.unused",
		"Past num_acks (not valid)"),
}

local field_list = {}
for _, v in pairs(f) do
	field_list[#field_list + 1] = v
end
homa.fields = field_list

-- ---- expert info: the reasons homad's codec refuses a packet ----------------

local e = {
	short = ProtoExpert.new("homa.malformed.short",
		"Shorter than the 28-byte common header",
		expert.group.MALFORMED, expert.severity.ERROR),
	bad_type = ProtoExpert.new("homa.malformed.bad_type",
		"Unknown packet type", expert.group.MALFORMED, expert.severity.ERROR),
	truncated = ProtoExpert.new("homa.malformed.truncated",
		"Shorter than its type's header", expert.group.MALFORMED,
		expert.severity.ERROR),
	num_acks = ProtoExpert.new("homa.malformed.num_acks",
		"ACK with more than 5 acks", expert.group.MALFORMED,
		expert.severity.ERROR),
	msg_length = ProtoExpert.new("homa.malformed.msg_length",
		"DATA message length is 0 or above 1000000",
		expert.group.MALFORMED, expert.severity.ERROR),
	payload_length = ProtoExpert.new("homa.malformed.payload_length",
		"DATA payload longer than its message", expert.group.MALFORMED,
		expert.severity.ERROR),
	offset = ProtoExpert.new("homa.malformed.offset",
		"DATA payload runs past the end of its message",
		expert.group.MALFORMED, expert.severity.ERROR),
	cut = ProtoExpert.new("homa.capture_cut",
		"Packet cut short by the capture (or quoted in an ICMP error)",
		expert.group.UNDECODED, expert.severity.NOTE),
	retransmit = ProtoExpert.new("homa.retransmit",
		"Retransmitted DATA (answers a RESEND)", expert.group.SEQUENCE,
		expert.severity.NOTE),
}
homa.experts = { e.short, e.bad_type, e.truncated, e.num_acks, e.msg_length,
	e.payload_length, e.offset, e.cut, e.retransmit }

-- ---- preferences -------------------------------------------------------------

homa.prefs.udp_port = Pref.uint("UDP port", DEFAULT_UDP_PORT,
	"UDP port of homad's udp link (homa.conf network.udp_port); 0: none")

local udp_table = DissectorTable.get("udp.port")
local registered_udp_port = 0
local homa_udp -- below: the udp link's dissector

local function register_udp_port(port)
	if registered_udp_port ~= 0 then
		udp_table:remove(registered_udp_port, homa_udp)
	end
	registered_udp_port = 0
	if port > 0 and port <= 65535 then
		udp_table:add(port, homa_udp)
		registered_udp_port = port
	end
end

function homa.prefs_changed()
	if homa.prefs.udp_port ~= registered_udp_port then
		register_udp_port(homa.prefs.udp_port)
	end
end

-- The IP layer's priority (3 high bits of the TOS or traffic class): the
-- last occurrence is the IP header right in front of this packet.
local ip_dsfield = Field.new("ip.dsfield")
local ipv6_tclass = Field.new("ipv6.tclass")

local function last_value(field)
	local all = { field() }
	if #all == 0 then
		return nil
	end
	return all[#all].value
end

-- ---- dissection --------------------------------------------------------------

-- The packet is len bytes long on the wire (reported), of which cap were
-- captured; fields are shown only for captured bytes, validity is judged
-- on the wire length.

local function add_common(tree, tvb, cap, pinfo)
	local ctree = tree:add(homa, tvb(0, math.min(cap, COMMON_LEN)),
		"Common header")
	ctree:add(f.sport, tvb(0, 2))
	ctree:add(f.dport, tvb(2, 2))
	ctree:add(f.port, tvb(0, 2)):set_hidden()
	ctree:add(f.port, tvb(2, 2)):set_hidden()
	ctree:add(f.seq, tvb(4, 4))
	ctree:add(f.ack_unused, tvb(8, 3))
	ctree:add(f.type, tvb(11, 1))
	local doff = ctree:add(f.doff, tvb(12, 1))
	doff:add(f.doff_len, tvb(12, 1), math.floor(tvb(12, 1):uint() / 16) * 4)
		:set_generated()
	ctree:add(f.flags, tvb(13, 1))
	ctree:add(f.window, tvb(14, 2))
	ctree:add(f.checksum, tvb(16, 2))
	ctree:add(f.urgent, tvb(18, 2))
	local id = tvb(20, 8):uint64()
	ctree:add(f.sender_id, tvb(20, 8))
	ctree:add(f.receiver_id, tvb(20, 8), id:bxor(UInt64(1))):set_generated()
	ctree:add(f.from_client, tvb(20, 8), id:band(UInt64(1)) == UInt64(0))
		:set_generated()
	return id
end

-- Returns the text for the Info column.
local function dissect_data(tree, tvb, len, cap, seq)
	local msg_len = tvb(28, 4):uint()
	local seg = tvb(52, 4):uint()
	local offset = seg == SEG_OFFSET_NONE and seq or seg
	local payload_len = len - DATA_LEN
	local dtree = tree:add(homa, tvb(28, DATA_LEN - 28), "DATA")
	local ml = dtree:add(f.msg_len, tvb(28, 4))
	dtree:add(f.incoming, tvb(32, 4))
	dtree:add(f.ack_client_id, tvb(36, 8))
	dtree:add(f.ack_server_port, tvb(44, 2))
	dtree:add(f.cutoff_version, tvb(46, 2))
	local rt = dtree:add(f.retransmit, tvb(48, 1))
	if tvb(48, 1):uint() ~= 0 then
		rt:add_proto_expert_info(e.retransmit)
	end
	local ptree = dtree:add(f.pad, tvb(49, 3))
	local is_homad = tvb(49, 1):uint() == PAD_MAGIC0 and
		tvb(50, 1):uint() == PAD_MAGIC1
	ptree:add(f.homad, tvb(49, 2), is_homad)
	if is_homad then
		local fl = ptree:add(f.homad_flags, tvb(51, 1))
		fl:add(f.homad_incast, tvb(51, 1))
		fl:add(f.homad_flags_other, tvb(51, 1))
	end
	local si = dtree:add(f.seg_offset, tvb(52, 4))
	if seg == SEG_OFFSET_NONE then
		si:append_text(" (none: the offset is the sequence)")
	end
	local oi = dtree:add(f.offset, tvb(seg == SEG_OFFSET_NONE and 4 or 52, 4),
		offset)
	oi:set_generated()
	local pl = dtree:add(f.payload_len, payload_len)
	pl:set_generated()
	dtree:add(f.data_end, offset + payload_len):set_generated()
	if payload_len > 0 and cap > DATA_LEN then
		dtree:add(f.payload, tvb(DATA_LEN, cap - DATA_LEN))
	end

	-- wire.c's checks, in its order.
	if msg_len == 0 or msg_len > MAX_MESSAGE_LENGTH then
		ml:add_proto_expert_info(e.msg_length)
	elseif payload_len > msg_len then
		pl:add_proto_expert_info(e.payload_length)
	elseif offset + payload_len > msg_len or
		(payload_len > 0 and offset >= msg_len) then
		oi:add_proto_expert_info(e.offset)
	end

	local info = string.format("offset=%u len=%u msg_len=%u incoming=%u",
		offset, payload_len, msg_len, tvb(32, 4):uint())
	if tvb(48, 1):uint() ~= 0 then
		info = info .. " retransmit"
	end
	if is_homad then
		info = info .. " [homad]"
	end
	return info
end

local function dissect_grant(tree, tvb)
	local t = tree:add(homa, tvb(28, 5), "GRANT")
	t:add(f.grant_offset, tvb(28, 4))
	t:add(f.grant_priority, tvb(32, 1))
	return string.format("offset=%u priority=%u", tvb(28, 4):uint(),
		tvb(32, 1):uint())
end

local function dissect_resend(tree, tvb)
	local t = tree:add(homa, tvb(28, 9), "RESEND")
	t:add(f.resend_offset, tvb(28, 4))
	local li = t:add(f.resend_length, tvb(32, 4))
	if tvb(32, 4):uint() == RESEND_ALL then
		li:append_text(" (all that was sent)")
	end
	t:add(f.resend_priority, tvb(36, 1))
	local length = tvb(32, 4):uint()
	return string.format("offset=%u length=%s priority=%u", tvb(28, 4):uint(),
		length == RESEND_ALL and "all" or tostring(length),
		tvb(36, 1):uint())
end

local function dissect_cutoffs(tree, tvb)
	local t = tree:add(homa, tvb(28, 34), "CUTOFFS")
	local vals = {}
	for i = 0, 7 do
		t:add(f.cutoff, tvb(28 + 4 * i, 4)):prepend_text(
			string.format("[%d] ", i))
		vals[#vals + 1] = tostring(tvb(28 + 4 * i, 4):uint())
	end
	t:add(f.cutoffs_version, tvb(60, 2))
	return string.format("version=%u cutoffs=%s", tvb(60, 2):uint(),
		table.concat(vals, ","))
end

local function dissect_ack(tree, tvb)
	local t = tree:add(homa, tvb(28, 52), "ACK")
	local n = tvb(28, 2):uint()
	local ni = t:add(f.num_acks, tvb(28, 2))
	if n > MAX_ACKS then
		ni:add_proto_expert_info(e.num_acks)
	end
	local ids = {}
	for i = 0, MAX_ACKS - 1 do
		local off = 30 + 10 * i
		local at = t:add(homa, tvb(off, 10), string.format("Ack %d", i))
		at:add(f.acks_client_id, tvb(off, 8))
		at:add(f.acks_server_port, tvb(off + 8, 2))
		if i >= n then
			at:add(f.acks_unused, true):set_generated()
			at:append_text(" (past num_acks)")
		else
			at:append_text(string.format(": id %s port %u",
				tostring(tvb(off, 8):uint64()), tvb(off + 8, 2):uint()))
			ids[#ids + 1] = tostring(tvb(off, 8):uint64())
		end
	end
	return string.format("num_acks=%u%s", n,
		#ids > 0 and (" ids=" .. table.concat(ids, ",")) or "")
end

local BODY = {
	[0x10] = nil, -- DATA: dissect_data, which needs the lengths
	[0x11] = dissect_grant,
	[0x12] = dissect_resend,
	[0x15] = dissect_cutoffs,
	[0x18] = dissect_ack,
}

local function dissect_homa(tvb, pinfo, tree)
	local len = tvb:reported_len()
	local cap = tvb:len()
	pinfo.cols.protocol = "Homa"
	local root = tree:add(homa, tvb(), "Homa")
	root:add(f.homa_len, len):set_generated()
	local prio = last_value(ip_dsfield) or last_value(ipv6_tclass)
	if prio ~= nil then
		root:add(f.ip_priority, math.floor(prio / 32)):set_generated()
	end

	if len < COMMON_LEN then
		root:add_proto_expert_info(e.short)
		pinfo.cols.info = string.format("Homa, %u bytes: too short", len)
		return cap
	end
	if cap < COMMON_LEN then
		root:add_proto_expert_info(e.cut)
		pinfo.cols.info = "Homa (cut short by the capture)"
		return cap
	end

	local type = tvb(11, 1):uint()
	local sport = tvb(0, 2):uint()
	local dport = tvb(2, 2):uint()
	local name = TYPES[type]
	root:append_text(string.format(", %s, %u -> %u",
		name or string.format("type 0x%02x", type), sport, dport))
	local id = add_common(root, tvb, cap, pinfo)
	local head = string.format("%u \226\134\146 %u %s id=%s", sport, dport,
		name or string.format("0x%02x", type), tostring(id))

	if name == nil then
		root:add_proto_expert_info(e.bad_type,
			string.format("Unknown packet type 0x%02x", type))
		pinfo.cols.info = head .. " (unknown type)"
		return cap
	end
	local need = HEADER_LEN[type]
	if len < need then
		root:add_proto_expert_info(e.truncated, string.format(
			"%s shorter than its %u-byte header (%u bytes)", name, need, len))
		pinfo.cols.info = head .. " (truncated)"
		return cap
	end
	if cap < need then
		root:add_proto_expert_info(e.cut)
		pinfo.cols.info = head .. " (cut short by the capture)"
		return cap
	end

	local info
	if type == 0x10 then
		info = dissect_data(root, tvb, len, cap, tvb(4, 4):uint())
	elseif BODY[type] ~= nil then
		info = BODY[type](root, tvb)
	end
	pinfo.cols.info = info and (head .. " " .. info) or head
	return cap
end
homa.dissector = dissect_homa

-- ---- the udp link: one Homa packet per datagram, or a GSO/GRO train ---------
--
-- homad sends runs of DATA packets of one message with UDP GSO: a capture
-- taken on the sending (or, with GRO, receiving) host shows them as one
-- datagram holding complete Homa DATA packets back to back, each
-- gso_size bytes but the last.  Each is shown as a Homa packet of its own.

homa_udp = Proto("homa_udp", "Homa over UDP (homad udp link)")
local fu = {
	segments = ProtoField.uint16("homa_udp.segments",
		"Homa packets in this datagram (GSO/GRO train)", base.DEC),
	seg_size = ProtoField.uint16("homa_udp.segment_size",
		"Bytes per Homa packet (gso_size)", base.DEC),
}
homa_udp.fields = { fu.segments, fu.seg_size }

-- The size of the first packet of a train in raw (a string of len bytes,
-- a DATA packet at 0), or nil if it is one packet: the smallest size p
-- such that a DATA packet of the same ports and sender_id starts at every
-- multiple of p and the last packet holds at least a header.  The offsets
-- need not follow each other: a retransmission can put any packets of a
-- message, or the same packet twice, in one train.
local function train_segment_size(raw, len)
	local ports = raw:sub(1, 4)
	local id = raw:sub(21, 28)
	local function data_at(p) -- p: 0-based
		return raw:sub(p + 1, p + 4) == ports and
			raw:byte(p + 12) == 0x10 and
			raw:sub(p + 21, p + 28) == id
	end
	local from = DATA_LEN + 1 + 20 -- sender_id of a packet at DATA_LEN + 1
	while true do
		local at = raw:find(id, from + 1, true)
		if at == nil or at - 21 + DATA_LEN > len then
			return nil
		end
		local p = at - 21 -- 0-based start of the candidate packet
		local ok = len - math.floor((len - 1) / p) * p >= DATA_LEN
		local q = p
		while ok and q < len do
			ok = data_at(q)
			q = q + p
		end
		if ok then
			return p
		end
		from = at
	end
end

local homa_handle -- Dissector.get("homa"), once registered

function homa_udp.dissector(tvb, pinfo, tree)
	homa_handle = homa_handle or Dissector.get("homa")
	local len = tvb:reported_len()
	local size = nil
	if len > 2 * DATA_LEN and tvb:len() == len and tvb(11, 1):uint() == 0x10 then
		size = train_segment_size(tvb:raw(0, len), len)
	end
	if size == nil then
		return homa_handle:call(tvb, pinfo, tree)
	end
	local count = math.ceil(len / size)
	local t = tree:add(homa_udp, tvb(), string.format(
		"Homa over UDP: GSO/GRO train of %u packets", count))
	t:add(fu.segments, count):set_generated()
	t:add(fu.seg_size, size):set_generated()
	local first
	for at = 0, len - 1, size do
		local n = math.min(size, len - at)
		homa_handle:call(tvb(at, n):tvb(), pinfo, tree)
		first = first or tostring(pinfo.cols.info)
	end
	pinfo.cols.info = string.format("[%u packets of %u B] %s ... %s", count,
		size, first, tostring(pinfo.cols.info))
	return len
end

DissectorTable.get("ip.proto"):add(146, homa)
register_udp_port(homa.prefs.udp_port)
