#!/bin/sh
# daemon/core is sans-I/O, and the build proves it: libhomacore.la takes from
# outside itself only what tests/unit/core_symbols.allow names (nm -u), and
# every file of daemon/core includes only system headers and daemon/core's
# own (its include path reaches nothing else; this catches "daemon/log.h",
# which the build's -I$(top_srcdir) would still find).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
: "${NM:=nm}"
allow="$top_srcdir/tests/unit/core_symbols.allow"
la="$top_builddir/libhomacore.la"
[ -f "$la" ] || { echo "FAIL: $la not built (make libhomacore.la)"; exit 1; }
# The archive libtool keeps for the convenience library.
lib=$(sed -n "s/^old_library='\(.*\)'$/\1/p" "$la")
[ -n "$lib" ] || { echo "FAIL: $la names no archive"; exit 1; }
lib="$top_builddir/.libs/$lib"
[ -f "$lib" ] || { echo "FAIL: $lib missing"; exit 1; }

bad=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# 1. Includes: <system> or a header of daemon/core itself.
for f in "$top_srcdir"/daemon/core/*.[ch]; do
	sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$f" >"$tmp/inc"
	while read -r h; do
		case $h in
		*/*) ok=no ;;
		*) [ -f "$top_srcdir/daemon/core/$h" ] && ok=yes || ok=no ;;
		esac
		if [ $ok = no ]; then
			echo "FAIL: daemon/core/${f##*/} includes \"$h\" (not a header of daemon/core)"
			bad=1
		fi
	done <"$tmp/inc"
done

# 2. Symbols: undefined in some object and defined in none.
$NM -A -u "$lib" >"$tmp/u" || { echo "FAIL: $NM -u $lib"; exit 1; }
$NM -g --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sort -u >"$tmp/def"
awk '$(NF-1) == "U" || $(NF-1) == "w" { print $NF }' "$tmp/u" | sort -u >"$tmp/undef"
[ -s "$tmp/undef" ] || { echo "FAIL: $NM -u found no symbol at all in $lib"; exit 1; }
comm -23 "$tmp/undef" "$tmp/def" >"$tmp/ext"
sed -e 's/#.*//' -e 's/[ \t]*$//' -e '/^$/d' "$allow" >"$tmp/allow"
n=0
while read -r s; do
	n=$((n + 1))
	users=$(awk -v s="$s" '$NF == s { print $1 }' "$tmp/u" |
		sed 's/:$//; s/.*://; s/^libhomacore_la-//; s/\.o$/.c/' |
		sort -u | tr '\n' ' ')
	users=${users% }
	ok=no
	while read -r a only; do
		case $a in
		*\*) case $s in "${a%\*}"*) ok=yes ;; esac ;;
		*) [ "$s" = "$a" ] && ok=yes ;;
		esac
		[ $ok = yes ] || continue
		# "name file.c": only that file may use it.
		if [ -n "$only" ] && [ "$users" != "$only" ]; then
			echo "FAIL: daemon/core uses $s in $users; only $only may (tests/unit/core_symbols.allow)"
			bad=1
		fi
		break
	done <"$tmp/allow"
	if [ $ok = no ]; then
		echo "FAIL: daemon/core uses $s (in $users), not in tests/unit/core_symbols.allow"
		bad=1
	fi
done <"$tmp/ext"
echo "$n external symbols of $(sed -n '$=' "$tmp/def") defined checked: $(tr '\n' ' ' <"$tmp/ext")"
exit $bad
