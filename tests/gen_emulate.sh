#!/usr/bin/env bash
# gen_emulate.sh BUILD_DIR SOURCE_DIR - schemas travel in the file (issue 18
# part 4, "Emulated reading"):
#   - a producer with the generated torture plugin puts full, empty, huge
#     and nulls; the file then holds the class's schema once, in the
#     reserved record .mapfile/schema/torture@1 (a second producer run
#     leaves it alone);
#   - with no plugin installed, `mapf get --json` of each case is byte for
#     byte the plugin's own `mapf get --json`, with a note on stderr that
#     the object is emulated; `mapf dump` shows the same JSON;
#   - a stored schema corrupted in the file (truncated, bit flips, a huge
#     count, a bad name) gives a clean named error (exit 1), never a crash.
# Skipped (77) when this mapf was built without libclang.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
. "$SRC/tests/sh/common.sh"

gen_test_prelude gen_emulate
P=$T/prefix

step "install $BUILD into $P; mapf gen torture.h; build the plugin"
run_logged "$T/install.log" cmake --install "$BUILD" --prefix "$P"
MAPF=$P/bin/mapf
LIBDIR=$(dirname "$(find "$P" -name 'libmapfile.so' | head -n 1)")
cp "$SRC/tests/gen/torture.h" "$T/torture.h"
(cd "$T" && "$MAPF" gen torture.h --struct torture >/dev/null 2>"$T/gen.err") ||
    fail "mapf gen failed: $(cat "$T/gen.err")"
grep -q 'mfg_wire_schema' "$T/torture/torture_codec.c" || fail "the codec carries no wire schema"
cp "$SRC/tests/gen/torture_ops.c" "$T/torture/"
run_logged "$T/codec-configure.log" cmake -S "$T/torture" -B "$T/torture/build" \
    -DCMAKE_PREFIX_PATH="$P" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_COMPILER="$REAL_CC" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $SAN_FLAGS"
run_logged "$T/codec-build.log" cmake --build "$T/torture/build" -j 2
# torture_check carries the hand-written reference codec it compares with.
for prog in torture_check emulate_check; do
    extra=
    [ "$prog" = torture_check ] && extra="$SRC/tests/gen/torture_ref.c $SRC/tests/gen/torture_ops.c"
    run_logged "$T/$prog-build.log" "$REAL_CC" -std=c11 -Wall -Wextra -Werror $SAN_FLAGS \
        -I"$P/include" -I"$T" -o "$T/$prog" "$SRC/tests/gen/$prog.c" $extra \
        -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmapfile -lm
done

MAP=$T/torture.map
CASES="full empty huge nulls"
step "producer (with the plugin) puts $CASES"
MAPFILE_PLUGIN_PATH=$T/torture/build "$T/torture_check" put "$MAP" || fail "the producer failed"
for c in $CASES; do
    MAPFILE_PLUGIN_PATH=$T/torture/build "$MAPF" get --json "$MAP" "$c" >"$T/$c.plugin.json" 2>"$T/$c.plugin.err" ||
        fail "mapf get --json $c with the plugin failed: $(cat "$T/$c.plugin.err")"
    [ ! -s "$T/$c.plugin.err" ] || fail "mapf get with the plugin printed: $(cat "$T/$c.plugin.err")"
done
SCHEMA=.mapfile/schema/torture@1
"$MAPF" ls "$MAP" >"$T/ls.out" || fail "mapf ls failed"
[ "$(grep -c '\.mapfile/schema/' "$T/ls.out")" = 1 ] ||
    fail "the file does not hold the schema exactly once: $(cat "$T/ls.out")"
"$MAPF" dump "$MAP" "$SCHEMA" >"$T/schema.dump" || fail "mapf dump $SCHEMA failed"
grep -q '^class: *mapfile.schema$' "$T/schema.dump" || fail "the schema record's class: $(head -3 "$T/schema.dump")"
grep -q '^updates: *1$' "$T/schema.dump" || fail "the schema was stored more than once: $(cat "$T/schema.dump")"

step "no plugin: mapf get --json equals the plugin's to_json, marked emulated on stderr"
for c in $CASES; do
    "$MAPF" get --json "$MAP" "$c" >"$T/$c.emu.json" 2>"$T/$c.emu.err" ||
        fail "emulated mapf get --json $c failed: $(cat "$T/$c.emu.err")"
    cmp -s "$T/$c.plugin.json" "$T/$c.emu.json" ||
        fail "emulated $c differs from the plugin's JSON: $(diff <(tr , '\n' <"$T/$c.plugin.json") <(tr , '\n' <"$T/$c.emu.json") | head -20)"
    grep -q "note: .*$c: class 'torture' version 1 has no codec here: emulated from the schema stored in the file" "$T/$c.emu.err" ||
        fail "emulated get of $c is not marked on stderr: $(cat "$T/$c.emu.err")"
    echo "  $c: $(wc -c <"$T/$c.emu.json") bytes identical"
done
"$MAPF" get "$MAP" full >"$T/full.print" 2>/dev/null || fail "emulated mapf get (print) of full failed"
grep -q '^torture {' "$T/full.print" || fail "emulated mapf get (print) of full: $(head -c 200 "$T/full.print")"
"$MAPF" dump "$MAP" full >"$T/full.dump" 2>/dev/null || fail "mapf dump full failed"
grep -qxF "$(cat "$T/full.plugin.json")" "$T/full.dump" || fail "mapf dump does not show the emulated JSON"

step "payload cuts and mutants: the plugin and the schema refuse alike or write the same JSON"
MAPFILE_PLUGIN_PATH=$T/torture/build "$T/emulate_check" same "$MAP" || fail "the schema decodes unlike the plugin"

step "a second producer run stores nothing new"
MAPFILE_PLUGIN_PATH=$T/torture/build "$T/emulate_check" reput "$MAP" || fail "the producer failed again"
# (Outputs go to files first: `mapf ... | grep -q` fails under pipefail
# when grep stops reading early.)
"$MAPF" dump "$MAP" full >"$T/full2.dump" 2>&1 || fail "mapf dump full failed"
grep -q '^updates: *2$' "$T/full2.dump" || fail "the second producer did not put full"
"$MAPF" dump "$MAP" "$SCHEMA" >"$T/schema2.dump" || fail "mapf dump $SCHEMA failed"
grep -q '^updates: *1$' "$T/schema2.dump" || fail "the second producer stored the schema again"
"$MAPF" ls "$MAP" >"$T/ls2.out" || fail "mapf ls failed"
[ "$(grep -c '\.mapfile/schema/' "$T/ls2.out")" = 1 ] || fail "the schema is stored twice"

step "users cannot put under the reserved prefix"
rc=0
"$MAPF" put "$MAP" .mapfile/mine --text hello 2>"$T/reserved.err" || rc=$?
[ "$rc" != 0 ] && grep -q "reserved" "$T/reserved.err" ||
    fail "a put under .mapfile/ was not refused (exit $rc): $(cat "$T/reserved.err")"

step "corrupted stored schemas: a clean named error, never a crash"
"$T/emulate_check" mutants "$MAP" "$SCHEMA" || fail "a corrupted schema was not handled"
for seed in 1 2 3 4 5 6; do
    cp "$MAP" "$T/bad.map"
    "$T/emulate_check" corrupt "$T/bad.map" "$SCHEMA" "$seed" || fail "cannot store a corrupted schema"
    rc=0
    "$MAPF" get --json "$T/bad.map" full >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    [ "$rc" = 1 ] || fail "mapf get --json with corrupted schema $seed exited $rc: $(cat "$T/bad.err")"
    grep -q "map file is corrupt.*schema" "$T/bad.err" && grep -qF "$SCHEMA" "$T/bad.err" ||
        fail "the error for corrupted schema $seed does not name it: $(cat "$T/bad.err")"
    [ "$seed" != 1 ] || sed -n 1p "$T/bad.err"
    "$MAPF" dump "$T/bad.map" full >/dev/null 2>&1 || fail "mapf dump with a corrupted schema failed"
done
echo "gen_emulate: ok"
