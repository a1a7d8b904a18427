#!/bin/sh
# Every C file of the tree is formatted by the tree's .clang-format.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v clang-format >/dev/null 2>&1 ||
	{ echo "SKIP: clang-format is not installed (contrib/install-deps.sh installs it)"; exit 77; }
cd "$top_srcdir" || exit 1
bad=0
n=0
for f in $(find daemon libclient proto tests contrib -name '*.[ch]' ! -name '*.pb-c.*' 2>/dev/null | sort); do
	n=$((n + 1))
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done
echo "$n files checked"
exit $bad
