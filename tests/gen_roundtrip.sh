#!/usr/bin/env bash
# gen_roundtrip.sh BUILD_DIR SOURCE_DIR - `mapf gen` end to end (issue 18):
#   - install mapfile into a temporary prefix and run its mapf gen on
#     tests/gen/torture.h (every field kind it supports);
#   - build the generated project with CMake against that prefix only, as a
#     real plugin .so, warnings as errors (and the build's sanitizers);
#   - one process puts the cases full, empty, huge and nulls, another gets
#     them through the registry (dlopen of the generated .so) and compares
#     field by field; mapf get --json of each is valid JSON;
#   - the generated payload of each case is byte-identical to the one of a
#     hand-written reference codec (tests/gen/torture_ref.c), each decodes
#     the other's to equal objects, and both accept exactly the same cuts
#     and mutants of case full;
#   - every truncation and 3000 mutations of each payload are refused or
#     decode cleanly (under ASan in the sanitizer pass);
#   - headers with a union, a bitfield, a void *, an unmarked pointer, a
#     flexible array, a bare function pointer, a recursive struct or an
#     MF_COUNT naming no field: exit 1, the field and its
#     type named, nothing written; no such struct or a broken header: exit 2.
# Skipped (77) when this mapf was built without libclang.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
. "$SRC/tests/sh/common.sh"

gen_test_prelude gen_roundtrip
P=$T/prefix

step "install $BUILD into $P"
run_logged "$T/install.log" cmake --install "$BUILD" --prefix "$P"
MAPF=$P/bin/mapf
LIBDIR=$(dirname "$(find "$P" -name 'libmapfile.so' | head -n 1)")
[ -f "$P/include/mapfile/gen.h" ] || fail "mapfile/gen.h is not installed"

# --- generate and build ----------------------------------------------------------
cp "$SRC/tests/gen/torture.h" "$T/torture.h"
step "mapf gen torture.h --struct torture"
(cd "$T" && "$MAPF" gen torture.h --struct torture >gen.out 2>gen.err) ||
    fail "mapf gen failed: $(cat "$T/gen.err")"
[ ! -s "$T/gen.err" ] || fail "mapf gen printed on stderr: $(cat "$T/gen.err")"
for f in torture_codec.c CMakeLists.txt README.md; do
    [ -s "$T/torture/$f" ] || fail "mapf gen wrote no torture/$f"
done
cp "$SRC/tests/gen/torture_ops.c" "$T/torture/"
step "mapf gen again: the same files, the user's torture_ops.c kept"
cp "$T/torture/torture_codec.c" "$T/codec.first"
(cd "$T" && "$MAPF" gen torture.h --struct torture >/dev/null) || fail "mapf gen (again) failed"
cmp -s "$T/codec.first" "$T/torture/torture_codec.c" || fail "mapf gen is not deterministic"
[ -f "$T/torture/torture_ops.c" ] || fail "mapf gen removed the user's torture_ops.c"
step "build the generated plugin against $P"
run_logged "$T/codec-configure.log" cmake -S "$T/torture" -B "$T/torture/build" \
    -DCMAKE_PREFIX_PATH="$P" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_COMPILER="$REAL_CC" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $SAN_FLAGS"
run_logged "$T/codec-build.log" cmake --build "$T/torture/build" -j 2
SO=$T/torture/build/torture_codec.so
[ -f "$SO" ] || fail "the generated project built no torture_codec.so"
nm -D --defined-only "$SO" | grep -qw mapfile_plugin_entry || fail "$SO exports no entry symbol"
if readelf -d "$SO" | grep -q 'NEEDED.*libmapfile'; then
    fail "$SO links libmapfile; a plugin uses mapfile::sdk only"
fi
# The same codec also builds with clang, warnings as errors.
if command -v clang >/dev/null && [ -z "$SAN_FLAGS" ]; then
    run_logged "$T/clang.log" clang -std=c11 -Wall -Wextra -Werror -fPIC -shared \
        -I"$P/include" -I"$T" -o "$T/clang_codec.so" "$T/torture/torture_codec.c"
fi

step "build torture_check against $P"
run_logged "$T/check-build.log" "$REAL_CC" -std=c11 -Wall -Wextra -Werror $SAN_FLAGS \
    -I"$P/include" -I"$T" -o "$T/torture_check" "$SRC/tests/gen/torture_check.c" \
    "$SRC/tests/gen/torture_ref.c" "$SRC/tests/gen/torture_ops.c" \
    -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lmapfile -lm

# --- across processes ---------------------------------------------------------------
export MAPFILE_PLUGIN_PATH=$T/torture/build
MAP=$T/torture.map
step "producer puts full, empty, huge, nulls"
"$T/torture_check" put "$MAP" || fail "the producer failed"
step "consumer (another process) gets them through the registry"
"$T/torture_check" get "$MAP" || fail "the consumer's objects differ"
"$MAPF" plugins | grep -q "^    torture " || fail "mapf plugins does not list torture"
for c in full empty huge nulls; do
    "$MAPF" get --json "$MAP" "$c" >"$T/$c.json" || fail "mapf get --json $c failed"
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/$c.json" ||
        fail "mapf get --json $c is not JSON: $(head -c 300 "$T/$c.json")"
done
grep -q '"title":null' "$T/nulls.json" || fail "a NULL title is not null in JSON"
grep -q '"mat":\[\[0.5,1.5,2.5\],\[10.5,11.5,12.5\]\]' "$T/full.json" ||
    fail "a 2-D array is not nested in JSON: $(grep -o '"mat":[^]]*]' "$T/full.json")"
"$MAPF" get "$MAP" full | grep -q '^torture {' || fail "mapf get (print) of full failed"

step "against the hand-written reference codec (tests/gen/torture_ref.c)"
"$T/torture_check" ref || fail "the generated codec differs from the hand-written reference"

step "hostile payloads: every cut, 3000 mutants per case"
"$T/torture_check" cut || fail "a hostile payload was not handled"
unset MAPFILE_PLUGIN_PATH

# --- the README's example, block by block -------------------------------------------
step "README.md: struct -> mapf gen -> build -> producer -> consumer"
mkdir "$T/readme"
python3 - "$SRC/README.md" "$T/readme" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"<!-- gen-example:[^\n]*-->\n(.*?)<!-- gen-example: end -->", text, re.S)
if not m:
    sys.exit("README.md has no gen-example section")
script = ["set -euxo pipefail"]
for lang, body in re.findall(r"^```(\w+)\n(.*?)^```", m.group(1), re.S | re.M):
    if lang == "sh":
        script.append(body)
        continue
    first = body.split("\n", 1)[0]
    c = re.fullmatch(r"/\* (\w+\.[ch])(?:: (.+))? \*/", first)
    if not c:
        sys.exit("a C block of the gen example has no '/* NAME.c: COMMAND */' line")
    open(os.path.join(sys.argv[2], c.group(1)), "w").write(body)
    if c.group(2):
        script.append(c.group(2))
open(os.path.join(sys.argv[2], "example.sh"), "w").write("\n".join(script) + "\n")
PY
make_cc_wrapper "$T/ccbin"
(cd "$T/readme" && PATH=$P/bin:$T/ccbin:$PATH CC=$T/ccbin/cc CMAKE_PREFIX_PATH=$P \
    PKG_CONFIG_PATH=$LIBDIR/pkgconfig bash example.sh >example.out 2>example.err) ||
    fail "the README's gen example failed: $(tail -n 30 "$T/readme/example.err")"
grep -qxF "three points: (1, -1) (2, -2) (3, -3)" "$T/readme/example.out" ||
    fail "the README's consumer printed: $(cat "$T/readme/example.out")"
grep -q '"x":\[1,2,3\]' "$T/readme/example.out" ||
    fail "mapf get --json of the README's cloud: $(cat "$T/readme/example.out")"

# --- rejections ----------------------------------------------------------------------
# reject NAME FIELD TYPE-WORD: mapf gen on tests/gen/bad_NAME.h must exit 1,
# name the field and its type, and write nothing.
reject() {
    local name=$1 field=$2 type=$3 rc=0
    step "rejected: $name"
    (cd "$T" && "$MAPF" gen "$SRC/tests/gen/bad_$name.h" --struct bad --out "bad_$name" \
        >"bad_$name.out" 2>"bad_$name.err") || rc=$?
    [ "$rc" = 1 ] || fail "mapf gen on bad_$name.h exited $rc, not 1: $(cat "$T/bad_$name.err")"
    grep -q "field '$field' of struct bad, type '[^']*$type" "$T/bad_$name.err" ||
        fail "the error for bad_$name.h does not name field '$field' and its type: $(cat "$T/bad_$name.err")"
    [ ! -e "$T/bad_$name" ] || fail "mapf gen wrote bad_$name/ despite the error"
    sed -n 1p "$T/bad_$name.err"
}
reject union u "union"
reject bitfield b ":\{0,1\}"
reject voidptr opaque "void \*"
reject pointer values "double \*"
reject flexible tail "\[\]"
reject funcptr callback "(\*)"
reject count_missing data "int \*"
reject recursive next "struct bad \*"

step "no such struct, a header that does not compile: exit 2"
rc=0
"$MAPF" gen "$T/torture.h" --struct nosuch --out "$T/x" 2>"$T/nosuch.err" || rc=$?
[ "$rc" = 2 ] && grep -q "no struct named 'nosuch'" "$T/nosuch.err" ||
    fail "a missing struct gave exit $rc: $(cat "$T/nosuch.err")"
printf 'struct broken { int a };; oops\n' >"$T/broken.h"
rc=0
"$MAPF" gen "$T/broken.h" --struct broken --out "$T/x" 2>"$T/broken.err" || rc=$?
[ "$rc" = 2 ] && grep -q "does not compile" "$T/broken.err" ||
    fail "a broken header gave exit $rc: $(cat "$T/broken.err")"
rc=0
"$MAPF" gen "$T/torture.h" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "mapf gen without --struct exited $rc, not 2"
echo "gen_roundtrip: ok"
