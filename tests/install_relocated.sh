#!/usr/bin/env bash
# install_relocated.sh BUILD_DIR SOURCE_DIR - issue 13, "install it
# anywhere": configure mapfile once (a fresh build tree in a temporary
# directory, with the compiler and sanitizer flags of BUILD_DIR), install it
# with --prefix, move the prefix, delete the build tree, and from the moved
# prefix alone:
#   - bin/mapf --help runs without LD_LIBRARY_PATH ($ORIGIN RPATH);
#   - mapf plugins lists the shipped classes from P/lib/mapfile/plugins and
#     no build path, and libmapfile.so has no build path compiled in;
#   - a demo file reads back;
#   - every C example of README.md and sdk/template/README.md compiles with
#     the command written beside it, against the moved prefix, and the
#     README's producer and consumer agree;
#   - mapf new-codec writes a codec project that builds against the prefix,
#     loads through mapf plugins and reads back with mapf get;
#   - mapf gen runs from the prefix through lib/mapfile/mapf-gen.so and its
#     project builds, mapf itself does not link libclang, and without the
#     module gen exits 2 naming it;
#   - `bash -ic 'type mapf'` names a file, not the mapfile builtin.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
. "$SRC/tests/sh/common.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-reloc.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset LD_LIBRARY_PATH MAPFILE_PLUGIN_PATH MAPFILE_TEMPLATE_DIR
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

# --- configure once, build, install, move, delete ----------------------------
# A packager's configure: no MAPFILE_TESTS, and a pkg-config that sees the
# library's own dependencies (libxxhash, libffi) first alone, then with the
# optional parts' (libmicrohttpd, hiredis), never Criterion.
mkdir "$T/pc"
for dep in libxxhash libffi; do
    ln -s "$(pkg-config --variable=pcfiledir "$dep")/$dep.pc" "$T/pc/$dep.pc"
done
step "configure and build with the library's own dependencies only"
PKG_CONFIG_LIBDIR=$T/pc PKG_CONFIG_PATH= run_logged "$T/configure-min.log" \
    cmake -S "$SRC" -B "$T/build-min" -DCMAKE_C_COMPILER="$REAL_CC" -DMAPFILE_PYTHON=OFF \
    -DMAPFILE_SANITIZE="$(cache_value MAPFILE_SANITIZE)"
for part in "mapf serve OFF" "mapf mirror OFF" "tests OFF"; do
    grep -q "mapfile: $part" "$T/configure-min.log" ||
        fail "a configure without its dependency does not say '$part': $(grep 'mapfile:' "$T/configure-min.log")"
done
run_logged "$T/build-min.log" cmake --build "$T/build-min" -j 2
"$T/build-min/tools/mapf" --help >/dev/null || fail "the minimal build's mapf does not run"
rm -rf "$T/build-min"
for dep in libmicrohttpd hiredis; do
    ln -s "$(pkg-config --variable=pcfiledir "$dep")/$dep.pc" "$T/pc/$dep.pc"
done
B=$T/build-tree
step "configure (without Criterion) and build $B"
PKG_CONFIG_LIBDIR=$T/pc PKG_CONFIG_PATH= run_logged "$T/configure.log" \
    cmake -S "$SRC" -B "$B" -DCMAKE_C_COMPILER="$REAL_CC" \
    -DMAPFILE_SANITIZE="$(cache_value MAPFILE_SANITIZE)"
grep -q "mapfile: tests OFF (Criterion not found" "$T/configure.log" ||
    fail "a configure without Criterion does not say the tests are off: $(grep 'mapfile:' "$T/configure.log")"
run_logged "$T/build.log" cmake --build "$B" -j 2
step "install into $T/first, move it to $T/moved, delete the build tree"
run_logged "$T/install.log" cmake --install "$B" --prefix "$T/first"
mv "$T/first" "$T/moved"
rm -rf "$B"
P=$T/moved
[ ! -e "$B" ] && [ ! -e "$T/first" ] || fail "the build tree or the old prefix is still there"

# --- the tool starts and finds its own plugins ----------------------------------
step "P/bin/mapf --help without LD_LIBRARY_PATH"
env -u LD_LIBRARY_PATH "$P/bin/mapf" --help >"$T/help.txt" 2>&1 || {
    cat "$T/help.txt" >&2
    fail "$P/bin/mapf --help does not run"
}
grep -q "usage: mapf COMMAND" "$T/help.txt" || fail "mapf --help printed no usage"

LIBDIR=$(dirname "$(find "$P" -name 'libmapfile.so.*' | head -n 1)")
step "mapf plugins lists the shipped classes from $LIBDIR/mapfile/plugins"
"$P/bin/mapf" plugins >"$T/plugins.txt" || fail "mapf plugins failed"
cat "$T/plugins.txt"
grep -qxF "  1. $LIBDIR/mapfile/plugins (install dir)" "$T/plugins.txt" ||
    fail "the search path is not $LIBDIR/mapfile/plugins (install dir)"
for c in hist1d hist2d profile circle rect; do
    grep -q "^    $c " "$T/plugins.txt" || fail "class $c is not listed"
done
grep -q "$LIBDIR/mapfile/plugins/mapfile-hist.so" "$T/plugins.txt" ||
    fail "hist1d does not come from $LIBDIR/mapfile/plugins"
if grep -q -e "$B" -e "$BUILD" -e "build dir" "$T/plugins.txt"; then
    fail "mapf plugins names a build directory"
fi
# No build path in what the library reads at run time (debug info may
# name the sources; .rodata is where a compiled-in path would be).
objcopy -O binary --only-section=.rodata "$LIBDIR/libmapfile.so" "$T/rodata"
if grep -a -q -e "$B" -e "$SRC" -e "$BUILD" "$T/rodata"; then
    fail "libmapfile.so has a build or source path compiled in"
fi

# --- a demo file reads back ---------------------------------------------------
step "a demo file reads back"
(cd "$T" && "$P/bin/mapfile-demo" produce demo.map --fills 300 --rate 0 >demo.log) ||
    fail "mapfile-demo produce failed"
"$P/bin/mapf" get "$T/demo.map" hpx >"$T/hpx.txt" || fail "mapf get demo.map hpx failed"
grep -q "entries 300 " "$T/hpx.txt" || fail "hpx does not read back 300 entries: $(head -2 "$T/hpx.txt")"

# --- the README examples, against the moved prefix ------------------------------
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
make_cc_wrapper "$T/ccbin"
export PATH=$T/ccbin:$PATH
mkdir "$T/readme" "$T/template-readme"
compile_readme "$SRC/README.md" "$T/readme"
step "the README producer and consumer agree"
(cd "$T/readme" && ./consumer >consumer.out 2>consumer.err) &
cons=$!
(cd "$T/readme" && ./producer) || fail "the README producer failed"
wait "$cons" || fail "the README consumer failed: $(cat "$T/readme/consumer.err")"
grep -q "entries 100000 " "$T/readme/consumer.out" ||
    fail "the consumer's last hpx does not hold the producer's 100000 fills: $(grep entries "$T/readme/consumer.out" | tail -1)"

cp -R "$P/share/mapfile/template/." "$T/template-readme/"
compile_readme "$P/share/mapfile/template/README.md" "$T/template-readme"
step "the template README's two statically linked codecs"
(cd "$T/template-readme" && ./two_codecs >two.out) || fail "two_codecs failed"
grep -q '^calib_table "' "$T/template-readme/two.out" || fail "two_codecs printed no calib_table"

# --- a new codec from the installed template ------------------------------------
step "mapf new-codec my.gauge, built against the prefix"
(cd "$T" && "$P/bin/mapf" new-codec my.gauge gauge >newcodec.log) || fail "mapf new-codec failed"
run_logged "$T/gauge-configure.log" cmake -S "$T/gauge" -B "$T/gauge/build" \
    -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$T/ccbin/cc" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
run_logged "$T/gauge-build.log" cmake --build "$T/gauge/build"
run_logged "$T/gauge-install.log" cmake --install "$T/gauge/build" --prefix "$T/gauge-prefix"
GP=$(find "$T/gauge-prefix" -name '*my_gauge_codec*.so' | head -n 1)
[ -n "$GP" ] || fail "cmake --install --prefix did not put the codec under $T/gauge-prefix"
export MAPFILE_PLUGIN_PATH=$(dirname "$GP")
"$P/bin/mapf" plugins >"$T/gauge-plugins.txt"
grep -q "^    my.gauge " "$T/gauge-plugins.txt" || fail "mapf plugins does not list my.gauge"
(cd "$T" && gauge/build/calib_producer gauge.map >/dev/null) || fail "the new codec's producer failed"
rec=$("$P/bin/mapf" ls -l "$T/gauge.map" | awk '$2 == "my.gauge" { print $1; exit }')
[ -n "$rec" ] || fail "the producer wrote no my.gauge record"
"$P/bin/mapf" get "$T/gauge.map" "$rec" >"$T/gauge-get.txt" || fail "mapf get of a my.gauge record failed"
grep -q '^calib_table "' "$T/gauge-get.txt" || fail "mapf get did not decode $rec with the new codec"
unset MAPFILE_PLUGIN_PATH
rc=0
(cd "$T" && "$P/bin/mapf" new-codec 'bad name!' >/dev/null 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "mapf new-codec with a bad class name exited $rc, not 2"
cp "$T/gauge/my_gauge_codec.c" "$T/gauge-codec.before"
rc=0
(cd "$T" && "$P/bin/mapf" new-codec my.gauge gauge >/dev/null 2>"$T/again.err") || rc=$?
[ "$rc" = 2 ] || fail "mapf new-codec into an existing project exited $rc, not 2"
cmp -s "$T/gauge/my_gauge_codec.c" "$T/gauge-codec.before" || fail "mapf new-codec overwrote a file"

# --- mapf gen from the moved prefix; no other command loads libclang -------------
if grep -q "mapfile: mapf gen ON" "$T/configure.log"; then
    step "mapf gen from the moved prefix (its libclang part, $LIBDIR/mapfile/mapf-gen.so)"
    [ -f "$LIBDIR/mapfile/mapf-gen.so" ] || fail "mapf-gen.so is not installed in $LIBDIR/mapfile"
    if ldd "$P/bin/mapf" | grep -qi -e clang -e LLVM; then
        fail "mapf itself links libclang: every command would load LLVM"
    fi
    cat >"$T/point.h" <<'EOF2'
#include <stdint.h>
struct point { int32_t x, y; double w; };
EOF2
    (cd "$T" && env -u LD_LIBRARY_PATH "$P/bin/mapf" gen point.h --struct point \
        --out pointgen >gen.log 2>&1) || { cat "$T/gen.log"; fail "mapf gen from the moved prefix failed"; }
    [ -s "$T/pointgen/point_codec.c" ] || fail "mapf gen wrote no point_codec.c"
    run_logged "$T/point-configure.log" cmake -S "$T/pointgen" -B "$T/pointgen/build" \
        -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$T/ccbin/cc" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    run_logged "$T/point-build.log" cmake --build "$T/pointgen/build"
    step "mapf gen without mapf-gen.so: exit 2 naming what is missing"
    mv "$LIBDIR/mapfile/mapf-gen.so" "$T/mapf-gen.so.away"
    rc=0
    (cd "$T" && "$P/bin/mapf" gen point.h --struct point --out gone >gone.out 2>gone.err) || rc=$?
    mv "$T/mapf-gen.so.away" "$LIBDIR/mapfile/mapf-gen.so"
    [ "$rc" = 2 ] || fail "mapf gen without its module exited $rc, not 2"
    grep -q "mapf-gen.so" "$T/gone.err" || fail "mapf gen without its module said: $(cat "$T/gone.err")"
    [ ! -e "$T/gone" ] || fail "mapf gen without its module created its output folder"
fi

# --- mapf is a file, not a bash builtin ----------------------------------------
step "bash -ic 'type mapf'"
t=$(PATH=$P/bin:$PATH HOME=$T bash -ic 'type -t mapf; type -p mapf' 2>/dev/null)
[ "$(echo "$t" | head -n 1)" = file ] || fail "bash -ic 'type mapf' says: $t"
[ "$(echo "$t" | tail -n 1)" = "$P/bin/mapf" ] || fail "mapf resolves to $t"
echo "install_relocated: ok"
