#!/usr/bin/env bash
# gen_evolve.sh BUILD_DIR SOURCE_DIR - schema evolution of `mapf gen`
# codecs across four versions of one struct (issue 18, part 3):
#   - install mapfile into a temporary prefix; run its mapf gen on each
#     version of tests/gen/evolve/v*.h in turn, into one folder (its
#     evo.schema gains a version each time; re-running on an unchanged
#     struct changes no byte), and build each version's generated project
#     as a real plugin, warnings as errors;
#   - each version's producer writes a file (a real process); every newer
#     consumer reads every older file and checks each field (kept, widened,
#     defaulted); every older consumer refuses newer data with
#     MF_ECLASSVERSION naming the class;
#   - every cut and 2000 mutations of each older payload through each newer
#     codec's reader of that version: refused or decoded, never a crash (ASan
#     in the sanitizer pass);
#   - live pairs of mixed versions: a producer updating while a consumer of
#     another version waits and reads;
#   - changes that cannot be converted (narrowing, int <-> string, array
#     shape, struct <-> scalar, ...) are refused at generation time: exit 1,
#     the field named, the schema and codec untouched; a damaged schema file
#     is exit 2 naming its line.
# Skipped (77) when this mapf was built without libclang.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
. "$SRC/tests/sh/common.sh"

gen_test_prelude gen_evolve
LIVE_PIDS=""
cleanup() {
    for p in $LIVE_PIDS; do kill "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
P=$T/prefix
EV=$SRC/tests/gen/evolve

step "install $BUILD into $P"
run_logged "$T/install.log" cmake --install "$BUILD" --prefix "$P"
MAPF=$P/bin/mapf
LIBDIR=$(dirname "$(find "$P" -name 'libmapfile.so' | head -n 1)")

# --- four versions, one schema history ----------------------------------------------
mkdir "$T/src"
for v in 1 2 3 4; do
    step "v$v: mapf gen evo.h --struct evo --out evo"
    cp "$EV/v$v.h" "$T/src/evo.h"
    (cd "$T" && "$MAPF" gen src/evo.h --struct evo --out evo >"gen$v.out" 2>"gen$v.err") ||
        fail "mapf gen of v$v failed: $(cat "$T/gen$v.err")"
    [ ! -s "$T/gen$v.err" ] || fail "mapf gen of v$v printed on stderr: $(cat "$T/gen$v.err")"
    grep -q "class 'evo' version $v " "$T/gen$v.out" || fail "gen v$v says: $(cat "$T/gen$v.out")"
    grep -qx "#define MFG_VERSION $v" "$T/evo/evo_codec.c" || fail "the v$v codec is not version $v"
    grep -qx "#define MFG_MIN_VERSION 1" "$T/evo/evo_codec.c" || fail "the v$v codec does not read v1"
    [ "$(grep -c '^version ' "$T/evo/evo.schema")" = "$v" ] ||
        fail "evo.schema holds $(grep -c '^version ' "$T/evo/evo.schema") versions after v$v"
    cp "$T/evo/evo_codec.c" "$T/codec.prev"
    cp "$T/evo/evo.schema" "$T/schema.prev"
    (cd "$T" && "$MAPF" gen src/evo.h --struct evo --out evo >/dev/null) || fail "gen v$v again failed"
    cmp -s "$T/codec.prev" "$T/evo/evo_codec.c" || fail "gen of an unchanged v$v changed the codec"
    cmp -s "$T/schema.prev" "$T/evo/evo.schema" || fail "gen of an unchanged v$v changed evo.schema"

    step "v$v: build the plugin (-Wall -Wextra -Werror) and evolve_check"
    mkdir "$T/inc$v"
    cp "$EV/v$v.h" "$T/inc$v/evo.h"
    cp -r "$T/evo" "$T/evo$v"
    run_logged "$T/configure$v.log" cmake -S "$T/evo$v" -B "$T/evo$v/build" \
        -DCMAKE_PREFIX_PATH="$P" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -Devo_HEADER_DIR="$T/inc$v" -DCMAKE_C_COMPILER="$REAL_CC" \
        -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $SAN_FLAGS"
    run_logged "$T/build$v.log" cmake --build "$T/evo$v/build" -j 2
    [ -f "$T/evo$v/build/evo_codec.so" ] || fail "v$v built no evo_codec.so"
    if command -v clang >/dev/null && [ -z "$SAN_FLAGS" ]; then
        run_logged "$T/clang$v.log" clang -std=c11 -Wall -Wextra -Werror -fPIC -shared \
            -I"$P/include" -I"$T/inc$v" -o "$T/clang$v.so" "$T/evo$v/evo_codec.c"
    fi
    run_logged "$T/check$v.log" "$REAL_CC" -std=gnu11 -Wall -Wextra -Werror $SAN_FLAGS \
        -DEVO_V=$v -I"$P/include" -I"$T/inc$v" -o "$T/check$v" "$EV/evolve_check.c" \
        -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmapfile
done
grep -q "reads versions 1 to 4" "$T/evo4/README.md" && grep -q "evo.schema" "$T/evo4/README.md" ||
    fail "the generated README does not describe the versions"
grep -q "mfg_in_older" "$T/evo4/evo_codec.c" || fail "the v4 codec has no readers of older versions"
for v in 1 2 3; do
    grep -q "case $v:" "$T/evo4/evo_codec.c" || fail "the v4 codec does not read v$v"
done

# as VERSION CMD...: run CMD with version VERSION's plugin.
as() {
    local v=$1
    shift
    MAPFILE_PLUGIN_PATH=$T/evo$v/build "$@"
}

# --- every version reads every older file; older ones refuse newer ------------------------
for p in 1 2 3 4; do
    step "v$p producer writes v$p.map"
    as $p "$T/check$p" put "$T/v$p.map" || fail "the v$p producer failed"
done
for c in 1 2 3 4; do
    for p in 1 2 3 4; do
        if [ $p -le $c ]; then
            as $c "$T/check$c" get "$T/v$p.map" $p || fail "v$c cannot read v$p data"
            echo "v$c consumer read v$p data: every field checked"
        else
            as $c "$T/check$c" refuse "$T/v$p.map" $p || fail "v$c did not refuse v$p data"
        fi
    done
done
step "hostile older payloads: every cut and 2000 mutants through the newer readers"
for c in 2 3 4; do
    for p in $(seq 1 $((c - 1))); do
        as $c "$T/check$c" cut "$T/v$p.map" $p || fail "v$c's reader of v$p payloads failed"
    done
done
step "mapf get --json with the v4 plugin of v1 data: converted and defaulted"
as 4 "$MAPF" get --json "$T/v1.map" full >"$T/v1.json" || fail "mapf get --json of v1 data failed"
for want in '"level":-100' '"ratio":1.5' '"count16":60000' '"label":null' '"tags":\[\]' \
    '"weights":\[0,0\]' '"where":{"stamp":0,"z":0,"x":-3}' '"serial":7'; do
    grep -q "$want" "$T/v1.json" || fail "v1 data as v4 JSON lacks $want: $(cat "$T/v1.json")"
done

# --- live pairs of mixed versions ------------------------------------------------------------
# live PRODUCER CONSUMER: the consumer waits on the file while the producer
# updates "live" 300 times.
live() {
    local p=$1 c=$2 map=$T/live$1$2.map fifo=$T/ready$1$2 line
    step "live: v$p producer, v$c consumer"
    as $p "$T/check$p" put "$map" || fail "the v$p producer cannot create $map"
    mkfifo "$fifo"
    as $c "$T/check$c" live-get "$map" $p 300 "$fifo" >"$T/live$p$c.out" 2>&1 &
    local pid=$!
    LIVE_PIDS="$LIVE_PIDS $pid"
    read -r line <"$fifo"
    [ "$line" = ready ] || fail "the v$c consumer did not start"
    as $p "$T/check$p" live-put "$map" 300 || fail "the live v$p producer failed"
    wait "$pid" || fail "the v$c consumer of live v$p data failed: $(cat "$T/live$p$c.out")"
    cat "$T/live$p$c.out"
}
live 1 4
live 2 3
live 3 3
live 4 1
live 3 2

# --- changes that cannot be converted ------------------------------------------------------
# refused NAME FIELD WHY SED: v4 changed by SED must be refused: exit 1, the
# field and WHY named, evo.schema and the codec unchanged.
refused() {
    local name=$1 field=$2 why=$3 expr=$4 rc=0
    step "refused: $name"
    cp -r "$T/evo" "$T/bad_$name"
    mkdir "$T/bad_$name.src"
    sed "$expr" "$EV/v4.h" >"$T/bad_$name.src/evo.h"
    cmp -s "$EV/v4.h" "$T/bad_$name.src/evo.h" && fail "the edit '$expr' changed nothing"
    "$MAPF" gen "$T/bad_$name.src/evo.h" --struct evo --out "$T/bad_$name" \
        >"$T/bad_$name.out" 2>"$T/bad_$name.err" || rc=$?
    [ "$rc" = 1 ] || fail "$name: mapf gen exited $rc, not 1: $(cat "$T/bad_$name.err")"
    grep -q "field '$field' of struct [a-z]*: version [0-9] stored .*$why" "$T/bad_$name.err" ||
        grep -q "field '$field' of struct [a-z]*: .*$why" "$T/bad_$name.err" ||
        fail "$name: the error does not name field '$field' and why ($why): $(cat "$T/bad_$name.err")"
    grep -q "nothing written" "$T/bad_$name.err" || fail "$name: no 'nothing written'"
    cmp -s "$T/evo/evo.schema" "$T/bad_$name/evo.schema" || fail "$name: evo.schema changed"
    cmp -s "$T/evo/evo_codec.c" "$T/bad_$name/evo_codec.c" || fail "$name: the codec changed"
    sed -n 1p "$T/bad_$name.err"
}
refused narrowing level "narrowing" 's/int64_t level;/int32_t level;/'
refused int_to_string count16 "its shape changed" 's/double count16;/char *count16;/'
refused string_to_int label "its shape changed" 's/char \*label;/int64_t label;/'
refused array_shape weights "array dimensions changed" 's/double weights\[2\];/double weights[3];/'
refused array_to_scalar weights "array dimensions changed" 's/double weights\[2\];/double weights;/'
refused struct_to_scalar where "its shape changed" 's/struct pos where;/int64_t where;/'
refused struct_to_optional where "its shape changed" 's/struct pos where;/struct pos *where;/'
refused same_width_sign serial "unsigned to signed" 's/uint32_t serial;/int32_t serial;/'
refused float_to_int ratio "cannot become an integer" 's/double ratio;/int64_t ratio;/'
refused double_to_float ratio "narrowing" 's/double ratio;/float ratio;/'
refused inexact_int_to_double level "up to 32 bits exactly" 's/int64_t level;/double level;/'
refused nested_narrowing x "narrowing" 's/int32_t x;/int16_t x;/'
refused shared_count more "shares the count" \
    's|uint16_t ntags;|uint16_t ntags;\n    uint8_t *more MF_COUNT(ntags);|'

step "gen with an unchanged struct after the refusals: still version 4, no byte changed"
cp "$EV/v4.h" "$T/src/evo.h"
cp "$T/evo/evo_codec.c" "$T/codec.prev"
(cd "$T" && "$MAPF" gen src/evo.h --struct evo --out evo >/dev/null) || fail "gen v4 again failed"
cmp -s "$T/codec.prev" "$T/evo/evo_codec.c" || fail "the v4 codec changed"

# --- a damaged or foreign schema file --------------------------------------------------------
# damaged NAME SED WANT: evo.schema edited by SED: exit 2 naming the line.
damaged() {
    local name=$1 expr=$2 want=$3 rc=0
    step "damaged schema: $name"
    cp -r "$T/evo" "$T/dmg_$name"
    sed -i "$expr" "$T/dmg_$name/evo.schema"
    cp "$T/dmg_$name/evo.schema" "$T/dmg_$name.before"
    "$MAPF" gen "$T/src/evo.h" --struct evo --out "$T/dmg_$name" 2>"$T/dmg_$name.err" \
        >/dev/null || rc=$?
    [ "$rc" = 2 ] || fail "damaged $name: exit $rc, not 2: $(cat "$T/dmg_$name.err")"
    grep -q "evo.schema:[0-9]*: .*$want" "$T/dmg_$name.err" ||
        fail "damaged $name: $(cat "$T/dmg_$name.err")"
    cmp -s "$T/dmg_$name.before" "$T/dmg_$name/evo.schema" || fail "damaged $name: rewritten"
    sed -n 1p "$T/dmg_$name.err"
}
damaged version_gap 's/^version 3$/version 7/' "want version '3'"
damaged bad_kind '0,/ scalar /s// vector /' "not a field kind 'vector'"
damaged bad_wire '0,/ i8 /s// i9 /' "not a wire type 'i9'"
damaged no_end '$d' "no 'end'"
damaged unknown_record '0,/ struct pos /s// struct nowhere /' "no record defined"
damaged self_record 's/^field corners struct pos/field corners struct evo/' "no record defined"
damaged foreign_class 's/^class evo$/class other/' "class 'other', not 'evo'"
step "damaged schema: records shared to nest 2^40 fields"
mkdir "$T/dmg_blowup"
python3 - "$T/dmg_blowup/evo.schema" <<'PY'
import sys
lines = ["class evo", "version 1", "record r0 struct r0", "field v scalar u8 - -"]
for i in range(1, 41):
    lines += [f"record r{i} struct r{i}", f"field a struct r{i-1} - -", f"field b struct r{i-1} - -"]
open(sys.argv[1], "w").write("\n".join(lines + ["end"]) + "\n")
PY
rc=0
"$MAPF" gen "$T/src/evo.h" --struct evo --out "$T/dmg_blowup" 2>"$T/dmg_blowup.err" >/dev/null || rc=$?
[ "$rc" = 2 ] && grep -q "evo.schema:[0-9]*: .*more than a million fields" "$T/dmg_blowup.err" ||
    fail "a schema nesting 2^40 fields gave exit $rc: $(cat "$T/dmg_blowup.err")"
sed -n 1p "$T/dmg_blowup.err"
echo "gen_evolve: ok"
