#!/usr/bin/env bash
# permissions.sh - a consumer needs read permission only, and a user without
# write permission cannot change a map file by any path.
# Usage: bash tests/permissions.sh BUILD_DIR SOURCE_DIR
#
# As root, a map file made by root (mode 0644) is read by a second,
# unprivileged user (uid/gid 65534 through setpriv, or a user run through
# runuser), with the built `mapf` CLI and a small C reader compiled here:
# - info/ls/get/dump/check/call/watch all work;
# - put, rm and opening for UPDATE fail cleanly: non-zero exit (no signal),
#   a message saying why, and the file byte-for-byte unchanged;
# - a file created under umask 077 is unreadable to that user, cleanly;
# - a producer (root) never follows a symlink planted by that user at its
#   path: UPDATE refuses it and CREATE reports that the name exists, and the
#   file the link points at stays unchanged. (RECREATE replacing a link and
#   the create mode less umask through the API are in test_core.c.)
# Not root, and so no way to become another user: prints SKIP, exits 0.
# Prints "N passed, M failed"; exits 1 on any failure.
set -u

BUILD=${1:?usage: permissions.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: permissions.sh BUILD_DIR SOURCE_DIR}
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$SRC" && pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "permissions.sh: SKIP: needs root to run commands as a second user"
    exit 0
fi
if [ ! -x "$BUILD/tools/mapf" ]; then
    echo "permissions.sh: $BUILD/tools/mapf not built" >&2
    exit 1
fi

# --- the second user -----------------------------------------------------------

OTHER_UID=65534
OTHER_GID=65534
if command -v setpriv >/dev/null 2>&1; then
    as_other() { setpriv --reuid=$OTHER_UID --regid=$OTHER_GID --clear-groups -- "$@"; }
elif command -v runuser >/dev/null 2>&1; then
    OTHER_USER=$(getent passwd $OTHER_UID | cut -d: -f1)
    if [ -z "$OTHER_USER" ]; then
        OTHER_USER=mapfile-perm
        if ! getent passwd "$OTHER_USER" >/dev/null; then
            useradd --system --no-create-home --shell /usr/sbin/nologin "$OTHER_USER" ||
                { echo "permissions.sh: cannot create a user" >&2; exit 1; }
        fi
        OTHER_UID=$(id -u "$OTHER_USER")
        OTHER_GID=$(id -g "$OTHER_USER")
    fi
    as_other() { runuser -u "$OTHER_USER" -- "$@"; }
else
    echo "permissions.sh: root, but neither setpriv nor runuser is installed" >&2
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-perm.XXXXXX")
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
export MAPFILE_PLUGIN_PATH=$BUILD/lib/mapfile/plugins

# The other user must be able to run the tools. A build tree it cannot
# reach (under /root, say) is copied to where it can.
MF=$BUILD/tools/mapf
if ! as_other test -x "$MF"; then
    mkdir -p "$T/bin" "$T/lib" "$T/plugins"
    cp "$MF" "$T/bin/"
    cp -P "$BUILD"/lib/libmapfile.so* "$T/lib/"
    cp "$BUILD"/lib/mapfile/plugins/*.so "$T/plugins/" 2>/dev/null
    chmod -R a+rX "$T/bin" "$T/lib" "$T/plugins"
    MF=$T/bin/mapf
    export LD_LIBRARY_PATH=$T/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export MAPFILE_PLUGIN_PATH=$T/plugins
fi

PASS=0
FAIL=0
OUT=$T/out
ERR=$T/err
RC=0

run() {
    "$@" >"$OUT" 2>"$ERR" </dev/null
    RC=$?
}
other() { run as_other "$@"; }

pass() { PASS=$((PASS + 1)); }
fail() {
    FAIL=$((FAIL + 1))
    echo "FAIL: $1"
    echo "  exit status: $RC"
    sed 's/^/  stdout: /' "$OUT" | head -10
    sed 's/^/  stderr: /' "$ERR" | head -10
}

expect_ok() { if [ "$RC" -eq 0 ]; then pass; else fail "$1: want exit 0"; fi; }
expect_stdout() {
    if grep -q -- "$2" "$OUT"; then pass; else fail "$1: stdout lacks '$2'"; fi
}
# A clean refusal: a non-zero exit that is not a signal or a sanitizer
# abort, and a message on stderr matching the pattern.
expect_refused() {
    if [ "$RC" -eq 0 ] || [ "$RC" -ge 64 ]; then
        fail "$1: want a clean non-zero exit"
    elif ! grep -qiE -- "$2" "$ERR"; then
        fail "$1: stderr does not say '$2'"
    else
        pass
    fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
expect_unchanged() {
    if [ "$(sha "$1")" = "$2" ]; then pass; else fail "$3: $1 changed"; fi
}

# --- a map file made by root, readable by all ---------------------------------

umask 022
F=$T/shared.map
run "$MF" put "$F" greeting --text "hello from root"
expect_ok "root creates the file"
printf 'binary\001\002' >"$T/bytes"
run "$MF" put "$F" data/bytes --blob "$T/bytes"
expect_ok "root stores a blob"
if [ "$(stat -c %a "$F")" = 644 ]; then pass; else
    RC=0; fail "a file created under umask 022 has mode $(stat -c %a "$F"), want 644"
fi
SUM=$(sha "$F")

other "$MF" info "$F"
expect_ok "other user: info"
other "$MF" ls "$F"
expect_ok "other user: ls"
expect_stdout "other user: ls" "data/bytes"
other "$MF" ls --json "$F"
expect_ok "other user: ls --json"
other "$MF" get "$F" greeting
expect_ok "other user: get"
expect_stdout "other user: get" "hello from root"
other "$MF" get --json "$F" data/bytes
expect_ok "other user: get --json"
other "$MF" dump "$F" greeting
expect_ok "other user: dump"
expect_stdout "other user: dump" "hello from"
other "$MF" check "$F"
expect_ok "other user: check"
other "$MF" call "$F" greeting length
expect_ok "other user: call"
expect_stdout "other user: call" "^15$"
other timeout 60 "$MF" watch "$F" --count 1
expect_ok "other user: watch --count 1"
expect_stdout "other user: watch" "greeting"
expect_unchanged "$F" "$SUM" "reading as another user"

# --- every write path refused ----------------------------------------------

other "$MF" put "$F" intruder --text "should not land"
expect_refused "other user: put" "permission denied"
expect_unchanged "$F" "$SUM" "a refused put"
other "$MF" put "$F" greeting --text "overwritten"
expect_refused "other user: put over an existing record" "permission denied"
expect_unchanged "$F" "$SUM" "a refused overwrite"
other "$MF" rm "$F" greeting
expect_refused "other user: rm" "permission denied"
expect_unchanged "$F" "$SUM" "a refused rm"
other "$MF" put "$T/new.map" x --text y
expect_refused "other user: put into a directory it cannot write" "permission denied"
if [ -e "$T/new.map" ] || ls "$T"/new.map.tmp-* >/dev/null 2>&1; then
    fail "a refused create left a file behind"
else
    pass
fi

# --- a private file ------------------------------------------------------------

(umask 077 && "$MF" put "$T/private.map" secret --text "root only" >/dev/null 2>&1)
if [ "$(stat -c %a "$T/private.map" 2>/dev/null)" = 600 ]; then pass; else
    RC=0; fail "a file created under umask 077 is not mode 600"
fi
other "$MF" ls "$T/private.map"
expect_refused "other user: ls of a mode 600 file" "permission denied"
other "$MF" get "$T/private.map" secret
expect_refused "other user: get from a mode 600 file" "permission denied"

# A plugin directory the user cannot read is flagged by `mapf plugins`.
mkdir -p "$T/private-plugins"
chmod 700 "$T/private-plugins"
MAPFILE_PLUGIN_PATH="$T/private-plugins:$MAPFILE_PLUGIN_PATH" other "$MF" plugins
expect_ok "other user: plugins with an unreadable directory"
expect_stdout "other user: plugins flags the unreadable directory" \
    "^  1\. $T/private-plugins \[unreadable: Permission denied\] (MAPFILE_PLUGIN_PATH)$"

# --- the library, directly -----------------------------------------------------

CC_BIN=$(command -v cc || command -v gcc || command -v clang || true)
if [ -z "$CC_BIN" ]; then
    echo "permissions.sh: no C compiler: the library-level checks are skipped"
else
    cat >"$T/reader.c" <<'EOF'
/* Library-level checks, as the unprivileged user (read) or root (planted
 * links). Prints one line per finding; exit 0 if all hold. */
#include <mapfile/mapfile.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad;

static void expect(int rc, int want, const char *what)
{
    if (rc != want) {
        printf("%s: got %s, want %s (%s)\n", what, mf_err_name(rc), mf_err_name(want),
               mf_errdetail());
        bad = 1;
    } else if (rc && !mf_errdetail()[0]) {
        printf("%s: %s without a detail message\n", what, mf_err_name(rc));
        bad = 1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *mode = argv[1], *path = argv[2];
    mf_file *mf = NULL;
    if (strcmp(mode, "consumer") == 0) {
        /* Read works; every way of opening for writing is refused. */
        expect(mf_open(&mf, path, MF_READ, NULL), 0, "open READ");
        if (mf) {
            void *obj;
            const mf_class *cls;
            expect(mf_get(mf, "greeting", &obj, &cls), 0, "get");
            if (!bad && strcmp(obj, "hello from root") != 0) {
                printf("get: wrong text '%s'\n", (const char *)obj);
                bad = 1;
            }
            if (!bad)
                mf_object_free(cls, obj);
            uint64_t seen = 0;
            expect(mf_wait(mf, &seen, 0), 0, "wait on a read-only map");
            unsigned problems = 1;
            expect(mf_check(mf, NULL, NULL, &problems), 0, "check");
            if (problems) {
                printf("check: %u problems\n", problems);
                bad = 1;
            }
            expect(mf_put(mf, "x", "text", "y"), MF_EREADONLY, "put on a READ handle");
            mf_close(mf);
        }
        mf = NULL;
        expect(mf_open(&mf, path, MF_UPDATE, NULL), MF_EACCES, "open UPDATE");
        expect(mf_open(&mf, path, MF_RECREATE, NULL), MF_EACCES, "open RECREATE");
        /* The name exists and the directory is not writable: either
         * refusal is true, and both leave the file alone. */
        int rc = mf_open(&mf, path, MF_CREATE, NULL);
        expect(rc, rc == MF_EEXIST ? MF_EEXIST : MF_EACCES, "open CREATE");
        if (mf) {
            printf("a refused open returned a handle\n");
            bad = 1;
        }
    } else if (strcmp(mode, "producer-update") == 0) {
        expect(mf_open(&mf, path, MF_UPDATE, NULL), MF_EACCES, "UPDATE on a link");
    } else if (strcmp(mode, "producer-create") == 0) {
        expect(mf_open(&mf, path, MF_CREATE, NULL), MF_EEXIST, "CREATE on a link");
    } else {
        return 2;
    }
    if (mf)
        mf_close(mf);
    return bad;
}
EOF
    # An instrumented library needs the sanitizer runtimes in the program.
    SAN=()
    if ldd "$BUILD/lib/libmapfile.so" 2>/dev/null | grep -q libasan; then
        SAN=(-fsanitize=address,undefined)
    fi
    if "$CC_BIN" -std=c11 -D_GNU_SOURCE ${SAN[@]+"${SAN[@]}"} \
        -I"$SRC/core/include" -I"$SRC/sdk/include" "$T/reader.c" \
        -L"$BUILD/lib" -lmapfile -Wl,-rpath,"$BUILD/lib" -o "$T/reader" 2>"$ERR"; then
        chmod 755 "$T/reader"
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
        other "$T/reader" consumer "$F"
        if [ "$RC" -eq 0 ]; then pass; else fail "library checks as the other user"; fi
        expect_unchanged "$F" "$SUM" "the library-level refusals"

        # Links planted by the other user where root's producer writes: in
        # a directory the other user owns (not sticky, so the kernel's
        # protected_symlinks does not step in: only O_NOFOLLOW and link(2)
        # protect root here).
        mkdir "$T/drop"
        chown $OTHER_UID:$OTHER_GID "$T/drop"
        VSUM=$(sha "$F")
        other ln -s "$F" "$T/drop/evil.map"
        run "$MF" put "$T/drop/evil.map" pwned --text "written through a link"
        expect_refused "root put through a planted link" "symbolic link"
        expect_unchanged "$F" "$VSUM" "put through a planted link"
        run "$T/reader" producer-update "$T/drop/evil.map"
        if [ "$RC" -eq 0 ]; then pass; else fail "UPDATE through a planted link"; fi
        other ln -s "$T/created-through-link.map" "$T/drop/dangling.map"
        run "$T/reader" producer-create "$T/drop/dangling.map"
        if [ "$RC" -eq 0 ]; then pass; else fail "CREATE on a planted dangling link"; fi
        run "$MF" put "$T/drop/dangling.map" x --text y
        expect_refused "root put on a planted dangling link" "symbolic link"
        if [ -e "$T/created-through-link.map" ]; then
            RC=0
            fail "a producer created the target of a planted link"
        else
            pass
        fi
        if [ -L "$T/drop/evil.map" ] && [ -L "$T/drop/dangling.map" ]; then pass; else
            RC=0
            fail "the planted links were replaced by UPDATE/CREATE"
        fi
    else
        cat "$ERR"
        RC=1
        fail "cannot compile the library-level reader"
    fi
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
