#!/usr/bin/env bash
# gen_kill.sh BUILD_DIR SOURCE_DIR - `mapf gen` killed with SIGKILL while it
# writes its project, at each of its output files in turn (an LD_PRELOAD
# shim turns the Nth rename() into SIGKILL): every file it left is complete
# (byte for byte what an uninterrupted run writes) or absent, and the next
# run finishes the project, equal to an uninterrupted run's and without the
# killed run's temporary file. Both for a first run and for a run that adds
# a schema version (the struct gained a field).
# Skipped (77) when this mapf was built without libclang.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
. "$SRC/tests/sh/common.sh"

gen_test_prelude gen_kill
MF=$BUILD/tools/mapf

"$REAL_CC" -shared -fPIC -o "$T/kill_at_rename.so" "$SRC/tests/gen/kill_at_rename.c" -ldl ||
    fail "cannot build the rename shim"
# A sanitizer build's runtime must come first in the preload list.
PRELOAD=$T/kill_at_rename.so
ASAN_RT=$(ldd "$MF" | awk '/libasan/ {print $3; exit}')
[ -n "$ASAN_RT" ] && PRELOAD="$ASAN_RT:$PRELOAD"

cp "$SRC/sdk/template-gen/calib.h" "$T/v1.h"
sed 's|^    uint32_t first_run;.*|&\n    uint16_t crate;|' "$T/v1.h" >"$T/v2.h"
grep -q 'uint16_t crate;' "$T/v2.h" || fail "could not add a field to calib.h"

gen() { # gen HEADER DIR [KILL_AT]
    cp "$1" "$T/calib.h"
    MF_TEST_KILL_AT_RENAME=${3:-0} LD_PRELOAD=$PRELOAD \
        "$MF" gen "$T/calib.h" --struct calib_table --out "$2" >/dev/null 2>"$T/gen.err"
}

# What uninterrupted runs write: v1 alone, and v1 then v2 in one directory.
gen "$T/v1.h" "$T/ref1" || fail "gen v1: $(cat "$T/gen.err")"
cp -R "$T/ref1" "$T/ref2"
gen "$T/v2.h" "$T/ref2" || fail "gen v2: $(cat "$T/gen.err")"
NFILES=$(find "$T/ref1" -type f | wc -l)
[ "$NFILES" -ge 4 ] || fail "an uninterrupted run wrote $NFILES files"
grep -q 'crate' "$T/ref2/calib_table_codec.c" || fail "v2's codec lacks the new field"

# Every file in DIR is complete (equal to REF's) or absent; no partial one.
complete_or_absent() { # DIR REF WHAT
    local f
    for f in "$1"/*; do
        [ -e "$f" ] || continue
        case $f in *.tmp[0-9]*) continue ;; esac
        cmp -s "$f" "$2/$(basename "$f")" ||
            fail "$3: $(basename "$f") is not what an uninterrupted run writes"
    done
}

same_as() { # DIR REF WHAT
    diff -r "$1" "$2" >"$T/diff.out" || fail "$3: differs from an uninterrupted run: $(head -n 20 "$T/diff.out")"
}

kills=0
for n in $(seq 1 "$NFILES"); do
    # A first run, killed at its nth file.
    rm -rf "$T/out"
    if gen "$T/v1.h" "$T/out" "$n"; then
        fail "first run: gen was not killed at rename $n"
    fi
    kills=$((kills + 1))
    complete_or_absent "$T/out" "$T/ref1" "first run killed at file $n"
    ls "$T/out" | grep -q '\.tmp[0-9]' || fail "first run killed at file $n left no temporary file"
    gen "$T/v1.h" "$T/out" || fail "first run after the kill at file $n: $(cat "$T/gen.err")"
    same_as "$T/out" "$T/ref1" "first run after the kill at file $n"

    # A run that adds version 2, killed at its nth file: the next run still
    # makes version 2, not a version 3 or a mix.
    rm -rf "$T/out"
    cp -R "$T/ref1" "$T/out"
    if gen "$T/v2.h" "$T/out" "$n"; then
        fail "v2 run: gen was not killed at rename $n"
    fi
    kills=$((kills + 1))
    for f in "$T/out"/*; do
        case $f in *.tmp[0-9]*) continue ;; esac
        cmp -s "$f" "$T/ref2/$(basename "$f")" || cmp -s "$f" "$T/ref1/$(basename "$f")" ||
            fail "v2 run killed at file $n: $(basename "$f") is neither v1's nor v2's"
    done
    gen "$T/v2.h" "$T/out" || fail "v2 run after the kill at file $n: $(cat "$T/gen.err")"
    same_as "$T/out" "$T/ref2" "v2 run after the kill at file $n"
done
echo "gen_kill: $kills runs killed at each of $NFILES files; every file left was whole, and the next run finished the project as an uninterrupted one"
