#!/usr/bin/env bash
# Fails when a C file of the project differs from what clang-format makes of it.
# usage: check-format.sh CLANG_FORMAT SOURCE_DIR
set -uo pipefail
cf=$1
cd "$2" || exit 2
bad=0
while IFS= read -r f; do
	if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find server cli proto tests bench -name '*.[ch]')
[ "$bad" = 0 ] && echo "all C files formatted"
exit "$bad"
