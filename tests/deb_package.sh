#!/usr/bin/env bash
# deb_package.sh BUILD_DIR SOURCE_DIR - issue 13: `cpack -G DEB` makes
# mapfile_<version>_<arch>.deb; unpacked with dpkg-deb -x into a temporary
# root, it holds the library, mapf, plugins, headers, CMake and pkg-config
# files and the template, and from that root alone `mapf plugins`, `mapf get`
# on a demo file and an out-of-tree codec build work. Exit 77 (skipped, said
# why) only when dpkg-deb or cpack is missing.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
. "$SRC/tests/sh/common.sh"
for tool in dpkg-deb cpack; do
    if ! command -v "$tool" >/dev/null; then
        echo "deb_package: SKIPPED: $tool is not installed (apt-get install dpkg / cmake)"
        exit 77
    fi
done
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-deb.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset LD_LIBRARY_PATH MAPFILE_PLUGIN_PATH MAPFILE_TEMPLATE_DIR
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

step "cpack -G DEB"
run_logged "$T/cpack.log" cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T/pkg"
VERSION=$(cache_value CMAKE_PROJECT_VERSION)
ARCH=$(dpkg --print-architecture)
DEB=$T/pkg/mapfile_${VERSION}_${ARCH}.deb
[ -f "$DEB" ] || fail "no $(basename "$DEB"); cpack made: $(ls "$T/pkg")"
[ "$(dpkg-deb -f "$DEB" Package)" = mapfile ] || fail "the package is not named mapfile"

step "dpkg-deb -x into $T/root"
dpkg-deb -x "$DEB" "$T/root"
R=$T/root/usr
LIBDIR=$(dirname "$(find "$R" -name 'libmapfile.so.*' | head -n 1)")
for f in "$R/bin/mapf" "$LIBDIR/libmapfile.so" "$LIBDIR/libmapfile.a" "$LIBDIR/libmapfile_hist.a" \
    "$LIBDIR/mapfile/plugins/mapfile-hist.so" "$LIBDIR/mapfile/plugins/mapfile-shapes.so" \
    "$R/include/mapfile/mapfile.h" "$R/include/mapfile/codec.h" "$R/include/mapfile/hist.h" \
    "$LIBDIR/cmake/mapfile/mapfileConfig.cmake" "$LIBDIR/pkgconfig/mapfile.pc" \
    "$LIBDIR/pkgconfig/mapfile-hist.pc" "$LIBDIR/pkgconfig/mapfile-sdk.pc" \
    "$R/share/mapfile/template/calib_codec.c" "$R/share/mapfile/template/README.md"; do
    [ -e "$f" ] || fail "not in the package: ${f#"$T/root"}"
done

step "mapf plugins from the unpacked root"
"$R/bin/mapf" plugins >"$T/plugins.txt" || fail "mapf plugins failed"
grep -qxF "  1. $LIBDIR/mapfile/plugins (install dir)" "$T/plugins.txt" ||
    fail "the search path is not the unpacked plugin folder: $(head -3 "$T/plugins.txt")"
grep -q "^    hist1d " "$T/plugins.txt" || fail "hist1d is not listed"

step "mapf get on a demo file"
(cd "$T" && "$R/bin/mapfile-demo" produce demo.map --fills 200 --rate 0 >demo.log) ||
    fail "mapfile-demo produce failed"
"$R/bin/mapf" get "$T/demo.map" hpx >"$T/hpx.txt" || fail "mapf get failed"
grep -q "entries 200 " "$T/hpx.txt" || fail "hpx does not read back: $(head -2 "$T/hpx.txt")"

# The optional parts ship in the package when they were built.
if ls "$BUILD"/python/mapfile*.so >/dev/null 2>&1; then
    step "the Python module from the unpacked root"
    PYDIR=$R/lib/python3/dist-packages
    ls "$PYDIR"/mapfile*.so >/dev/null 2>&1 || fail "the Python module is not in the package"
    [ -f "$PYDIR/mapfile.pyi" ] || fail "the Python stubs are not in the package"
    (cd "$T" && PYTHONPATH=$PYDIR /usr/bin/python3 -c '
import mapfile, sys
f = mapfile.open(sys.argv[1])
assert f["hpx"].entries() == 200, f["hpx"].entries()
' "$T/demo.map") || fail "the packaged Python module does not read the demo file"
fi
if "$BUILD/tools/mapf" mirror --help >/dev/null 2>&1; then
    step "mapf mirror from the unpacked root"
    "$R/bin/mapf" mirror --help >/dev/null || fail "mapf mirror --help failed"
fi

step "an out-of-tree codec build against the unpacked root"
make_cc_wrapper "$T/ccbin"
cp -R "$R/share/mapfile/template" "$T/codec"
run_logged "$T/codec-configure.log" cmake -S "$T/codec" -B "$T/codec/build" \
    -DCMAKE_PREFIX_PATH="$R" -DCMAKE_C_COMPILER="$T/ccbin/cc" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
found=$(sed -n 's/^mapfile_DIR:PATH=//p' "$T/codec/build/CMakeCache.txt")
case "$found" in "$T/root"/*) ;; *) fail "find_package(mapfile) found $found, not the unpacked package" ;; esac
run_logged "$T/codec-build.log" cmake --build "$T/codec/build"
(cd "$T" && MAPFILE_PLUGIN_PATH="$T/codec/build" codec/build/calib_producer calib.map >/dev/null) ||
    fail "calib_producer failed"
(cd "$T" && MAPFILE_PLUGIN_PATH="$T/codec/build" codec/build/calib_consumer calib.map >/dev/null) ||
    fail "calib_consumer does not read back what the producer wrote"
echo "deb_package: ok"
