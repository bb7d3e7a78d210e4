#!/usr/bin/env bash
# mirror_hosts.sh - mirrors on other hosts, with a link cut in the middle.
# Usage: bash mirror_hosts.sh BUILD_DIR SOURCE_DIR
#
# Four hosts as network namespaces joined by veth pairs to the Redis host:
#
#   producer (producer + mapf mirror push) ---\
#   mirror A (mapf mirror pull + checker) ----- redis (redis-server, AUTH)
#   mirror B (mapf mirror pull + checker) ---/
#
# The producer publishes batches whose records all carry the batch number
# (names come and go). While it runs, the test cuts mirror A's link (both
# ends down) for 3 s, then the producer's link for 2 s, then mirror B's for
# 2 s, killing B's pull and starting it again while it is cut off.
# Afterwards both mirrors must equal the source, and each checker (a
# snapshot reader on its mirror, running all along) must have seen only
# whole batches, never going back.
#
# Needs root for `ip netns`. If namespaces cannot be made, the test says so
# loudly, runs the same processes on loopback (the cut becomes a SIGSTOP of
# redis-server), and exits 77 so ctest lists it as skipped, never as a
# silent pass. MIRROR_HOSTS_LOOPBACK=1 forces that fallback.
set -u
BUILD=$(cd "${1:?usage: mirror_hosts.sh BUILD_DIR SOURCE_DIR}" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-mirror-hosts.XXXXXX")
# shellcheck source=mirror_lib.sh
. "$(dirname "$0")/mirror_lib.sh"

ID=$(($$ % 100000))
NS_R=mfR$ID NS_P=mfP$ID NS_A=mfA$ID NS_B=mfB$ID
MADE_NS=()
PW=mirror-hosts-pw
BATCHES=600

cleanup() {
    kill_all
    local ns
    for ns in "${MADE_NS[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT

# ---- the hosts -----------------------------------------------------------------

# link N HOST_NS: a veth pair from the Redis host (10.201.N.1) to HOST_NS
# (10.201.N.2).
link() {
    local n=$1 ns=$2
    local a=vR$n$ID b=vH$n$ID
    ip link add "$a" type veth peer name "$b" &&
        ip link set "$a" netns "$NS_R" &&
        ip link set "$b" netns "$ns" &&
        ip -n "$NS_R" addr add "10.201.$n.1/24" dev "$a" &&
        ip -n "$ns" addr add "10.201.$n.2/24" dev "$b" &&
        ip -n "$NS_R" link set "$a" up &&
        ip -n "$ns" link set "$b" up
}

make_hosts() {
    local ns
    [ "${MIRROR_HOSTS_LOOPBACK:-0}" = 1 ] && {
        WHY="MIRROR_HOSTS_LOOPBACK=1"
        return 1
    }
    [ "$(id -u)" -eq 0 ] || {
        WHY="not root"
        return 1
    }
    command -v ip >/dev/null || {
        WHY="no ip command (iproute2)"
        return 1
    }
    for ns in "$NS_R" "$NS_P" "$NS_A" "$NS_B"; do
        if ! WHY=$(ip netns add "$ns" 2>&1); then
            return 1
        fi
        MADE_NS+=("$ns")
        ip -n "$ns" link set lo up || {
            WHY="cannot bring lo up in $ns"
            return 1
        }
    done
    WHY=$({ link 1 "$NS_P" && link 2 "$NS_A" && link 3 "$NS_B"; } 2>&1)
}

if make_hosts; then
    MODE=netns
    RUN_R="ip netns exec $NS_R"
    RUN_P="ip netns exec $NS_P"
    RUN_A="ip netns exec $NS_A"
    RUN_B="ip netns exec $NS_B"
    PORT=6379
    EP_P=redis://10.201.1.1:$PORT
    EP_A=redis://:$PW@10.201.2.1:$PORT
    EP_B=redis://10.201.3.1:$PORT
    echo "mirror_hosts: 4 network namespaces ($NS_P, $NS_R, $NS_A, $NS_B) joined by veth pairs"
else
    MODE=loopback
    echo "mirror_hosts: CANNOT MAKE NETWORK NAMESPACES ($WHY)."
    echo "mirror_hosts: FALLING BACK TO LOOPBACK: every process on this host, the link"
    echo "mirror_hosts: cut replaced by a SIGSTOP of redis-server. Reported as SKIPPED."
    RUN_R="" RUN_P="" RUN_A="" RUN_B=""
    PORT=$((20000 + RANDOM % 20000))
    EP_P=redis://127.0.0.1:$PORT
    EP_A=redis://:$PW@127.0.0.1:$PORT
    EP_B=$EP_P
fi
mkdir -p "$T/p" "$T/a" "$T/b"

# ---- the run ---------------------------------------------------------------------

redis_up "$RUN_R" "$T" redis none --bind 0.0.0.0 --port "$PORT" --protected-mode no \
    --requirepass "$PW"
if ! wait_until 10 redis_ping "$RUN_R" -p "$PORT" -a "$PW" --no-auth-warning; then
    fail "redis-server answers in its host"
    summary
    exit 1
fi

# shellcheck disable=SC2086 # RUN_* are words
{
    bg $RUN_P "$HELPER" produce "$T/p/src.map" --batches $BATCHES --period-ms 10 --records 60
    PRODUCER=$LAST
    bg $RUN_P env MAPFILE_REDIS_PASSWORD=$PW "$MAPF" mirror push "$T/p/src.map" \
        --redis "$EP_P" --ns hosts 2>"$T/push.log"
    PUSH=$LAST
    bg $RUN_A "$MAPF" mirror pull "$EP_A" "$T/a/mirror.map" --ns hosts 2>"$T/pull-a.log"
    PULL_A=$LAST
    bg $RUN_B env MAPFILE_REDIS_PASSWORD=$PW "$MAPF" mirror pull "$EP_B" \
        "$T/b/mirror.map" --ns hosts 2>"$T/pull-b.log"
    PULL_B=$LAST
    bg $RUN_A "$HELPER" check "$T/a/mirror.map" --until $BATCHES --timeout 90 >"$T/check-a.out"
    CHECK_A=$LAST
    bg $RUN_B "$HELPER" check "$T/b/mirror.map" --until $BATCHES --timeout 90 >"$T/check-b.out"
    CHECK_B=$LAST
}

# down N HOST_NS / up N HOST_NS: both ends of link N.
down() {
    if [ "$MODE" = netns ]; then
        echo "cutting the link to $2"
        ip -n "$NS_R" link set "vR$1$ID" down
        ip -n "$2" link set "vH$1$ID" down
    else
        echo "stopping redis-server (loopback fallback for cutting the link to $2)"
        kill -STOP "$REDIS_PID"
    fi
}
up() {
    if [ "$MODE" = netns ]; then
        echo "restoring the link to $2"
        ip -n "$NS_R" link set "vR$1$ID" up
        ip -n "$2" link set "vH$1$ID" up
    else
        kill -CONT "$REDIS_PID"
    fi
}

sleep 1.5
down 2 "$NS_A" # mirror A loses Redis for 3 s in the middle of the updates
sleep 3
up 2 "$NS_A"
sleep 0.5
down 1 "$NS_P" # so does the push, for 2 s
sleep 2
up 1 "$NS_P"
# Mirror B's pull is killed while its link is down, and restarted at once:
# it cannot connect until the link is back, and must keep trying.
down 3 "$NS_B"
kill -9 "$PULL_B"
wait "$PULL_B" 2>/dev/null
# shellcheck disable=SC2086
bg $RUN_B env MAPFILE_REDIS_PASSWORD=$PW "$MAPF" mirror pull "$EP_B" "$T/b/mirror.map" \
    --ns hosts 2>>"$T/pull-b.log"
PULL_B=$LAST
sleep 2
up 3 "$NS_B"

check "the producer finished" wait "$PRODUCER"
check "mirror A: checker saw batch $BATCHES, never a mixed snapshot" wait "$CHECK_A"
check "mirror B: checker saw batch $BATCHES, never a mixed snapshot" wait "$CHECK_B"
cat "$T/check-a.out" "$T/check-b.out"
check "mirror A equals the source" "$HELPER" same "$T/p/src.map" "$T/a/mirror.map" --timeout 30
check "mirror B equals the source" "$HELPER" same "$T/p/src.map" "$T/b/mirror.map" --timeout 30
check "mirror A passes mapf check" "$MAPF" check "$T/a/mirror.map"
if [ "$MODE" = netns ]; then
    check "mirror B's pull kept trying while its link was down" \
        grep -q "cannot connect.*reconnecting in" "$T/pull-b.log"
fi
for p in "$PUSH" "$PULL_A" "$PULL_B"; do
    check "mirror process $p stops cleanly on SIGTERM" stop_gently "$p"
done
for f in push pull-a pull-b; do
    echo "--- $f.log"
    tail -n 20 "$T/$f.log"
done
kill_all
summary || exit 1
if [ "$MODE" = loopback ]; then
    echo "mirror_hosts: passed on LOOPBACK only (no network namespaces: $WHY): SKIPPED"
    exit 77
fi
exit 0
