# contrib/wireshark/: the Lua dissector for Homa as homad speaks it, into
# Wireshark's Lua plugin folder (configure --with-wiresharkluadir).
if WIRESHARK_LUA
wiresharklua_DATA = contrib/wireshark/homa.lua
endif
EXTRA_DIST += contrib/wireshark/homa.lua
