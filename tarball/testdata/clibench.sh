#!/bin/sh
# Times vdi-transfer pack/unpack against tar -zc, tar | pigz -p 2, tar -zx and
# pigz -dc | tar -x as commands, alternating the tools on each round, and
# prints the median wall time, CPU time (user+sys) and peak RSS of each.
# Unpack is timed on vdi-transfer's own archive (own-*) and on the one
# GNU tar -zc makes (gnu-*), each read from a file on stdin and from a pipe
# (*-pipe: cat ARCHIVE | ...), so that nothing can seek it.
#
#   sh tarball/testdata/clibench.sh [ROUNDS] [IMAGE_MIB]
#
# The image is the shared benchmark file (testdata/bench-data.sh: 180 MiB
# of system files, 76 MiB of zeros) repeated to IMAGE_MIB (default 256, must
# be a multiple of 256); IMAGE_MIB=1024 makes the 1 GiB image. With SPARSE_MIB
# set, the image gets that many MiB of hole appended (an 8 GiB image is
# IMAGE_MIB=1024 SPARSE_MIB=7168). UNPACK_ONLY=1 skips the pack rounds (the
# archives are still made once).
set -eu
ROUNDS=${1:-5}
MIB=${2:-256}
SPARSE=${SPARSE_MIB:-0}
cd "$(dirname "$0")/../.."
D=$(sh testdata/bench-data.sh)
W=${VHDKIT_CLIBENCH_DIR:-/tmp/vhdkit-clibench}
SRC=$W/src-$MIB-$SPARSE
mkdir -p "$SRC"
if [ ! -s "$SRC/0.vhd" ]; then
  i=0
  while [ $i -lt $((MIB / 256)) ]; do cat "$D/mixed.raw"; i=$((i + 1)); done > "$SRC/0.vhd"
  [ "$SPARSE" -gt 0 ] && truncate -s +"${SPARSE}M" "$SRC/0.vhd"
fi
go build -o "$W/vdi-transfer" ./examples/vdi-transfer
V=$W/vdi-transfer
: > "$W/results"
t() { # t NAME IN OUT CMD...: runs CMD with stdin IN and stdout OUT
  name=$1 in=$2 out=$3; shift 3
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@" < "$in" > "$out"
  echo "$name $(cat "$W/time")" >> "$W/results"
}
fresh() { rm -rf "$W/out"; mkdir "$W/out"; sync; }
"$V" pack "$SRC" > "$W/v.tgz"
tar -zcf - -C "$SRC" . > "$W/t.tgz"
tar -cf - -C "$SRC" . | pigz -p 2 > "$W/p.tgz"
UNPACKS="own gnu"
r=0
while [ $r -lt "$ROUNDS" ]; do
  if [ -z "${UNPACK_ONLY:-}" ]; then
    t vdi-pack /dev/null "$W/v.tgz" "$V" pack "$SRC"
    t tar-zc /dev/null "$W/t.tgz" tar -zcf - -C "$SRC" .
    t tar-pigz-p2 /dev/null "$W/p.tgz" sh -c "tar -cf - -C '$SRC' . | pigz -p 2"
  fi
  for a in $UNPACKS; do
    A=$W/v.tgz
    [ "$a" = gnu ] && A=$W/t.tgz
    fresh; t "$a-vdi-unpack" "$A" /dev/null "$V" unpack "$W/out"
    fresh; t "$a-tar-zx" "$A" /dev/null tar -zxf - -C "$W/out"
    fresh; t "$a-pigz-dc-tar-x" "$A" /dev/null sh -c "pigz -dc | tar -xf - -C '$W/out'"
    fresh; t "$a-vdi-unpack-pipe" /dev/null /dev/null sh -c "cat '$A' | '$V' unpack '$W/out'"
    fresh; t "$a-tar-zx-pipe" /dev/null /dev/null sh -c "cat '$A' | tar -zxf - -C '$W/out'"
    fresh; t "$a-pigz-pipe" /dev/null /dev/null sh -c "cat '$A' | pigz -dc | tar -xf - -C '$W/out'"
  done
  r=$((r + 1))
done
rm -rf "$W/out"
gz6=$(gzip -6 -c "$SRC/0.vhd" | wc -c)
echo "image: $MIB MiB data + $SPARSE MiB hole; rounds: $ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "output bytes: vdi $(wc -c < "$W/v.tgz"), tar -zc $(wc -c < "$W/t.tgz"), pigz $(wc -c < "$W/p.tgz"), gzip -6 $gz6"
printf "%-22s %8s %8s %10s\n" tool wall_s cpu_s maxrss_kb
for name in $(awk '{print $1}' "$W/results" | awk '!seen[$0]++'); do
  n=$(grep -c "^$name " "$W/results")
  m=$(( (n + 1) / 2 ))
  wall=$(grep "^$name " "$W/results" | awk '{print $2}' | sort -n | sed -n "${m}p")
  cpu=$(grep "^$name " "$W/results" | awk '{print $3 + $4}' | sort -n | sed -n "${m}p")
  rss=$(grep "^$name " "$W/results" | awk '{print $5}' | sort -n | tail -1)
  printf "%-22s %8s %8s %10s\n" "$name" "$wall" "$cpu" "$rss"
done
