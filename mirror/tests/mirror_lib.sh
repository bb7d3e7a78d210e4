# mirror_lib.sh - what the mirror shell tests share (sourced): the binaries,
# private redis-servers, background processes that are always cleaned up,
# and pass/fail bookkeeping. Callers set BUILD and T (a private directory).

MAPF=$BUILD/tools/mapf
HELPER=$BUILD/mirror/tests/mirror-helper
DEMO=$BUILD/tools/mapfile-demo
for b in "$MAPF" "$HELPER" "$DEMO"; do
    if [ ! -x "$b" ]; then
        echo "$0: $b was not built" >&2
        exit 1
    fi
done
command -v redis-server >/dev/null || {
    echo "$0: redis-server is not installed (tools/run installs it)" >&2
    exit 1
}

PASS=0
FAIL=0
BG=()      # pids started here, killed at exit

pass() {
    PASS=$((PASS + 1))
    echo "ok: $1"
}
fail() {
    FAIL=$((FAIL + 1))
    echo "FAIL: $1"
}
# check DESC CMD...: CMD must succeed.
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# bg CMD...: start in the background, remember the pid in $LAST.
bg() {
    "$@" &
    LAST=$!
    BG+=("$LAST")
}

kill_all() {
    local p
    for p in "${BG[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    for p in "${BG[@]}"; do
        wait "$p" 2>/dev/null
    done
    BG=()
}

# stop_gently PID: SIGTERM and the exit status (a daemon exits 0).
stop_gently() {
    kill -TERM "$1" 2>/dev/null
    wait "$1"
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.1
    done
}

# redis_up WRAP DIR NAME persist|none ARGS...: start a redis-server (through
# WRAP, e.g. "ip netns exec NS", or nothing) with its files in DIR/NAME.*;
# sets REDIS_PID. Extra ARGS (--port, --unixsocket, --bind, ...) follow.
redis_up() {
    local wrap=$1 dir=$2 name=$3 persist=$4
    shift 4
    local p=(--save '' --appendonly no)
    [ "$persist" = persist ] && p=(--save '' --appendonly yes --appendfsync always
        --appendfilename "$name.aof" --appenddirname "$name.aof.d")
    # shellcheck disable=SC2086 # WRAP is words
    $wrap redis-server --dir "$dir" --logfile "$dir/$name.log" --dbfilename "$name.rdb" \
        "${p[@]}" "$@" &
    REDIS_PID=$!
    BG+=("$REDIS_PID")
}

# redis_ping WRAP ARGS...: redis-cli answers PONG.
redis_ping() {
    local wrap=$1
    shift
    # shellcheck disable=SC2086
    [ "$($wrap redis-cli "$@" ping 2>/dev/null)" = PONG ]
}

summary() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
