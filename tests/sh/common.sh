# common.sh - sourced by the install tests: failure reporting and the
# compiler and sanitizer flags of the build under test (a sanitized
# libmapfile can only be loaded by a sanitized program).
fail() {
    echo "${0##*/}: FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }
# run_logged LOG CMD...: run, and on failure show the log and fail.
run_logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        fail "command failed: $*"
    fi
}
cache_value() {
    sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" 2>/dev/null | head -n 1
}
REAL_CC=$(cache_value CMAKE_C_COMPILER)
REAL_CC=${REAL_CC:-cc}
SAN_FLAGS=""
case "$(cache_value MAPFILE_SANITIZE)" in
ON | on | TRUE | true | 1 | YES | yes)
    SAN_FLAGS="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer"
    ;;
esac
# A `cc` on PATH that is the build's compiler with its sanitizer flags, so
# the commands written in a README run verbatim against a sanitized build.
# make_cc_wrapper DIR
make_cc_wrapper() {
    mkdir -p "$1"
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$REAL_CC" "$SAN_FLAGS" >"$1/cc"
    chmod +x "$1/cc"
}
# compile_readme README WORKDIR: extract README's C blocks into WORKDIR and
# build each there with the command written beside it.
compile_readme() {
    local readme=$1 dir=$2 f
    python3 "$SRC/tests/sh/readme_blocks.py" "$readme" "$dir" >"$dir/blocks.txt" ||
        fail "cannot extract the C blocks of $readme"
    while read -r f; do
        step "compile ${readme##*/} $f: $(cat "$dir/${f%.c}.cmd")"
        (cd "$dir" && run_logged "$dir/${f%.c}.log" bash -c "$(cat "${f%.c}.cmd")") ||
            fail "the command written beside $f in $readme does not build it"
    done <"$dir/blocks.txt"
}
# The `mapf gen` tests: skip (exit 77, as ctest's SKIP_RETURN_CODE) when
# this mapf was built without libclang, and run with leak checking under
# the sanitizers and no plugin path from the caller, in a scratch directory
# $T removed on exit (a script that needs more on exit sets its own trap).
# gen_test_prelude NAME
gen_test_prelude() {
    if "$BUILD/tools/mapf" gen /dev/null --struct x 2>&1 | grep -q 'built without libclang'; then
        echo "$1: mapf gen not built (no libclang): skipped"
        exit 77
    fi
    unset MAPFILE_PLUGIN_PATH
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SRC/tests/lsan.supp}
    T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-$1.XXXXXX")
    trap 'rm -rf "$T"' EXIT
}
