#!/usr/bin/env bash
# sdk_out_of_tree.sh BUILD_DIR SOURCE_DIR
#
# The SDK as a codec author meets it: install mapfile into a fresh prefix,
# build sdk/template out of tree against that prefix only (with CMake's
# find_package and with plain cc + pkg-config), then publish a calib_table
# from one process and read it back, field by field, in another, with the
# codec found through MAPFILE_PLUGIN_PATH.
set -euo pipefail

[ $# -eq 2 ] || {
    echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
    exit 2
}
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)

fail() {
    echo "sdk_out_of_tree: FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }
# run_logged LOG CMD...: run, and on failure show the log and fail.
run_logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "command failed: $*"
    fi
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-sdk.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"

# The compiler and sanitizer flags of the build under test: a sanitized
# libmapfile can only be loaded by a sanitized executable.
cache_value() {
    sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" 2>/dev/null | head -n 1
}
CC=${CC:-$(cache_value CMAKE_C_COMPILER)}
CC=${CC:-cc}
SAN_FLAGS=""
case "$(cache_value MAPFILE_SANITIZE)" in
ON | on | TRUE | true | 1 | YES | yes)
    SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    ;;
esac
WARN_FLAGS="-Wall -Wextra -Werror"

# --- 1. install ---------------------------------------------------------------
step "install $BUILD into $PREFIX"
run_logged "$WORK/install.log" cmake --install "$BUILD" --prefix "$PREFIX"

PC=$(find "$PREFIX" -path '*/pkgconfig/mapfile.pc' | head -n 1)
[ -n "$PC" ] || fail "no pkgconfig/mapfile.pc installed under $PREFIX"
LIBDIR=$(dirname "$(dirname "$PC")")
for f in "$PREFIX/include/mapfile/mapfile.h" "$PREFIX/include/mapfile/codec.h" \
    "$LIBDIR/libmapfile.so" "$LIBDIR/libmapfile.a" \
    "$LIBDIR/pkgconfig/mapfile-sdk.pc" \
    "$LIBDIR/cmake/mapfile/mapfileConfig.cmake" \
    "$LIBDIR/cmake/mapfile/mapfileConfigVersion.cmake" \
    "$LIBDIR/cmake/mapfile/mapfileTargets.cmake"; do
    [ -e "$f" ] || fail "not installed: ${f#"$PREFIX"/}"
done

step "installed plugins in ${LIBDIR#"$PREFIX"/}/mapfile/plugins"
PLUGINDIR="$LIBDIR/mapfile/plugins"
[ -d "$PLUGINDIR" ] || fail "no plugin folder $PLUGINDIR"
nplugins=0
for so in "$PLUGINDIR"/*.so; do
    [ -e "$so" ] || continue
    nm -D --defined-only "$so" | grep -qw mapfile_plugin_entry ||
        fail "installed plugin $so does not export mapfile_plugin_entry"
    nplugins=$((nplugins + 1))
done
[ "$nplugins" -gt 0 ] || fail "no plugin (*.so) installed in $PLUGINDIR"
echo "$nplugins plugin(s)"

# --- pkg-config ---------------------------------------------------------------
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
step "pkg-config files"
sdk_cflags=$(pkg-config --cflags mapfile-sdk) || fail "pkg-config --cflags mapfile-sdk failed"
libs=$(pkg-config --libs mapfile) || fail "pkg-config --libs mapfile failed"
static_libs=$(pkg-config --static --libs mapfile) || fail "pkg-config --static --libs mapfile failed"
pc_plugindir=$(pkg-config --variable=plugindir mapfile-sdk) || fail "no plugindir in mapfile-sdk.pc"
echo "mapfile-sdk cflags: $sdk_cflags"
echo "mapfile libs: $libs"
echo "mapfile static libs: $static_libs"
case " $libs " in *" -lmapfile "*) ;; *) fail "pkg-config --libs mapfile lacks -lmapfile: $libs" ;; esac
case " $static_libs " in *" -lxxhash "*) ;; *) fail "static libs lack -lxxhash: $static_libs" ;; esac
case " $static_libs " in *" -lffi "*) ;; *) fail "static libs lack -lffi: $static_libs" ;; esac
[ -z "$(pkg-config --libs mapfile-sdk)" ] || fail "mapfile-sdk.pc must not link anything"
# The .pc files must point into this prefix (they locate it from their own
# folder, so a relocated install works).
[ "$(cd "$pc_plugindir" && pwd -P)" = "$(cd "$PLUGINDIR" && pwd -P)" ] ||
    fail "mapfile-sdk.pc plugindir $pc_plugindir is not $PLUGINDIR"
incdir=$(pkg-config --variable=includedir mapfile-sdk)
[ "$(cd "$incdir" && pwd -P)" = "$(cd "$PREFIX/include" && pwd -P)" ] ||
    fail "mapfile-sdk.pc includedir $incdir is not $PREFIX/include"

# The template is copied so that it cannot reach anything in the source tree.
TEMPLATE="$WORK/template"
cp -R "$SRC/sdk/template" "$TEMPLATE"

# --- 2a. CMake, against the prefix only ---------------------------------------
step "build sdk/template with CMake (find_package(mapfile CONFIG))"
run_logged "$WORK/tpl-cmake-configure.log" \
    cmake -S "$TEMPLATE" -B "$WORK/tpl-cmake" \
    -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="$WARN_FLAGS $SAN_FLAGS" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
found_dir=$(sed -n 's/^mapfile_DIR:PATH=//p' "$WORK/tpl-cmake/CMakeCache.txt")
case "$(cd "$found_dir" && pwd -P)" in
"$(cd "$PREFIX" && pwd -P)"/*) ;;
*) fail "find_package(mapfile) found $found_dir, not the package in $PREFIX" ;;
esac
run_logged "$WORK/tpl-cmake-build.log" cmake --build "$WORK/tpl-cmake" -j 2
CMAKE_PLUGIN=$(find "$WORK/tpl-cmake" -maxdepth 1 -name '*calib_codec*.so' | head -n 1)
[ -n "$CMAKE_PLUGIN" ] || fail "the CMake build made no calib_codec module"
PRODUCER="$WORK/tpl-cmake/calib_producer"
CONSUMER="$WORK/tpl-cmake/calib_consumer"
if [ ! -x "$PRODUCER" ] || [ ! -x "$CONSUMER" ]; then
    fail "the CMake build made no calib_producer/calib_consumer"
fi

# The static library and its dependencies through the same package.
step "link the consumer against mapfile::mapfile_static"
mkdir -p "$WORK/static-src"
cat >"$WORK/static-src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(calib_static LANGUAGES C)
find_package(mapfile CONFIG REQUIRED COMPONENTS static)
add_executable(calib_consumer_static "$TEMPLATE/consumer.c")
target_link_libraries(calib_consumer_static PRIVATE mapfile::mapfile_static)
EOF
run_logged "$WORK/static-configure.log" \
    cmake -S "$WORK/static-src" -B "$WORK/static" \
    -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="$WARN_FLAGS $SAN_FLAGS"
run_logged "$WORK/static-build.log" cmake --build "$WORK/static" -j 2
CONSUMER_STATIC="$WORK/static/calib_consumer_static"
if readelf -d "$CONSUMER_STATIC" | grep -q 'NEEDED.*libmapfile'; then
    fail "calib_consumer_static links libmapfile.so, not libmapfile.a"
fi

# --- 2b. plain cc + pkg-config ------------------------------------------------
step "build the plugin with cc -shared -fPIC \$(pkg-config --cflags mapfile-sdk)"
mkdir -p "$WORK/tpl-cc"
CC_PLUGIN="$WORK/tpl-cc/calib_codec.so"
# shellcheck disable=SC2086 # flags are word lists
run_logged "$WORK/tpl-cc.log" "$CC" -shared -fPIC $WARN_FLAGS $SAN_FLAGS $sdk_cflags \
    -o "$CC_PLUGIN" "$TEMPLATE/calib_codec.c"
step "build a consumer with cc \$(pkg-config --cflags --libs mapfile)"
CONSUMER_PC="$WORK/tpl-cc/calib_consumer"
cflags=$(pkg-config --cflags mapfile) || fail "pkg-config --cflags mapfile failed"
# shellcheck disable=SC2086
run_logged "$WORK/tpl-cc-consumer.log" "$CC" $WARN_FLAGS $SAN_FLAGS \
    $cflags -o "$CONSUMER_PC" "$TEMPLATE/consumer.c" $libs

# A plugin includes only the SDK: it must not link libmapfile, and it must
# export its entry symbol.
for so in "$CMAKE_PLUGIN" "$CC_PLUGIN"; do
    if readelf -d "$so" | grep -q 'NEEDED.*libmapfile'; then
        fail "$so links libmapfile; a plugin must use mapfile::sdk only"
    fi
    nm -D --defined-only "$so" | grep -qw mapfile_plugin_entry ||
        fail "$so does not export mapfile_plugin_entry"
done

# --- 3. producer -> consumer, separate processes ------------------------------
MAP="$WORK/calib.map"
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# roundtrip LABEL PRODUCER_PLUGIN_DIR CONSUMER_PLUGIN_DIR CONSUMER
roundtrip() {
    local label=$1 pdir=$2 cdir=$3 consumer=$4 rc=0
    step "round trip: $label"
    rm -f "$MAP"
    MAPFILE_PLUGIN_PATH="$pdir" timeout 120 "$PRODUCER" "$MAP" ||
        fail "$label: calib_producer failed (exit $?) with MAPFILE_PLUGIN_PATH=$pdir"
    [ -s "$MAP" ] || fail "$label: calib_producer left no map file"
    MAPFILE_PLUGIN_PATH="$cdir" timeout 120 "$consumer" "$MAP" || rc=$?
    [ "$rc" -eq 0 ] ||
        fail "$label: $(basename "$consumer") exited $rc with MAPFILE_PLUGIN_PATH=$cdir (1: object differs, 3: codec not found)"
}

roundtrip "CMake-built plugin" "$(dirname "$CMAKE_PLUGIN")" "$(dirname "$CMAKE_PLUGIN")" "$CONSUMER"
roundtrip "cc-built plugin" "$WORK/tpl-cc" "$WORK/tpl-cc" "$CONSUMER"
roundtrip "CMake-built producer plugin, cc-built consumer plugin" \
    "$(dirname "$CMAKE_PLUGIN")" "$WORK/tpl-cc" "$CONSUMER"
roundtrip "consumer built with pkg-config" "$WORK/tpl-cc" "$WORK/tpl-cc" "$CONSUMER_PC"
roundtrip "consumer linked with libmapfile.a" "$WORK/tpl-cc" \
    "$(dirname "$CMAKE_PLUGIN")" "$CONSUMER_STATIC"

# The codec really comes from MAPFILE_PLUGIN_PATH: without it, the record is
# there but nothing can decode it.
step "consumer without MAPFILE_PLUGIN_PATH must not find the codec"
rc=0
env -u MAPFILE_PLUGIN_PATH timeout 120 "$CONSUMER" "$MAP" >"$WORK/nocodec.log" 2>&1 || rc=$?
if [ "$rc" -ne 3 ]; then
    cat "$WORK/nocodec.log" >&2
    fail "consumer without MAPFILE_PLUGIN_PATH exited $rc, expected 3 (no codec for calib_table)"
fi

echo "sdk_out_of_tree: OK"
