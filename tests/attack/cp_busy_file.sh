#!/usr/bin/env bash
# cp_busy_file.sh - what a plain cp of a busy map file gives (issue 12,
# item 8). Not a test (cp of a live file is not atomic and is not promised
# to work); the figures behind tests/ATTACKS.md. The demo producer
# publishes at full rate; N copies are taken with cp and each is checked.
# Usage: bash tests/attack/cp_busy_file.sh BUILD_DIR [N]
set -u
BUILD=$(cd "${1:?usage: cp_busy_file.sh BUILD_DIR [N]}" && pwd)
N=${2:-20}
CLI=$BUILD/tools/mapf
[ -x "$CLI" ] || CLI=$BUILD/tools/mapfile
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-cp.XXXXXX")
"$BUILD/tools/mapfile-demo" produce "$T/busy.map" --rate 0 --every 1 >/dev/null 2>&1 &
P=$!
trap 'kill $P 2>/dev/null; wait $P 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 1 100); do [ -e "$T/busy.map" ] && break; sleep 0.05; done
sleep 0.5
bad=0
for i in $(seq 1 "$N"); do
    cp "$T/busy.map" "$T/copy.map"
    "$CLI" check "$T/copy.map" >"$T/out" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        bad=$((bad + 1))
        echo "copy $i: check exit $rc: $(head -n 1 "$T/out")"
    fi
done
echo "$bad of $N cp copies of a busy file failed check"
