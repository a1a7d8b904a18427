# proto/: the control and client protocols (protobuf-c, generated at build
# time into the build tree).
PROTO_FILES = proto/homa_ctl.proto proto/homa_client.proto
PROTO_GEN_C = proto/homa_ctl.pb-c.c proto/homa_client.pb-c.c
PROTO_GEN_H = proto/homa_ctl.pb-c.h proto/homa_client.pb-c.h

EXTRA_DIST += $(PROTO_FILES) proto/homa_shm.h
BUILT_SOURCES += $(PROTO_GEN_C) $(PROTO_GEN_H)
CLEANFILES += $(PROTO_GEN_C) $(PROTO_GEN_H)

proto/%.pb-c.c proto/%.pb-c.h: $(top_srcdir)/proto/%.proto
	$(AM_V_GEN)$(MKDIR_P) proto && \
	$(PROTOC_C) --proto_path=$(top_srcdir)/proto --c_out=proto $<

noinst_LTLIBRARIES += libhomaproto.la
nodist_libhomaproto_la_SOURCES = $(PROTO_GEN_C) $(PROTO_GEN_H)
libhomaproto_la_CFLAGS = $(PROTOBUF_C_CFLAGS)
libhomaproto_la_LIBADD = $(PROTOBUF_C_LIBS)
