#!/usr/bin/env bash
# gen_template.sh BUILD_DIR SOURCE_DIR - the generated codec template
# (sdk/template-gen, installed to share/mapfile/template-gen) as a codec
# author meets it (issue 18): install mapfile into a temporary prefix, copy
# the installed template, run its README's commands (CMake runs mapf gen on
# calib.h, builds the plugin, warnings as errors; a producer publishes the
# sample and a consumer in another process checks it field by field; mapf
# get --json shows it), then add a field to calib.h and rebuild: the codec
# is generated again and the new field travels; mapf new-codec --gen makes
# the same project for another class (_my.gauge: a leading '_' and a dot,
# which new-codec and gen must turn into the same C identifier), and it
# builds and runs.
# Skipped (77) when this mapf was built without libclang.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
. "$SRC/tests/sh/common.sh"

gen_test_prelude gen_template
P=$T/prefix

step "install $BUILD into $P"
run_logged "$T/install.log" cmake --install "$BUILD" --prefix "$P"
[ -f "$P/share/mapfile/template-gen/calib.h" ] || fail "share/mapfile/template-gen is not installed"
cp -R "$P/share/mapfile/template-gen" "$T/tpl"

step "the README's commands, in order"
python3 - "$T/tpl/README.md" >"$T/tpl/readme.sh" <<'PY'
import re, sys
blocks = re.findall(r"^```sh\n(.*?)^```", open(sys.argv[1]).read(), re.S | re.M)
if not blocks:
    sys.exit("the template's README.md has no sh block")
print("set -euxo pipefail")
print("\n".join(blocks))
PY
(cd "$T/tpl" && PATH=$P/bin:$PATH MAPFILE_PREFIX=$P CC=$REAL_CC \
    CFLAGS="-Wall -Wextra -Werror $SAN_FLAGS" bash readme.sh >readme.out 2>readme.err) ||
    fail "the template's README commands failed: $(tail -n 30 "$T/tpl/readme.err")"
grep -q "matches the sample" "$T/tpl/readme.out" ||
    fail "the consumer did not confirm the sample: $(cat "$T/tpl/readme.out")"
grep -q '"comment":"sample calibration .*"first_run":4711' "$T/tpl/readme.out" ||
    fail "mapf get --json does not show the table: $(tail -n 3 "$T/tpl/readme.out")"
[ -s "$T/tpl/codec/calib_table_codec.c" ] || fail "no generated codec in codec/"

step "a new field in calib.h: rebuild regenerates the codec"
sed -i 's|^    uint32_t first_run;.*|&\n    uint16_t crate;|' "$T/tpl/calib.h"
sed -i 's|t->first_run = 4711u;|&\n    t->crate = 513;|' "$T/tpl/calib_sample.h"
sed -i 's|    if (got->first_run != want->first_run)|    if (got->crate != want->crate)\n        differ("crate");\n&|' \
    "$T/tpl/consumer.c"
run_logged "$T/rebuild.log" cmake --build "$T/tpl/build"
grep -q 'mf_w_u16(w, o->crate)' "$T/tpl/codec/calib_table_codec.c" ||
    fail "the rebuilt codec does not write the new field"
(cd "$T/tpl" && MAPFILE_PLUGIN_PATH=$PWD/build build/calib_producer calib.map &&
    MAPFILE_PLUGIN_PATH=$PWD/build build/calib_consumer calib.map) >"$T/new.out" 2>&1 ||
    fail "with the new field: $(cat "$T/new.out")"
grep -q "(calib_table v2," "$T/new.out" ||
    fail "the changed struct is not class version 2: $(cat "$T/new.out")"

step "rm -rf build keeps the schema history: version 2 stays version 2"
rm -rf "$T/tpl/build"
run_logged "$T/reconfigure.log" cmake -S "$T/tpl" -B "$T/tpl/build" \
    -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$REAL_CC" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $SAN_FLAGS"
run_logged "$T/rebuild2.log" cmake --build "$T/tpl/build"
(cd "$T/tpl" && MAPFILE_PLUGIN_PATH=$PWD/build build/calib_consumer calib.map) \
    >"$T/again.out" 2>&1 || fail "after rm -rf build: $(cat "$T/again.out")"
grep -q "(calib_table v2," "$T/again.out" ||
    fail "after rm -rf build the class version is not 2: $(cat "$T/again.out")"
step "mapf new-codec --gen _my.gauge: the same project for class _my.gauge"
(cd "$T" && "$P/bin/mapf" new-codec --gen _my.gauge gauge >newcodec.out) ||
    fail "mapf new-codec --gen failed"
[ ! -e "$T/gauge/_my_gauge_codec.c" ] || fail "new-codec --gen wrote a codec source to edit"
grep -q -- '--class _my.gauge' "$T/gauge/CMakeLists.txt" || fail "CMakeLists.txt does not name the class"
run_logged "$T/gauge-configure.log" cmake -S "$T/gauge" -B "$T/gauge/build" \
    -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$REAL_CC" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $SAN_FLAGS"
run_logged "$T/gauge-build.log" cmake --build "$T/gauge/build"
[ -s "$T/gauge/codec/_my_gauge_codec.c" ] || fail "mapf gen wrote no _my_gauge_codec.c"
(cd "$T/gauge" && MAPFILE_PLUGIN_PATH=$PWD/build build/calib_producer g.map &&
    MAPFILE_PLUGIN_PATH=$PWD/build build/calib_consumer g.map) >"$T/gauge.out" 2>&1 ||
    fail "the new-codec --gen project: $(cat "$T/gauge.out")"
grep -q "(_my.gauge v1," "$T/gauge.out" || fail "the object is not of class _my.gauge: $(cat "$T/gauge.out")"
echo "gen_template: ok"
