#!/bin/sh
# Times vdi-transfer upload/download against the pipelines of nova's XenServer plugin on the
# staging benchmark chain (built once by: go test -run XXX -bench Export -benchtime 1x ./staging). Median of N runs.
set -e
N=${N:-3}
BIN=/tmp/vdi-transfer-bench
TOP=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$TOP" && go build -o $BIN ./examples/vdi-transfer)
D=$(sh "$TOP/testdata/bench-data.sh")
SR=$D/staging-chain-v1
U0=b0000000-0000-4000-8000-000000000000; U1=b0000000-0000-4000-8000-000000000001; U2=b0000000-0000-4000-8000-000000000002
W=$(mktemp -d /tmp/clibench.XXXXXX)
mkdir $W/stage; ln $SR/$U0.vhd $W/stage/0.vhd; ln $SR/$U1.vhd $W/stage/1.vhd; ln $SR/$U2.vhd $W/stage/2.vhd
tar -zc --directory=$W/stage . > $W/image.tgz
ls -l $W/image.tgz | awk '{print "image.tgz (tar -zc) bytes:", $5}'
du -cb $SR/*.vhd | tail -1 | awk '{print "chain bytes:", $1}'
t() { # name, command
  ts=""
  for i in $(seq $N); do
    rm -rf $W/dst; mkdir $W/dst
    s=$(date +%s.%N); sh -c "$2"; e=$(date +%s.%N)
    ts="$ts $(echo "$e - $s" | bc)"
  done
  echo "$1: $(echo $ts | tr ' ' '\n' | sort -n | sed -n "$(( (N+1)/2 ))p") s  (runs:$ts)"
}
t "vdi-transfer upload" "$BIN upload --sr $SR $U0 $U1 $U2 > /dev/null"
t "nova plugin upload (tar -zc)" "tar -zc --directory=$W/stage . > /dev/null"
t "vdi-transfer download" "$BIN download --sr $W/dst < $W/image.tgz > /dev/null"
t "tar -zx alone" "tar -zx --directory=$W/dst < $W/image.tgz"
t "nova plugin download (tar -zx + renames)" "s=\$(mktemp -d $W/dst/tmpXXXXXX); tar -zx --directory=\$s < $W/image.tgz; for i in 0 1 2; do mv \$s/\$i.vhd \$s/\$(cat /proc/sys/kernel/random/uuid).vhd; done; mv \$s/*.vhd $W/dst/; rmdir \$s"
rm -rf $W
