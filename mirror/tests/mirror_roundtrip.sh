#!/usr/bin/env bash
# mirror_roundtrip.sh - what a user does, with the installed tools.
# Usage: bash mirror_roundtrip.sh BUILD_DIR SOURCE_DIR
#
# 1. The demo producer fills histograms on one side with `mirror push`;
#    `mirror pull` keeps a mirror on the other; a demo consumer started on
#    the mirror before the first sync waits, then reads. After the producer
#    stops, `get --json` of every record is equal on both files, and the
#    consumer's last line shows every fill. A push started before its FILE
#    exists waits for it, then publishes it.
# 2. The README's "Several hosts" C example (a producer pushing from
#    inside its own process) is compiled against the install with
#    pkg-config and run; `mirror pull --once` then equals its file.
# 3. The CLI's usage errors and exit codes.
set -u
BUILD=$(cd "${1:?usage: mirror_roundtrip.sh BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: mirror_roundtrip.sh BUILD_DIR SOURCE_DIR}" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-mirror-rt.XXXXXX")
# shellcheck source=mirror_lib.sh
. "$(dirname "$0")/mirror_lib.sh"
trap 'kill_all; rm -rf "$T"' EXIT

# ---- the install -----------------------------------------------------------------
PREFIX=$T/prefix
if ! cmake --install "$BUILD" --prefix "$PREFIX" >"$T/install.log" 2>&1; then
    cat "$T/install.log"
    fail "cmake --install"
    summary
    exit 1
fi
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libmapfile_mirror.so' | head -n 1)")
export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export MAPFILE_PLUGIN_PATH=$LIBDIR/mapfile/plugins
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
MAPF=$PREFIX/bin/mapf
DEMO=$PREFIX/bin/mapfile-demo
check "the install has the mirror header, library and pkg-config file" \
    test -f "$PREFIX/include/mapfile/mirror.h" -a -f "$LIBDIR/pkgconfig/mapfile-mirror.pc"

SOCK=$T/redis.sock
EP=unix:$SOCK
redis_up "" "$T" redis none --port 0 --unixsocket "$SOCK" --unixsocketperm 700
wait_until 10 redis_ping "" -s "$SOCK" || fail "redis-server did not start"

expect() { # expect STATUS DESC CMD...
    local want=$1 desc=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then pass "$desc (exit $want)"; else
        fail "$desc: exit $got, want $want"
        cat "$T/err"
    fi
}

# ---- 1. the demo through a mirror ----------------------------------------------
FILLS=20000
bg "$DEMO" consume "$T/mirror.map" --seconds 60 >"$T/consume.out" 2>&1
CONSUMER=$LAST
sleep 0.3 # the consumer is waiting for a file that does not exist yet
check "the consumer waits for the mirror" kill -0 "$CONSUMER"
bg "$DEMO" produce "$T/demo.map" --fills $FILLS --every 50 --rate 200 >"$T/produce.out"
PRODUCER=$LAST
bg "$MAPF" mirror push "$T/demo.map" --redis "$EP" 2>"$T/push.log"
PUSH=$LAST
bg "$MAPF" mirror pull "$EP" "$T/mirror.map" 2>"$T/pull.log"
PULL=$LAST
check "the producer finished" wait "$PRODUCER"
check "the consumer on the mirror read and stopped with the producer" wait "$CONSUMER"
check "the consumer's last redraw shows all $FILLS fills" \
    grep -q "^hpx: *entries $FILLS " <(grep '^hpx:' "$T/consume.out" | tail -n 1)
check "the mirror equals the source" "$HELPER" same "$T/demo.map" "$T/mirror.map" --timeout 20

same_json() {
    local names name ok=0
    names=$("$MAPF" ls "$T/demo.map" | awk 'NR > 1 { print $1 }')
    [ "$names" = "$("$MAPF" ls "$T/mirror.map" | awk 'NR > 1 { print $1 }')" ] || return 1
    [ -n "$names" ] || return 1
    for name in $names; do
        "$MAPF" get --json "$T/demo.map" "$name" >"$T/a.json" || return 1
        "$MAPF" get --json "$T/mirror.map" "$name" >"$T/b.json" || return 1
        cmp -s "$T/a.json" "$T/b.json" || ok=1
    done
    return $ok
}
check "get --json of every record is equal on both files" same_json
expect 2 "a second pull of the file the running pull writes" \
    "$MAPF" mirror pull "$EP" "$T/mirror.map" --once
check "which says so" grep -q "another mirror pull writes" "$T/err"
check "the mirror is still equal to the source" same_json
check "the push stops on SIGTERM with exit 0" stop_gently "$PUSH"
check "the pull stops on SIGTERM with exit 0" stop_gently "$PULL"
cat "$T/pull.log"
check "the pull's log lines start 'mapf mirror pull: HH:MM:SS'" \
    grep -Eq '^mapf mirror pull: [0-9]{2}:[0-9]{2}:[0-9]{2} connected to unix:' "$T/pull.log"
check "the push's log lines start 'mapf mirror push: HH:MM:SS'" \
    grep -Eq '^mapf mirror push: [0-9]{2}:[0-9]{2}:[0-9]{2} connected to unix:' "$T/push.log"

# ---- 1b. a push started before its FILE exists waits for it ---------------------
bg "$MAPF" mirror push "$T/later.map" --redis "$EP" --ns later 2>"$T/later.log"
LATER=$LAST
# It says so (slowly under ASan on a loaded machine), and keeps waiting.
check "a push of a FILE that does not exist yet says it waits for it" wait_until 30 \
    grep -qF "mapf mirror push: waiting for $T/later.map to appear" "$T/later.log"
check "and keeps waiting" kill -0 "$LATER"
"$DEMO" produce "$T/later.map" --fills 200 --every 20 --rate 0 >/dev/null
later_same() {
    "$MAPF" mirror pull "$EP" "$T/later-mirror.map" --ns later --once 2>/dev/null &&
        "$HELPER" same "$T/later.map" "$T/later-mirror.map" >/dev/null 2>&1
}
check "then publishes it once it appears" wait_until 20 later_same
check "the waiting push stops on SIGTERM with exit 0" stop_gently "$LATER"

# ---- 2. the README's C example ---------------------------------------------------
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" | head -n 1)
SAN=()
if grep -q '^MAPFILE_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi
awk '/^\/\* push_inside\.c/ { on = 1 } on && /^```/ { exit } on { print }' \
    "$SRC/README.md" >"$T/push_inside.c"
check "the README has the push_inside.c example" grep -q mf_mirror_push "$T/push_inside.c"
# shellcheck disable=SC2046 # pkg-config output is words
if (cd "$T" && "${CC:-cc}" -Wall -Wextra -Werror "${SAN[@]}" push_inside.c -o push_inside \
    $(pkg-config --cflags --libs mapfile-mirror) >"$T/cc.log" 2>&1); then
    pass "push_inside.c compiles with pkg-config mapfile-mirror"
    check "push_inside runs" sh -c "cd '$T' && ./push_inside '$EP' >'$T/inside.out' 2>&1"
    check "mirror pull --once brings its records" \
        "$MAPF" mirror pull "$EP" "$T/inside-mirror.map" --once
    check "and equals its file" "$HELPER" same "$T/inside.map" "$T/inside-mirror.map"
    check "the last status is on the mirror" \
        sh -c "'$MAPF' get '$T/inside-mirror.map' status | grep -q 'reading 99'"
else
    cat "$T/cc.log"
    fail "push_inside.c compiles with pkg-config mapfile-mirror"
fi

# ---- 3. usage and exit codes -----------------------------------------------------
expect 0 "mirror --help" "$MAPF" mirror --help
check "--help starts with the usage line" \
    test "$(head -n 1 "$T/out")" = "usage: mapf mirror push FILE --redis ENDPOINT | pull ENDPOINT FILE"
check "--help shows both forms with every option" sh -c \
    "grep -qxF '  mapf mirror push FILE --redis ENDPOINT [--ns NAMESPACE] [--maxlen N] [--once]' '$T/out' &&
     grep -qxF '  mapf mirror pull ENDPOINT FILE [--ns NAMESPACE] [--once]' '$T/out'"
check "--help names MAPFILE_REDIS_PASSWORD and the exit codes" sh -c \
    "grep -q MAPFILE_REDIS_PASSWORD '$T/out' && grep -q '^Exit status: 0' '$T/out'"
cp "$T/out" "$T/help.mirror"
expect 0 "help mirror" "$MAPF" help mirror
check "help mirror equals mirror --help" cmp -s "$T/out" "$T/help.mirror"
expect 0 "mapf --help" "$MAPF" --help
check "mapf --help lists mirror" grep -qE '^  mirror +push FILE --redis ENDPOINT \| pull ENDPOINT FILE$' "$T/out"
expect 0 "--help wins over bad arguments" "$MAPF" mirror frob --bogus --help
expect 2 "mirror without a mode" "$MAPF" mirror
check "which says what is missing" grep -q "^mapf: mirror: missing argument" "$T/err"
expect 2 "a mode that is neither push nor pull" "$MAPF" mirror fetch "$EP" "$T/x.map"
check "which says so, with the usage line" sh -c \
    "grep -q \"'fetch' is neither push nor pull\" '$T/err' && grep -q '^usage: mapf mirror ' '$T/err'"
expect 2 "push without --redis" "$MAPF" mirror push "$T/demo.map"
check "which says so" grep -q "push needs --redis ENDPOINT" "$T/err"
expect 2 "push without FILE" "$MAPF" mirror push --redis "$EP"
expect 2 "push with an extra argument" "$MAPF" mirror push "$T/demo.map" extra --redis "$EP"
expect 2 "pull without FILE" "$MAPF" mirror pull "$EP"
expect 2 "pull with --redis" "$MAPF" mirror pull "$EP" "$T/x.map" --redis "$EP"
expect 2 "pull with --maxlen" "$MAPF" mirror pull "$EP" "$T/x.map" --maxlen 10
expect 2 "an unknown option" "$MAPF" mirror pull "$EP" "$T/x.map" --bogus
expect 2 "--ns given twice" "$MAPF" mirror pull "$EP" "$T/x.map" --ns a --ns b
for bad in 0 -1 +5 x 10x 1000000001; do
    expect 2 "--maxlen $bad" "$MAPF" mirror push "$T/demo.map" --redis "$EP" --maxlen "$bad" --once
done
expect 0 "--maxlen=5 (the = form) and --once" \
    "$MAPF" mirror push "$T/demo.map" --redis "$EP" --maxlen=5 --ns five --once
expect 2 "an endpoint that is no endpoint" "$MAPF" mirror pull http://x "$T/x.map" --once
expect 2 "a namespace with a space" "$MAPF" mirror pull "$EP" "$T/x.map" --ns "a b" --once
expect 2 "push --once of a missing file" "$MAPF" mirror push "$T/none.map" --redis "$EP" --once
expect 1 "pull --once of an empty namespace" "$MAPF" mirror pull "$EP" "$T/x.map" --ns empty --once
check "which says what to start" grep -q "mirror push" "$T/err"
expect 1 "push --once to a Redis that is not there" \
    "$MAPF" mirror push "$T/demo.map" --redis unix:$T/nothing.sock --once
check "naming the endpoint" grep -q "unix:$T/nothing.sock" "$T/err"
expect 2 "a pull (not --once) into a directory that does not exist" \
    timeout 30 "$MAPF" mirror pull "$EP" "$T/no/such/dir.map"
check "which says so" grep -q "No such file or directory" "$T/err"
expect 2 "pull into a file that is not a map file" sh -c "echo junk >'$T/junk.map' &&
    '$MAPF' mirror pull '$EP' '$T/junk.map' --once"
kill_all
summary
