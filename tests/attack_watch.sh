#!/usr/bin/env bash
# attack_watch.sh - `watch` beside the demo producer at full rate never
# fails (issue 12, item 2: "the most basic live use of the project").
# Usage: bash tests/attack_watch.sh BUILD_DIR SOURCE_DIR
#
# The demo producer publishes its three histograms with mf_update at full
# rate (--rate 0 --every 1); the CLI's watch redraws on every change with
# its output thrown away. watch must still be running when the bounded run
# ends (timeout's exit 124): on the old core it exited 1 within 18-40 s
# with "map file is corrupt: record 'hpx': its payload is not sealed" or
# "the record list is broken at offset N". MF_ATTACK_WATCH_SECONDS sets
# the run (default 30, 15 in a sanitizer build; the issue asks for 10
# minutes before it is closed).
# MF_ATTACK_WATCH_RUNS repeats it (default 1); MF_ATTACK_WATCHERS sets how
# many watch processes run side by side (default 3), each must last.
set -u

BUILD=${1:?usage: attack_watch.sh BUILD_DIR SOURCE_DIR}
BUILD=$(cd "$BUILD" && pwd)
# Under ASan (a sanitizer build tree) the run is shorter: the plain pass
# gives the minute.
if grep -q '^MAPFILE_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
    SECS=${MF_ATTACK_WATCH_SECONDS:-15}
else
    SECS=${MF_ATTACK_WATCH_SECONDS:-30}
fi
RUNS=${MF_ATTACK_WATCH_RUNS:-1}
NWATCH=${MF_ATTACK_WATCHERS:-3}

CLI=""
for c in "$BUILD/tools/mapf" "$BUILD/tools/mapfile"; do
    if [ -x "$c" ]; then
        CLI=$c
        break
    fi
done
DEMO=$BUILD/tools/mapfile-demo
if [ -z "$CLI" ] || [ ! -x "$DEMO" ]; then
    echo "attack_watch.sh: no CLI (tools/mapf or tools/mapfile) or mapfile-demo in $BUILD" >&2
    exit 1
fi

# Every process here ends by SIGTERM in the middle of its work, so a leak
# report at its exit would mean nothing; and in the sanitizer pass
# LeakSanitizer's exit check once never finished (its tracer waited for a
# process that never stopped; a watch spun 4 minutes past its timeout).
# Leaks are checked where processes end normally (every other test).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-attack-watch.XXXXXX")
PRODUCER=""
cleanup() {
    if [ -n "$PRODUCER" ]; then
        kill "$PRODUCER" 2>/dev/null
        wait "$PRODUCER" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT

failed=0
for run in $(seq 1 "$RUNS"); do
    MAP=$T/demo-$run.map
    "$DEMO" produce "$MAP" --rate 0 --every 1 >/dev/null 2>"$T/producer.err" &
    PRODUCER=$!
    for _ in $(seq 1 200); do
        [ -e "$MAP" ] && break
        sleep 0.05
    done
    if [ ! -e "$MAP" ]; then
        echo "FAIL: the demo producer did not create $MAP" >&2
        cat "$T/producer.err" >&2
        exit 1
    fi
    # Several watchers at once: more readers meet more of the writer's
    # moments (on a loaded machine one alone may miss them for a minute).
    start=$(date +%s)
    WATCHERS=()
    for w in $(seq 1 "$NWATCH"); do
        timeout "$SECS" "$CLI" watch "$MAP" >/dev/null 2>"$T/watch-$w.err" &
        WATCHERS+=($!)
    done
    rc=124
    for w in $(seq 1 "$NWATCH"); do
        wait "${WATCHERS[$((w - 1))]}"
        r=$?
        if [ "$r" -ne 124 ] && [ "$rc" -eq 124 ]; then
            rc=$r
            cp "$T/watch-$w.err" "$T/watch.err"
        fi
    done
    took=$(($(date +%s) - start))
    if ! kill -0 "$PRODUCER" 2>/dev/null; then
        echo "FAIL: the demo producer stopped during the run (run $run):" >&2
        cat "$T/producer.err" >&2
        exit 1
    fi
    kill "$PRODUCER" 2>/dev/null
    wait "$PRODUCER" 2>/dev/null
    PRODUCER=""
    if [ "$rc" -eq 124 ]; then
        echo "run $run: $NWATCH watch processes ran ${SECS}s beside the full-rate producer without an error"
    else
        echo "FAIL: run $run: a watch exited $rc (within ${took}s) beside the full-rate producer:"
        sed 's/^/  stderr: /' "$T/watch.err"
        failed=$((failed + 1))
    fi
done
echo "$((RUNS - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
