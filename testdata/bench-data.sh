#!/bin/sh
# bench-data.sh: prints the directory holding mixed.raw, the 256 MiB file the
# tarball and staging benchmarks read, and makes the file first if needed.
#
# The file mimics a disk image that compresses the way real ones do: the first
# 180 MiB are the contents of installed system files (libraries, data, docs:
# every regular file over 4 KiB under /usr/lib and /usr/share, in C-locale
# path order, the first 20000 of them), the last 76 MiB are zeros. The same
# distribution gives the same bytes, so figures compare across runs.
#
#   sh testdata/bench-data.sh        # -> /tmp/vhdkit-bench-data
#
# VHDKIT_BENCH_DATA names another directory. An existing mixed.raw of the
# right size is kept; the file appears only once complete.
set -eu
dir=${VHDKIT_BENCH_DATA:-/tmp/vhdkit-bench-data}
out=$dir/mixed.raw
files=$((180 << 20))
zeros=$((76 << 20))
total=$((files + zeros))

if [ "$(stat -c %s "$out" 2>/dev/null || echo 0)" -ne "$total" ]; then
	mkdir -p "$dir"
	tmp=$out.partial.$$
	trap 'rm -f "$tmp"' EXIT
	trap 'exit 1' HUP INT TERM
	{
		# cat dies of SIGPIPE once head has its bytes; that is expected.
		find /usr/lib /usr/share -type f -size +4k -print0 2>/dev/null |
			LC_ALL=C sort -z | head -z -n 20000 |
			xargs -0 cat 2>/dev/null | head -c "$files"
		head -c "$zeros" /dev/zero
	} >"$tmp"
	got=$(stat -c %s "$tmp")
	if [ "$got" -ne "$total" ]; then
		echo "bench-data.sh: made $got bytes, want $total: too few system files under /usr/lib and /usr/share" >&2
		exit 1
	fi
	mv "$tmp" "$out"
fi
echo "$dir"
