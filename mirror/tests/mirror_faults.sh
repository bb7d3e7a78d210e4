#!/usr/bin/env bash
# mirror_faults.sh - `mapf mirror push|pull` heal by themselves.
# Usage: bash mirror_faults.sh BUILD_DIR SOURCE_DIR
#
# A producer publishes 700 batches (every record tagged with its batch,
# names coming and going, one producer restart); a push and a pull run as
# the real CLI; a snapshot checker reads the mirror all along. In the
# middle of the updates the test kill -9s the pull, then the push, then
# redis-server, and restarts each. Two rounds: Redis without persistence
# (it comes back empty) and with an append-only file (it comes back with
# its data). Each round must end with the mirror equal to the source, the
# checker having seen only whole batches, and the logs saying what
# happened.
set -u
BUILD=$(cd "${1:?usage: mirror_faults.sh BUILD_DIR SOURCE_DIR}" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-mirror-faults.XXXXXX")
# shellcheck source=mirror_lib.sh
. "$(dirname "$0")/mirror_lib.sh"
trap 'kill_all; rm -rf "$T"' EXIT

SOCK=$T/redis.sock
EP=unix:$SOCK
BATCHES=700

start_redis() {
    redis_up "" "$T" redis "$1" --port 0 --unixsocket "$SOCK" --unixsocketperm 700
    wait_until 10 redis_ping "" -s "$SOCK"
}

start_push() {
    bg "$MAPF" mirror push "$T/src.map" --redis "$EP" --ns faults 2>>"$T/push.log"
    PUSH=$LAST
}

start_pull() {
    bg "$MAPF" mirror pull "$EP" "$T/mirror.map" --ns faults 2>>"$T/pull.log"
    PULL=$LAST
}

round() {
    local persist=$1 back=()
    [ "$persist" = persist ] && back=(--allow-back)
    echo "--- round: redis $persist"
    rm -f "$T"/*.map "$T"/*.log
    rm -rf "$T"/redis.aof.d
    start_redis "$persist" || { fail "$persist: redis-server did not start"; return; }
    bg "$HELPER" produce "$T/src.map" --batches $BATCHES --period-ms 10 --records 40 \
        --restart-every 300
    local producer=$LAST
    start_push
    start_pull
    bg "$HELPER" check "$T/mirror.map" --until $BATCHES --timeout 90 "${back[@]}" \
        >"$T/check.out"
    local checker=$LAST

    sleep 1.5
    kill -9 "$PULL"
    wait "$PULL" 2>/dev/null
    sleep 0.3
    start_pull
    sleep 1.5
    kill -9 "$PUSH"
    wait "$PUSH" 2>/dev/null
    sleep 0.3
    start_push
    sleep 1.5
    kill -9 "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null
    sleep 0.7
    start_redis "$persist" || fail "$persist: redis-server did not restart"

    check "$persist: the producer finished" wait "$producer"
    check "$persist: the checker saw batch $BATCHES and no mixed snapshot" wait "$checker"
    cat "$T/check.out"
    check "$persist: the mirror equals the source" \
        "$HELPER" same "$T/src.map" "$T/mirror.map" --timeout 30
    check "$persist: the pull said it reconnected" grep -q "reconnecting in" "$T/pull.log"
    check "$persist: the push said it reconnected" grep -q "reconnecting in" "$T/push.log"
    check "$persist: the restarted pull synced in full" \
        test "$(grep -c "full sync" "$T/pull.log")" -ge 2
    if [ "$persist" = none ]; then
        check "none: the push rewrote the emptied namespace" \
            grep -q "is empty: publishing every record" "$T/push.log"
    fi
    check "$persist: the mirror passes mapf check" "$MAPF" check "$T/mirror.map"
    check "$persist: the push stops cleanly on SIGTERM" stop_gently "$PUSH"
    check "$persist: the pull stops cleanly on SIGTERM" stop_gently "$PULL"
    kill -9 "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null
    if [ "$FAIL" -ne 0 ]; then
        echo "--- push log"
        tail -n 30 "$T/push.log"
        echo "--- pull log"
        tail -n 30 "$T/pull.log"
    fi
}

round none
round persist
kill_all
summary
