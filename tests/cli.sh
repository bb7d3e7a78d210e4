#!/usr/bin/env bash
# cli.sh - end-to-end tests of the `mapf` command-line tool.
# Usage: bash tests/cli.sh BUILD_DIR SOURCE_DIR
# Checks exit codes and exact or structured output of every subcommand,
# including each error case. Prints "N passed, M failed"; exit 1 on failure.
set -u

BUILD=${1:?usage: cli.sh BUILD_DIR SOURCE_DIR}
: "${2:?usage: cli.sh BUILD_DIR SOURCE_DIR}"
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$2" && pwd)
if ! command -v python3 >/dev/null; then
    echo "cli.sh: python3 is needed to check JSON and patch files" >&2
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfile-cli.XXXXXX")

# Test what users run: the installed tool, libraries and plugins.
PREFIX=$T/prefix
if ! cmake --install "$BUILD" --prefix "$PREFIX" >"$T/install.log" 2>&1; then
    echo "cli.sh: cmake --install $BUILD failed:" >&2
    cat "$T/install.log" >&2
    rm -rf "$T"
    exit 1
fi
MF=$PREFIX/bin/mapf
DEMO=$PREFIX/bin/mapfile-demo
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libmapfile.so*' | head -n 1)")
PLUGDIR=$LIBDIR/mapfile/plugins
export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export MAPFILE_PLUGIN_PATH=$PLUGDIR
if [ ! -x "$MF" ] || [ ! -d "$PLUGDIR" ]; then
    echo "cli.sh: the install has no $MF or $PLUGDIR" >&2
    rm -rf "$T"
    exit 1
fi
BG_PIDS=()
TMUX_SOCK=$T/tmux.sock
cleanup() {
    [ -S "$TMUX_SOCK" ] && tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT

PASS=0
FAIL=0
OUT=$T/out
ERR=$T/err
RC=0

# run CMD...: run with stdout/stderr captured in $OUT/$ERR, status in $RC.
run() {
    "$@" >"$OUT" 2>"$ERR" </dev/null
    RC=$?
}

pass() { PASS=$((PASS + 1)); }
fail() {
    FAIL=$((FAIL + 1))
    echo "FAIL: $1"
    echo "  exit status: $RC"
    sed 's/^/  stdout: /' "$OUT" | head -20
    sed 's/^/  stderr: /' "$ERR" | head -20
}

# expect_rc DESC WANT: the last run exited with WANT.
expect_rc() {
    if [ "$RC" -eq "$2" ]; then pass; else fail "$1: want exit $2"; fi
}
# expect_out DESC TEXT: stdout is exactly TEXT (plus the final newline).
expect_out() {
    if [ "$(cat "$OUT")" == "$2" ]; then pass; else
        fail "$1: stdout differs from:"
        printf '%s\n' "$2" | sed 's/^/  want:   /'
    fi
}
# expect_out_has / expect_err_has DESC TEXT: a fixed substring.
expect_out_has() {
    if grep -qF -- "$2" "$OUT"; then pass; else fail "$1: stdout lacks '$2'"; fi
}
expect_err_has() {
    if grep -qF -- "$2" "$ERR"; then pass; else fail "$1: stderr lacks '$2'"; fi
}
expect_err_empty() {
    if [ ! -s "$ERR" ]; then pass; else fail "$1: stderr not empty"; fi
}
expect_out_empty() {
    if [ ! -s "$OUT" ]; then pass; else fail "$1: stdout not empty"; fi
}
# check DESC CMD...: a shell condition.
check() {
    local desc=$1
    shift
    if "$@"; then pass; else fail "$desc"; fi
}
# pycheck DESC SCRIPT [ARGS...]: python3 script reading $OUT, exit 0 = ok.
pycheck() {
    local desc=$1 script=$2
    shift 2
    if python3 -c "$script" "$OUT" "$@" 2>"$T/py.err"; then pass; else
        fail "$desc"
        sed 's/^/  python: /' "$T/py.err" | tail -5
    fi
}

# ---------------------------------------------------------------------------
# The name: `mapfile` is a bash builtin (readarray), so the CLI is `mapf`
# and nothing named `mapfile` is installed on PATH.
# ---------------------------------------------------------------------------
check "the install has no bin/mapfile" test ! -e "$PREFIX/bin/mapfile"
# An interactive bash (what a user types into) runs a file for `mapf`. HOME
# points at an empty directory so no ~/.bashrc of this machine takes part.
mkdir -p "$T/home"
HOME=$T/home PATH=$PREFIX/bin:$PATH run bash -ic 'type mapf; type -t mapf'
expect_rc "bash -ic 'type mapf'" 0
expect_out "bash -ic 'type mapf' names the installed file" \
"mapf is $PREFIX/bin/mapf
file"
# And the reason for the name still holds: `mapfile` is not a file there.
HOME=$T/home PATH=$PREFIX/bin:$PATH run bash -ic 'type -t mapfile'
expect_out "mapfile is still a bash builtin, not our file" "builtin"

# ---------------------------------------------------------------------------
# Help and usage
# ---------------------------------------------------------------------------
CMDS="info ls get dump put rm check copy watch serve plugins call mirror"

run "$MF" --help
expect_rc "--help" 0
expect_out_has "--help" "usage: mapf COMMAND"
for c in $CMDS; do expect_out_has "--help lists $c" "  $c "; done
cp "$OUT" "$T/help1"
run "$MF" help
expect_rc "help" 0
check "help equals --help" cmp -s "$OUT" "$T/help1"

run "$MF"
expect_rc "no command" 2
expect_err_has "no command prints usage" "usage: mapf COMMAND"

run "$MF" frobnicate
expect_rc "unknown command" 2
expect_err_has "unknown command" "mapf: unknown command 'frobnicate'"

for c in $CMDS; do
    run "$MF" "$c" --help
    expect_rc "$c --help" 0
    check "$c --help starts with its usage" \
        test "$(head -1 "$OUT" | cut -d' ' -f1-3)" == "usage: mapf $c"
    cp "$OUT" "$T/h.$c"
    run "$MF" help "$c"
    check "help $c equals $c --help" cmp -s "$OUT" "$T/h.$c"
done
run "$MF" help nosuch
expect_rc "help of unknown command" 2

# --help wins over other arguments, even bad ones.
run "$MF" ls --bogus --help
expect_rc "ls --bogus --help" 0

# ---------------------------------------------------------------------------
# Bad arguments: exit 2
# ---------------------------------------------------------------------------
F=$T/a.map
run "$MF" ls
expect_rc "ls without FILE" 2
expect_err_has "ls without FILE" "mapf: ls: missing argument"
expect_err_has "usage shown" "usage: mapf ls [-l] [--json] FILE [PREFIX]"
run "$MF" ls --bogus "$F"
expect_rc "ls --bogus" 2
expect_err_has "ls --bogus" "unknown option '--bogus'"
run "$MF" info "$F" extra
expect_rc "info with two files" 2
run "$MF" get "$F"
expect_rc "get without NAME" 2
run "$MF" get --json "$F" a b
expect_rc "get with extra arg" 2
run "$MF" put "$F" x
expect_rc "put without --text/--blob" 2
expect_err_has "put without content" "exactly one of --text STRING or --blob FILE"
run "$MF" put "$F" x --text a --blob /dev/null
expect_rc "put with --text and --blob" 2
run "$MF" put "$F" x --text a --text b
expect_rc "put with --text twice" 2
run "$MF" put "$F" x --text
expect_rc "put --text without value" 2
expect_err_has "put --text without value" "option '--text' needs a value"
run "$MF" put "$F" x --blob "$T/no-such-input"
expect_rc "put --blob missing input" 2
expect_err_has "put --blob missing input" "$T/no-such-input: cannot open"
run "$MF" put "$F" x --blob "$T"
expect_rc "put --blob a directory" 2
check "failed puts created no file" test ! -e "$F"
run "$MF" rm "$F"
expect_rc "rm without names" 2
run "$MF" watch "$F" --count 0
expect_rc "watch --count 0" 2
run "$MF" watch "$F" --count 3x
expect_rc "watch --count 3x" 2
run "$MF" watch "$F" --count
expect_rc "watch --count without value" 2
run "$MF" plugins extra
expect_rc "plugins with an argument" 2
run "$MF" plugins --count 3
expect_rc "plugins with a foreign option" 2
run "$MF" call "$F" x
expect_rc "call without METHOD" 2
run "$MF" ls "$F" "$(printf 'p%.0s' $(seq 300))"
expect_rc "ls with a prefix longer than a name" 2

NOFILE_EARLY=$T/not-there.map

# ---------------------------------------------------------------------------
# put / get / ls / info on text records
# ---------------------------------------------------------------------------
run "$MF" put "$F" greeting --text "hello world"
expect_rc "put --text creates the file" 0
expect_out_empty "put is quiet"
expect_err_empty "put is quiet"
check "put created the file" test -f "$F"
run "$MF" put "$F" det/tpc/occupancy --text "tpc"
expect_rc "put a path-like name" 0
run "$MF" put "$F" det/tof/rate --text "tof"
expect_rc "put a second folder entry" 0
run "$MF" put "$F" detector --text "not in det/"
expect_rc "put a name sharing the prefix without /" 0
run "$MF" put "$F" dash --text "-starts-with-dash"
expect_rc "put --text value starting with a dash" 0
run "$MF" put "$F" "" --text x
expect_rc "put with an empty name" 2
run "$MF" put "$F" "$(printf 'n%.0s' $(seq 300))" --text x
expect_rc "put with a too long name" 2
run "$MF" put "$F" "$(printf 'bad\tname')" --text x
expect_rc "put with a control character in the name" 2

run "$MF" get "$F" greeting
expect_rc "get text" 0
expect_out "get text prints the string" "hello world"
run "$MF" get "$F" dash
expect_out "get text starting with a dash" "-starts-with-dash"
run "$MF" get --json "$F" greeting
expect_rc "get --json text" 0
pycheck "get --json text is JSON holding the string" '
import json, sys
v = json.load(open(sys.argv[1]))
def has(v):
    if v == "hello world": return True
    if isinstance(v, dict): return any(has(x) for x in v.values())
    return False
assert has(v), v'
run "$MF" put "$F" greeting --text "hello again"
expect_rc "put replaces a record" 0
run "$MF" get "$F" greeting
expect_out "get sees the replacement" "hello again"

run "$MF" ls "$F"
expect_rc "ls" 0
expect_out "ls lists name, class, size in insertion order" \
"NAME               CLASS  SIZE
greeting           text     12
det/tpc/occupancy  text      4
det/tof/rate       text      4
detector           text     12
dash               text     18"

run "$MF" ls "$F" det/
expect_rc "ls PREFIX" 0
expect_out "ls det/ lists one folder" \
"NAME               CLASS  SIZE
det/tpc/occupancy  text      4
det/tof/rate       text      4"
run "$MF" ls "$F" nothing/
expect_rc "ls of an empty folder" 1
expect_err_has "ls of an empty folder" "mapf: $F: no records under 'nothing/'"

run "$MF" ls --json "$F"
expect_rc "ls --json" 0
pycheck "ls --json is an array of name/class/size in order" '
import json, sys
v = json.load(open(sys.argv[1]))
want = [("greeting", 12), ("det/tpc/occupancy", 4), ("det/tof/rate", 4),
        ("detector", 12), ("dash", 18)]
assert [(o["name"], o["size"]) for o in v] == want, v
assert all(o["class"] == "text" for o in v)
assert all(set(o) == {"name", "class", "size"} for o in v), v'

run "$MF" ls -l "$F" det/
expect_rc "ls -l" 0
pycheck "ls -l adds version, updates, age and generation" '
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].split() == ["NAME", "CLASS", "SIZE", "VERSION", "UPDATES",
                            "AGE", "GENERATION"], lines[0]
assert len(lines) == 3, lines
for l in lines[1:]:
    f = l.split()
    assert f[1] == "text" and f[2] == "4" and f[3] == "1" and f[4] == "1", f
    assert re.fullmatch(r"[0-9]+\.[0-9]s|[0-9]+[smhd]", f[5]), f[5]
    assert f[6].isdigit(), f'

run "$MF" ls -l --json "$F" greeting
pycheck "ls -l --json has every field" '
import json, re, sys
v = json.load(open(sys.argv[1]))
assert len(v) == 1
o = v[0]
assert o["name"] == "greeting" and o["version"] == 1 and o["updates"] == 2, o
assert isinstance(o["age"], (int, float)) and 0 <= o["age"] < 600, o
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", o["updated"]), o
assert isinstance(o["generation"], int)'

run "$MF" info "$F"
expect_rc "info" 0
pycheck "info shows the file description" '
import sys
t = open(sys.argv[1]).read()
kv = dict(l.split(":", 1) for l in t.splitlines())
kv = {k: v.strip() for k, v in kv.items()}
assert kv["Map file"] == sys.argv[2], kv
assert kv["Format version"] == "2"
assert kv["Records"] == "5", kv["Records"]
assert kv["Writer"] == "free"
assert kv["Recoveries"] == "0"
assert kv["Capacity"].split()[0].isdigit() and "of max size" in kv["Capacity"]
assert "of max size" in kv["Used"] and int(kv["Used"].split()[0]) > 0
assert kv["Max size"].startswith("1073741824 bytes (1.0 GiB)"), kv["Max size"]
assert int(kv["Generation"]) > 0 and kv["Batch"].isdigit()
assert kv["Best buffer"].split()[0].isdigit()
for k in ("Title", "Heap"): assert k in kv' "$F"
cp "$OUT" "$T/info.txt"
run "$MF" info --json "$F"
expect_rc "info --json" 0
pycheck "info --json holds what info prints, as numbers" '
import json, sys
v = json.load(open(sys.argv[1]))
kv = dict(l.split(":", 1) for l in open(sys.argv[2]).read().splitlines())
kv = {k: x.strip() for k, x in kv.items()}
want = {"path", "title", "format_version", "capacity", "max_size", "heap_size",
        "heap_used", "heap_free", "records", "generation", "batch", "writer",
        "recoveries", "retired", "best_buffer"}
assert set(v) == want, set(v) ^ want
assert v["path"] == sys.argv[3] and v["title"] == kv["Title"], v
assert v["format_version"] == int(kv["Format version"]) and v["records"] == 5, v
assert v["writer"] == "free" and v["recoveries"] == 0 and v["retired"] is False, v
first = lambda k: int(kv[k].split()[0])
for j, t in (("capacity", "Capacity"), ("heap_used", "Used"), ("heap_size", "Heap"),
             ("max_size", "Max size"), ("best_buffer", "Best buffer"),
             ("generation", "Generation"), ("batch", "Batch")):
    assert v[j] == first(t), (j, v[j], kv[t])
assert v["heap_free"] == int(kv["Heap"].split(",")[1].split()[0]), kv["Heap"]' "$T/info.txt" "$F"
run "$MF" info --json "$NOFILE_EARLY"
expect_rc "info --json of a missing file" 2
expect_out_empty "info --json of a missing file prints no JSON"

# ---------------------------------------------------------------------------
# dump and blobs
# ---------------------------------------------------------------------------
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) + b"tail-bytes\n")' >"$T/blob.bin"
run "$MF" put "$F" raw --blob "$T/blob.bin"
expect_rc "put --blob" 0
run "$MF" dump "$F" raw
expect_rc "dump" 0
pycheck "dump shows the header and a hex dump equal to the blob" '
import re, sys
lines = open(sys.argv[1]).read().split("\n")
blob = open(sys.argv[2], "rb").read()
hdr = {}
i = 0
while lines[i]:
    k, v = lines[i].split(":", 1); hdr[k] = v.strip(); i += 1
assert hdr["name"] == "raw" and hdr["class"] == "blob", hdr
assert hdr["version"] == "1", hdr
assert re.fullmatch(r"0x[0-9a-f]{16}", hdr["checksum"]), hdr
assert hdr["updates"] == "1" and hdr["generation"].isdigit(), hdr
assert hdr["batch"].isdigit(), hdr
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", hdr["updated"]), hdr
data = b""
rows = [l for l in lines[i + 1:] if l]
for n, l in enumerate(rows):
    m = re.fullmatch(r"([0-9a-f]{8})  ((?:[0-9a-f]{2} ){0,8}) ?((?:[0-9a-f]{2} ?){0,8}) +\|(.*)\|", l)
    assert m, l
    assert int(m.group(1), 16) == 16 * n, l
    b = bytes.fromhex(m.group(2) + m.group(3))
    assert m.group(4) == "".join(chr(c) if 32 <= c < 127 else "." for c in b), l
    data += b
assert hdr["size"] == str(len(data)), (hdr, len(data))
# The blob codec stores the bytes, possibly after a varint length.
def varint(n):
    out = b""
    while True:
        c = n & 0x7f; n >>= 7
        out += bytes([c | (0x80 if n else 0)])
        if not n: return out
assert data in (blob, varint(len(blob)) + blob), (len(data), len(blob))
hexes = " ".join("%02x" % c for c in data[:16])
want = "00000000  " + hexes[:23] + "  " + hexes[24:]
assert rows[0].startswith(want + "  |"), (rows[0], want)' "$T/blob.bin"
run "$MF" get --json "$F" raw
expect_rc "get --json of a blob" 0
pycheck "get --json of a blob gives back its bytes" '
import base64, json, sys
v = json.load(open(sys.argv[1]))
assert v["class"] == "blob" and v["size"] == 267, v
assert base64.b64decode(v["base64"]) == open(sys.argv[2], "rb").read()' "$T/blob.bin"
run "$MF" call "$F" raw size
expect_rc "call blob size" 0
expect_out "call blob size" "267"

printf 'from stdin' | "$MF" put "$F" piped --blob - >"$OUT" 2>"$ERR"
RC=$?
expect_rc "put --blob - reads stdin" 0
run "$MF" dump "$F" piped
expect_out_has "dump of the stdin blob" "66 72 6f 6d 20 73 74"
run "$MF" get --json "$F" piped
pycheck "the stdin blob holds stdin" '
import base64, json, sys
assert base64.b64decode(json.load(open(sys.argv[1]))["base64"]) == b"from stdin"' 
: >"$T/empty.bin"
run "$MF" put "$F" empty --blob "$T/empty.bin"
expect_rc "put an empty blob" 0
run "$MF" get --json "$F" empty
expect_rc "get an empty blob" 0
pycheck "an empty blob is empty" '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["size"] == 0 and v["base64"] == "", v' 

run "$MF" dump "$F" nosuch
expect_rc "dump of a missing name" 1
expect_err_has "dump of a missing name" "mapf: $F: nosuch: no record with that name"

# ---------------------------------------------------------------------------
# Missing things: exit 1
# ---------------------------------------------------------------------------
run "$MF" get "$F" nosuch
expect_rc "get of a missing name" 1
expect_err_has "get of a missing name" "mapf: $F: nosuch: no record with that name"
expect_out_empty "get of a missing name"
run "$MF" get "$F" ""
expect_rc "get of an invalid name" 2
run "$MF" call "$F" nosuch mean
expect_rc "call on a missing name" 1

run "$MF" rm "$F" det/tof/rate nosuch detector alsonot
expect_rc "rm with missing names" 1
expect_err_has "rm reports each missing name" "mapf: $F: nosuch: no record with that name"
expect_err_has "rm reports each missing name" "mapf: $F: alsonot: no record with that name"
run "$MF" ls --json "$F"
pycheck "rm removed the names that existed" '
import json, sys
names = [o["name"] for o in json.load(open(sys.argv[1]))]
assert names == ["greeting", "det/tpc/occupancy", "dash", "raw", "piped", "empty"], names'
run "$MF" rm "$F" dash
expect_rc "rm" 0
expect_err_empty "rm is quiet"
run "$MF" get "$F" dash
expect_rc "get after rm" 1

# ---------------------------------------------------------------------------
# Files that cannot be opened: exit 2
# ---------------------------------------------------------------------------
NOFILE=$T/no-such.map
for c in info ls check; do
    run "$MF" "$c" "$NOFILE"
    expect_rc "$c of a missing file" 2
    expect_err_has "$c of a missing file" "mapf: $NOFILE: map file does not exist"
done
for c in get dump; do
    run "$MF" "$c" "$NOFILE" x
    expect_rc "$c of a missing file" 2
    expect_err_has "$c of a missing file" "mapf: $NOFILE: map file does not exist"
done
run "$MF" call "$NOFILE" x mean
expect_rc "call of a missing file" 2
run "$MF" rm "$NOFILE" x
expect_rc "rm of a missing file" 2
check "rm did not create the file" test ! -e "$NOFILE"

printf 'This is a plain text file, not a map file at all.\n%.0s' $(seq 2000) >"$T/text.txt"
cp "$T/text.txt" "$T/text.orig"
for c in info ls check; do
    run "$MF" "$c" "$T/text.txt"
    expect_rc "$c of a text file" 2
    expect_err_has "$c of a text file" "mapf: $T/text.txt: not a map file"
done
run "$MF" get "$T/text.txt" x
expect_rc "get of a text file" 2
run "$MF" put "$T/text.txt" x --text y
expect_rc "put into a text file" 2
expect_err_has "put into a text file" "not a map file"
run "$MF" rm "$T/text.txt" x
expect_rc "rm in a text file" 2
check "put/rm left the text file alone" cmp -s "$T/text.txt" "$T/text.orig"

: >"$T/zero.map"
run "$MF" info "$T/zero.map"
expect_rc "info of an empty file" 2
head -c 5000 "$F" >"$T/trunc.map"
run "$MF" ls "$T/trunc.map"
expect_rc "ls of a truncated map file" 2
run "$MF" info "$T"
expect_rc "info of a directory" 2

# A wrong format version is its own error.
cp "$F" "$T/ver.map"
python3 - "$T/ver.map" <<'EOF'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
struct.pack_into("<I", b, 8, 99)   # format_version follows the 8-byte magic
open(p, "wb").write(b)
EOF
run "$MF" info "$T/ver.map"
expect_rc "info of a file with a future version" 2
expect_err_has "future version" "unsupported map file format version"

# ---------------------------------------------------------------------------
# check: a clean file, then a corrupted payload
# ---------------------------------------------------------------------------
run "$MF" check "$F"
expect_rc "check of a clean file" 0
expect_out "check of a clean file" "$F: ok, 5 records"

C=$T/corrupt.map
run "$MF" put "$C" victim --text "PAYLOAD-TO-CORRUPT-0123456789"
run "$MF" put "$C" bystander --text "fine"
run "$MF" check "$C"
expect_rc "check before corruption" 0
python3 - "$C" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
needle = b"PAYLOAD-TO-CORRUPT-0123456789"
i = b.find(needle)
assert i >= 0 and b.find(needle, i + 1) < 0, "payload not found exactly once"
b[i + 8] ^= 0x20
open(p, "wb").write(b)
EOF
run "$MF" check "$C"
expect_rc "check of a corrupted payload" 1
pycheck "check prints problems then a summary" '
import sys
lines = open(sys.argv[1]).read().splitlines()
probs = [l for l in lines[:-1]]
assert probs and all(l.startswith("problem: ") for l in probs), lines
assert any("victim" in l for l in probs), probs
n = len(probs)
assert lines[-1] == "%s: %d problem%s" % (sys.argv[2], n, "" if n == 1 else "s"), lines[-1]' "$C"
run "$MF" get "$C" victim
expect_rc "get of a corrupted record" 1
expect_err_has "get of a corrupted record" "checksum"
run "$MF" get "$C" bystander
expect_rc "get of an intact record beside it" 0
expect_out "intact record" "fine"
# dump shows a damaged payload anyway: the bytes, a warning, exit 1.
run "$MF" dump "$C" victim
expect_rc "dump of a corrupted record" 1
expect_err_has "dump warns about the checksum" "mapf: warning: $C: victim: "
expect_err_has "dump names the mismatch" "checksum mismatch"
pycheck "dump of a corrupted record shows its header and damaged bytes" '
import re, sys
t = open(sys.argv[1]).read()
assert re.search(r"^name: +victim$", t, re.M) and re.search(r"^class: +text$", t, re.M), t
# A hex row: 8-digit offset, a space, then 49 columns of " xx" bytes.
data = b"".join(bytes.fromhex(l[9:58]) for l in t.splitlines()
                if re.match(r"[0-9a-f]{8} ", l))
assert b"PAYLOAD-tO-CORRUPT-0123456789" in data, data' 
run "$MF" dump "$C" bystander
expect_rc "dump of an intact record beside it" 0
expect_err_empty "dump of an intact record warns nothing"

# ---------------------------------------------------------------------------
# check of a file whose writer died mid-change: exit 3 naming the writer;
# --repair repairs it and nothing else
# ---------------------------------------------------------------------------
P=$T/pending.map
cp "$SRC/tests/fixtures/corrupt/dead_writer_mid_change.map" "$P"
run "$MF" check "$P"
expect_rc "check of a dead writer's unfinished change" 3
expect_out_has "check names the dead writer" "died in the middle of a change"
run "$MF" check --repair "$P"
expect_rc "check --repair" 0
run "$MF" check "$P"
expect_rc "check after --repair" 0
expect_out_has "check after --repair is clean" "$P: ok,"
run "$MF" check --repair "$T/no-such.map"
expect_rc "check --repair of a missing file" 2
check "check --repair created no file" test ! -e "$T/no-such.map"

# ---------------------------------------------------------------------------
# copy: a consistent copy; an existing destination is kept unless --replace
# ---------------------------------------------------------------------------
CP=$T/copy.map
run "$MF" copy "$F" "$CP"
expect_rc "copy" 0
expect_out "copy reports the records" "$CP: 5 records copied from $F"
"$MF" ls --json "$F" >"$T/ls.src"
"$MF" ls --json "$CP" >"$T/ls.copy"
check "the copy lists what the original lists" cmp -s "$T/ls.src" "$T/ls.copy"
run "$MF" check "$CP"
expect_rc "the copy checks clean" 0
"$MF" put "$F" extra --text "after the copy"
cp "$CP" "$T/copy.before"
run "$MF" copy "$F" "$CP"
expect_rc "copy onto an existing file" 2
expect_err_has "copy names --replace" "--replace"
check "copy kept the existing file" cmp -s "$CP" "$T/copy.before"
run "$MF" copy --replace "$F" "$CP"
expect_rc "copy --replace" 0
expect_out "copy --replace has the new record" "$CP: 6 records copied from $F"
run "$MF" copy "$F" "$T/no-such-dir/copy.map"
expect_rc "copy into a missing directory" 2
"$MF" rm "$F" extra

# ---------------------------------------------------------------------------
# A class nobody provides: exit 1 naming the class and the search path
# ---------------------------------------------------------------------------
U=$T/unknown.map
printf 'opaque payload' >"$T/opaque.bin"
run "$MF" put "$U" mystery --blob "$T/opaque.bin"
python3 - "$U" <<'EOF'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
old, new = b"mystery\0blob\0", b"mystery\0zyxw\0"
assert b.count(old) == 1, b.count(old)
open(p, "wb").write(b.replace(old, new))
EOF
run "$MF" get "$U" mystery
expect_rc "get without a codec" 1
expect_err_has "missing codec names the class" "zyxw"
expect_err_has "missing codec names the search path" "$PLUGDIR"
run "$MF" call "$U" mystery anything
expect_rc "call without a codec" 1
run "$MF" dump "$U" mystery
expect_rc "dump needs no codec" 0
expect_out_has "dump shows the unknown class" "class:      zyxw"
expect_out_has "dump shows the payload" "opaque payload|"
run "$MF" ls --json "$U"
pycheck "ls shows the unknown class" '
import json, sys
v = json.load(open(sys.argv[1]))
assert [(o["name"], o["class"]) for o in v] == [("mystery", "zyxw")], v' 

# ---------------------------------------------------------------------------
# Hostile files: every byte may be wrong. Mutants of a real file (fixed
# seed) must give exit 0, 1 or 2 from every reading command: never a crash,
# a hang or a sanitizer report.
# ---------------------------------------------------------------------------
H=$T/hostile
mkdir -p "$H"
B=$H/base.map
"$MF" put "$B" t1 --text "text number 1"
"$MF" put "$B" t2 --text "text number 2"
"$MF" put "$B" det/blob --blob "$T/opaque.bin"
"$MF" put "$B" t3 --text "text number 3"
"$MF" rm "$B" t2
python3 - "$B" "$H" "${MF_CLI_MUTANTS:-200}" <<'EOF2'
import random, sys
random.seed(1234)
b = open(sys.argv[1], "rb").read()
used = max(i for i in range(len(b)) if b[i]) + 64
for k in range(int(sys.argv[3])):
    m = bytearray(b)
    for _ in range(random.choice([1, 1, 2, 4, 16])):
        if random.random() < 0.5:
            i = random.randrange(0, 4096)
        else:
            i = random.randrange(4096, min(used, len(b)))
        m[i] = random.choice([0, 0xff, random.randrange(256),
                              m[i] ^ (1 << random.randrange(8))])
    open("%s/%03d.map" % (sys.argv[2], k), "wb").write(m)
EOF2
HBAD=0
for f in "$H"/[0-9]*.map; do
    for c in "ls -l --json" "check" "get" "dump"; do
        case $c in
            get) set -- get "$f" t1 ;;
            dump) set -- dump "$f" det/blob ;;
            *) set -- $c "$f" ;;
        esac
        timeout 20 "$MF" "$@" >"$OUT" 2>"$ERR" </dev/null
        RC=$?
        if [ "$RC" -gt 2 ] || grep -q "Sanitizer\|runtime error" "$ERR"; then
            HBAD=$((HBAD + 1))
            if [ "$HBAD" -le 3 ]; then
                echo "  hostile file: mapf $* (exit $RC)"
                grep -m 3 -E "ERROR|SUMMARY|runtime error" "$ERR" | sed 's/^/    /'
            fi
        fi
    done
done
if [ "$HBAD" -eq 0 ]; then pass; else
    echo "FAIL: $HBAD run(s) on mutated files crashed or hung"
    FAIL=$((FAIL + 1))
fi

# ---------------------------------------------------------------------------
# plugins
# ---------------------------------------------------------------------------
run "$MF" plugins
expect_rc "plugins" 0
expect_out_has "plugins shows the search path" "Search path:"
expect_out_has "MAPFILE_PLUGIN_PATH comes first" "  1. $PLUGDIR"
run "$MF" plugins --json
expect_rc "plugins --json" 0
pycheck "plugins --json lists the search path and the in-process classes" '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["search_path"][0] == sys.argv[2], v["search_path"]
classes = {c["name"] for p in v["plugins"] if p["loaded"] for c in p["classes"]}
assert {"text", "blob"} <= classes, classes' "$PLUGDIR"

# Shadowing and failures: a copy of a real plugin later on the path, and a
# file that is not a shared object.
mkdir -p "$T/plug2" "$T/empty-plugins"
SOMEPLUGIN=$(ls "$PLUGDIR"/*.so 2>/dev/null | head -1)
echo "not an ELF file" >"$T/plug2/zz-broken.so"
if [ -n "$SOMEPLUGIN" ]; then
    cp "$SOMEPLUGIN" "$T/plug2/$(basename "$SOMEPLUGIN")"
fi
MAPFILE_PLUGIN_PATH="$PLUGDIR:$T/plug2" run "$MF" plugins --json
expect_rc "plugins with a broken plugin" 0
pycheck "plugins --json reports failures and shadowed duplicates" '
import json, os, sys
v = json.load(open(sys.argv[1]))
plugdir, plug2, some = sys.argv[2], sys.argv[3], sys.argv[4]
assert v["search_path"][:2] == [plugdir, plug2], v["search_path"]
by = {p["path"]: p for p in v["plugins"]}
broken = by[os.path.join(plug2, "zz-broken.so")]
assert not broken["loaded"] and broken["error"] and broken["error_msg"], broken
if some:
    copy = by[os.path.join(plug2, os.path.basename(some))]
    assert copy["classes"], copy
    for c in copy["classes"]:
        assert c["shadowed"] and c["shadowed_by"] == some, c
    orig = by[some]
    assert orig["loaded"] and not any(c["shadowed"] for c in orig["classes"])
' "$PLUGDIR" "$T/plug2" "$SOMEPLUGIN"
MAPFILE_PLUGIN_PATH="$PLUGDIR:$T/plug2" run "$MF" plugins
expect_out_has "plugins text shows the failure" "$T/plug2/zz-broken.so  FAILED: "
if [ -n "$SOMEPLUGIN" ]; then
    expect_out_has "plugins text shows shadowing" "SHADOWED by $SOMEPLUGIN"
fi

# Directories that cannot be searched are flagged, as a "no codec" error
# flags them; the good ones are not.
MAPFILE_PLUGIN_PATH="$PLUGDIR:$T/no-such-dir:$T/blob.bin:rel/plugins" run "$MF" plugins
expect_rc "plugins with bad search directories" 0
check "a good directory is not flagged" grep -qxF "  1. $PLUGDIR (MAPFILE_PLUGIN_PATH)" "$OUT"
expect_out_has "a missing directory is flagged" "  2. $T/no-such-dir [missing]"
expect_out_has "a file is flagged" "  3. $T/blob.bin [not a directory]"
expect_out_has "a relative directory is flagged" \
    "  4. rel/plugins [missing] [relative: depends on the working directory]"
MAPFILE_PLUGIN_PATH="$PLUGDIR:$T/no-such-dir:$T/blob.bin:rel/plugins" run "$MF" plugins --json
pycheck "plugins --json says what is wrong with each directory" '
import json, sys
v = json.load(open(sys.argv[1]))
d = v["search_dirs"]
assert [x["path"] for x in d] == v["search_path"], (d, v["search_path"])
st = [(x["status"], x["relative"]) for x in d[:4]]
assert st == [("ok", False), ("missing", False), ("not a directory", False),
              ("missing", True)], st
assert d[0]["error"] is None and d[1]["error"] and d[2]["error"], d'

# ---------------------------------------------------------------------------
# call on the built-in text class
# ---------------------------------------------------------------------------
run "$MF" call "$F" greeting length
expect_rc "call text length" 0
expect_out "call text length" "11"
run "$MF" call "$F" greeting length 5
expect_rc "call with too many arguments" 2
expect_err_has "wrong count shows the signature" "length u(o) takes 0 arguments, got 1"
run "$MF" call "$F" greeting shout
expect_rc "call of an unknown method" 2
expect_err_has "unknown method names the class" "class 'text' has no method 'shout'"
expect_err_has "unknown method lists the methods" "  length u(o)"

# ---------------------------------------------------------------------------
# watch
# ---------------------------------------------------------------------------
# Three tables from `watch --count 3` (stdout not a tty): each after a header
# line with a strictly newer generation, with update counts that grow.
WATCH3='
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"^--- ", text, flags=re.M)[1:]
assert len(blocks) == 3, len(blocks)
gens, totals = [], []
for b in blocks:
    lines = b.splitlines()
    m = re.search(r"generation (\d+)", lines[0]); assert m, lines[0]
    gens.append(int(m.group(1)))
    assert lines[1].split() == ["NAME", "CLASS", "SIZE", "UPDATES", "UPD/S", "AGE"], lines[1]
    rows = [l.split() for l in lines[2:]]
    assert rows, b
    totals.append(sum(int(r[3]) for r in rows))
assert gens[0] < gens[1] < gens[2], gens
assert totals[0] < totals[2], totals
# Rates need a previous table: the first has none, later ones are numbers.
first_rates = [l.split()[4] for l in blocks[0].splitlines()[2:]]
assert all(r == "-" for r in first_rates), first_rates
last_rates = [float(l.split()[4]) for l in blocks[2].splitlines()[2:]]
assert any(r > 0 for r in last_rates), last_rates'

# A producer made of `mapf put` calls in a loop.
L=$T/loop.map
"$MF" put "$L" counter --text 0
( i=1; while :; do "$MF" put "$L" counter --text "$i" || exit; i=$((i + 1)); done ) &
LOOP=$!
BG_PIDS+=("$LOOP")
run timeout 60 "$MF" watch "$L" --count 3
expect_rc "watch --count 3 under a put loop" 0
pycheck "watch printed three tables with changing counts" "$WATCH3"

# On a terminal every redraw clears the screen and homes the cursor.
if command -v script >/dev/null; then
    script -qec "timeout 60 $MF watch $L --count 2" /dev/null >"$OUT" 2>"$ERR" </dev/null
    RC=$?
    expect_rc "watch on a tty" 0
    pycheck "watch on a tty redraws in place" '
import sys
t = open(sys.argv[1], "rb").read()
assert t.count(b"\x1b[H\x1b[2J") == 2, t[:300]'
fi

# On a real 80x24 terminal (tmux) a table longer than the screen keeps
# its title and header lines on top: the frame is cut to 24 rows, lines to
# 80 columns (a long path, a long name), and the bottom row ends without a
# newline, so nothing scrolls away.
if command -v tmux >/dev/null; then
    WIDE=$T/a-directory-with-a-long-name-so-that-the-title-line-is-wider-than-80
    mkdir -p "$WIDE"
    TALL=$WIDE/tall.map
    # 25 records: more than the 21 rows an 80x24 screen has room for.
    for i in $(seq 1 24); do "$MF" put "$TALL" "rec$i" --text "$i"; done
    "$MF" put "$TALL" "$(printf 'long%.0s' $(seq 13))" --text x
    tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x 80 -y 24 \
        "$MF watch '$TALL'"
    for _ in $(seq 100); do
        tmux -S "$TMUX_SOCK" capture-pane -p >"$OUT" 2>/dev/null
        grep -q '^\.\.\. ' "$OUT" && break
        sleep 0.1
    done
    tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    : >"$ERR"
    RC=0
    pycheck "watch on an 80x24 tmux keeps its title and header on screen" '
import sys
lines = open(sys.argv[1]).read().split("\n")
if lines and lines[-1] == "": lines.pop()
assert len(lines) == 24, len(lines)
assert lines[0].startswith("--- " + sys.argv[2][:40]), lines[0]
assert lines[1].split()[:4] == ["NAME", "CLASS", "SIZE", "UPDATES"], lines[1]
assert [l.split()[0] for l in lines[2:5]] == ["rec1", "rec2", "rec3"], lines[2:5]
assert lines[23] == "... 4 more", lines[23]
assert all(len(l) <= 80 for l in lines), max(map(len, lines))' "$TALL"
else
    RC=1
    fail "tmux is not installed (tools/run installs it): cannot check watch on a terminal"
fi

# The producer keeps running: Ctrl-C (SIGINT) stops watch cleanly.
timeout 60 "$MF" watch "$L" >"$T/watch-int.out" 2>"$T/watch-int.err" &
W=$!
BG_PIDS+=("$W")
for _ in $(seq 200); do
    [ "$(grep -c '^--- ' "$T/watch-int.out")" -ge 2 ] && break
    sleep 0.1
done
kill -INT "$W"
wait "$W"
RC=$?
cp "$T/watch-int.out" "$OUT"
cp "$T/watch-int.err" "$ERR"
expect_rc "watch stops cleanly on SIGINT" 0
expect_err_empty "watch stops quietly on SIGINT"
check "watch drew tables before SIGINT" test "$(grep -c '^--- ' "$OUT")" -ge 2
kill "$LOOP" 2>/dev/null
wait "$LOOP" 2>/dev/null

# ---------------------------------------------------------------------------
# With the demo producer: hist1d records, methods, watch
# ---------------------------------------------------------------------------
if [ -x "$DEMO" ]; then
    D=$T/demo.map
    run "$DEMO" produce "$D" --fills 2000
    expect_rc "demo produce" 0
    run "$MF" ls "$D"
    expect_rc "ls of the demo file" 0
    expect_out_has "demo file has hpx" "hpx"

    run "$MF" get --json "$D" hpx
    expect_rc "get --json hpx" 0
    cp "$OUT" "$T/hpx.json"
    MEAN_JSON=$(python3 -c '
import json, sys
v = json.load(open(sys.argv[1]), parse_float=str)
print(v["mean"])' "$T/hpx.json")
    run "$MF" call "$D" hpx mean
    expect_rc "call hpx mean" 0
    expect_out "call mean equals the mean of get --json" "$MEAN_JSON"
    check "mean is a number" test -n "$MEAN_JSON"

    run "$MF" get "$D" hpx
    expect_rc "get hpx prints" 0
    check "get hpx printed something" test -s "$OUT"

    run "$MF" plugins -l
    expect_out_has "plugins -l lists methods" "mean d(o)"
    run "$MF" plugins -l --json
    pycheck "plugins -l --json lists methods" '
import json, sys
v = json.load(open(sys.argv[1]))
ms = [m for p in v["plugins"] for c in p["classes"] if c["name"] == "hist1d"
      and not c["shadowed"] for m in c["methods"]]
assert {"name": "mean", "signature": "d(o)"} in ms, ms'

    run "$MF" call "$D" hpx nosuchmethod
    expect_rc "call of an unknown method" 2
    expect_err_has "unknown method" "class 'hist1d' has no method 'nosuchmethod'"
    expect_err_has "unknown method lists the methods" "  mean d(o)"
    run "$MF" call "$D" hpx mean 1
    expect_rc "call with too many args" 2
    expect_err_has "wrong count shows the signature" "mean d(o) takes 0 arguments, got 1"

    # A method with an argument, if hist1d has one: exercise parsing.
    SIG=$("$MF" plugins -l --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for p in v["plugins"]:
    for c in p["classes"]:
        if c["name"] == "hist1d" and not c["shadowed"]:
            for m in c["methods"]:
                if m["signature"] in ("d(o,i)", "d(o,u)", "d(o,d)"):
                    print(m["name"], m["signature"]); sys.exit()')
    if [ -n "$SIG" ]; then
        set -- $SIG
        run "$MF" call "$D" hpx "$1" 1
        expect_rc "call $1 with an argument" 0
        check "call $1 printed a number" python3 -c 'import sys; float(open(sys.argv[1]).read())' "$OUT"
        for badarg in abc "" 1x " 1" 1e999 99999999999999999999; do
            if [ "$2" == "d(o,d)" ] && [ "$badarg" == "99999999999999999999" ]; then continue; fi
            run "$MF" call "$D" hpx "$1" "$badarg"
            expect_rc "call $1 with bad argument '$badarg'" 2
            expect_err_has "bad argument shows the signature" "$1 $2: argument 1"
        done
        if [ "$2" == "d(o,u)" ]; then
            run "$MF" call "$D" hpx "$1" -1
            expect_rc "call $1 with a negative unsigned" 2
        fi
        run "$MF" call "$D" hpx "$1"
        expect_rc "call $1 without its argument" 2
        expect_err_has "missing argument shows the signature" "$1 $2 takes 1 argument, got 0"
    fi

    # watch: three tables while the producer keeps updating.
    P=$T/live.map
    "$DEMO" produce "$P" >"$T/producer.out" 2>&1 &
    PROD=$!
    BG_PIDS+=("$PROD")
    # Watch once the producer has published (an empty, just-made file is a
    # table of its own; waiting for a file is tested below).
    for _ in $(seq 100); do
        "$MF" get "$P" hpx >/dev/null 2>&1 && break
        sleep 0.1
    done
    run timeout 60 "$MF" watch "$P" --count 3
    expect_rc "watch --count 3 under the demo producer" 0
    pycheck "watch of the demo printed three tables with changing counts" "$WATCH3"
    kill "$PROD" 2>/dev/null
    wait "$PROD" 2>/dev/null
fi

# watch waits for a missing file, and redraws on each change (not on time).
W2=$T/later.map
timeout 60 "$MF" watch "$W2" --count 2 >"$T/w2.out" 2>"$T/w2.err" &
W=$!
BG_PIDS+=("$W")
sleep 0.5
# The file appears whole (as a producer's RECREATE makes it): watch draws
# it at once, then once per change.
"$MF" put "$T/later.tmp" first --text one
mv "$T/later.tmp" "$W2"
for _ in $(seq 100); do
    [ "$(grep -c '^--- ' "$T/w2.out")" -ge 1 ] && break
    sleep 0.1
done
sleep 1.5 # longer than the refresh timeout: must not count as a redraw
"$MF" put "$W2" second --text two
wait "$W"
RC=$?
cp "$T/w2.out" "$OUT"
cp "$T/w2.err" "$ERR"
expect_rc "watch of a file that appears later" 0
expect_err_has "watch says it waits" "waiting for the file to appear"
pycheck "watch printed one table per change" '
import re, sys
blocks = re.split(r"^--- ", open(sys.argv[1]).read(), flags=re.M)[1:]
assert len(blocks) == 2, blocks
assert [l.split()[0] for l in blocks[1].splitlines()[2:]] == ["first", "second"], blocks[1]'

# watch PREFIX shows one folder only.
"$MF" put "$W2" det/x --text x
timeout 60 "$MF" watch "$W2" det/ --count 2 >"$T/w3.out" 2>"$T/w3.err" &
W=$!
BG_PIDS+=("$W")
for _ in $(seq 100); do
    [ "$(grep -c '^--- ' "$T/w3.out")" -ge 1 ] && break
    sleep 0.1
done
"$MF" put "$W2" det/y --text y
wait "$W"
RC=$?
cp "$T/w3.out" "$OUT"
cp "$T/w3.err" "$ERR"
expect_rc "watch PREFIX" 0
pycheck "watch PREFIX lists only the folder" '
import re, sys
blocks = re.split(r"^--- ", open(sys.argv[1]).read(), flags=re.M)[1:]
assert len(blocks) == 2, blocks
names = [[l.split()[0] for l in b.splitlines()[2:]] for b in blocks]
assert names == [["det/x"], ["det/x", "det/y"]], names'

# watch follows a producer that RECREATEs the file (the demo does).
if [ -x "$DEMO" ]; then
    timeout 60 "$MF" watch "$W2" >"$T/w4.out" 2>"$T/w4.err" &
    W=$!
    BG_PIDS+=("$W")
    for _ in $(seq 100); do
        [ "$(grep -c '^--- ' "$T/w4.out")" -ge 1 ] && break
        sleep 0.1
    done
    "$DEMO" produce "$W2" --fills 10 >/dev/null 2>&1
    for _ in $(seq 200); do
        grep -q '^hpx ' "$T/w4.out" && break
        sleep 0.1
    done
    kill -INT "$W"
    wait "$W"
    RC=$?
    cp "$T/w4.out" "$OUT"
    cp "$T/w4.err" "$ERR"
    expect_rc "watch across a RECREATE" 0
    pycheck "watch moved to the recreated file" '
import re, sys
blocks = re.split(r"^--- ", open(sys.argv[1]).read(), flags=re.M)[1:]
names = [[l.split()[0] for l in b.splitlines()[2:]] for b in blocks]
assert "first" in names[0], names[0]
assert names[-1] == ["hpx", "hpxpy", "hprof"], names[-1]'
fi

# ---------------------------------------------------------------------------
# serve: arguments, exit codes, the installed server and its JSROOT (the
# endpoints in depth are tests/web/*.py, the page tests/web/browser.mjs)
# ---------------------------------------------------------------------------
WEB_BUILT=1
grep -q '^MAPFILE_WEB:BOOL=OFF' "$BUILD/CMakeCache.txt" && WEB_BUILT=0
if [ "$WEB_BUILT" = 1 ] && [ -x "$DEMO" ]; then
    S=$T/serve.map
    "$DEMO" produce "$S" --fills 500 >/dev/null 2>&1
    run "$MF" serve
    expect_rc "serve without FILE" 2
    expect_err_has "serve without FILE" "usage: mapf serve FILE [--listen ADDR:PORT] [--token TOKEN] [--title T]"
    run "$MF" serve "$S" --max-clients 0
    expect_rc "serve --max-clients 0" 2
    expect_err_has "serve --max-clients 0" "--max-clients needs a whole number from 1 to 100000, not '0'"
    run "$MF" serve "$S" --keepalive=-1
    expect_rc "serve --keepalive=-1" 2
    run "$MF" serve "$S" --listen 0.0.0.0:0
    expect_rc "serve on a non-loopback address without a token" 2
    expect_err_has "serve names the way out" "pass --token TOKEN"
    run "$MF" serve "$S" --listen 127.0.0.1:99999
    expect_rc "serve on a port past 65535" 2
    printf 'tok-0123456789\n' >"$T/tok"
    run "$MF" serve "$S" --token tok-0123456789 --token-file "$T/tok"
    expect_rc "serve --token and --token-file" 2
    expect_err_has "serve --token and --token-file" "give --token or --token-file, not both"
    : >"$T/tok.empty"
    run "$MF" serve "$S" --token-file "$T/tok.empty"
    expect_rc "serve --token-file of an empty file" 2
    expect_err_has "serve --token-file of an empty file" "the line is empty"
    run "$MF" serve "$S" --token short
    expect_rc "serve --token shorter than 8" 2

    # start_serve ARGS...: the installed server in the background; sets
    # SERVE_PID and SERVE_URL (empty if it printed none within 10 s).
    start_serve() {
        "$MF" serve "$@" >"$T/serve.out" 2>"$T/serve.err" </dev/null &
        SERVE_PID=$!
        BG_PIDS+=("$SERVE_PID")
        SERVE_URL=
        for _ in $(seq 100); do
            SERVE_URL=$(grep -o 'http://[^ ]*' "$T/serve.out")
            [ -n "$SERVE_URL" ] && break
            kill -0 "$SERVE_PID" 2>/dev/null || break
            sleep 0.1
        done
    }
    # http_get URL OUTFILE: prints the status, the body goes to OUTFILE.
    http_get() {
        python3 - "$1" "$2" <<'EOF2'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=20)
    st, body = r.status, r.read()
except urllib.error.HTTPError as e:
    st, body = e.code, e.read()
open(sys.argv[2], "wb").write(body)
print(st)
EOF2
    }

    start_serve "$S" --listen 127.0.0.1:0 --title "cli test"
    check "serve prints 'mapf serve: FILE on URL'" \
        grep -qx "mapf serve: $S on http://127.0.0.1:[0-9]*/" "$T/serve.out"
    if [ -n "$SERVE_URL" ]; then
        "$MF" get --json "$S" hpx >"$T/serve.cli.json"
        ST=$(http_get "${SERVE_URL}hpx/get.json" "$T/serve.get.json")
        check "/hpx/get.json answers 200" test "$ST" = 200
        check "/hpx/get.json is byte for byte 'mapf get --json'" \
            cmp -s "$T/serve.get.json" "$T/serve.cli.json"
        ST=$(http_get "${SERVE_URL}nosuch/get.json" "$T/serve.404")
        check "a missing record is a 404" test "$ST" = 404
        if [ -f "$BUILD/npm/node_modules/jsroot/modules/core.mjs" ]; then
            ST=$(http_get "${SERVE_URL}jsrootsys/modules/core.mjs" "$T/serve.core.mjs")
            check "the installed server finds its JSROOT (share/mapfile/jsroot)" test "$ST" = 200
            check "and serves the installed file" \
                cmp -s "$T/serve.core.mjs" "$PREFIX/share/mapfile/jsroot/modules/core.mjs"
        fi
        # The same port again: cannot listen, exit 1.
        PORT=${SERVE_URL#http://127.0.0.1:}
        PORT=${PORT%/}
        run "$MF" serve "$S" --listen "127.0.0.1:$PORT"
        expect_rc "serve on a port in use" 1
        expect_err_has "serve on a port in use says so" "mapf: serve: "
    else
        fail "mapf serve printed no URL: $(cat "$T/serve.err")"
    fi
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID"
    RC=$?
    expect_rc "serve stops on SIGTERM with exit 0" 0
    start_serve "$S" --listen 127.0.0.1:0
    check "serve starts again" test -n "$SERVE_URL"
    kill -INT "$SERVE_PID"
    wait "$SERVE_PID"
    RC=$?
    expect_rc "serve stops on SIGINT (Ctrl-C) with exit 0" 0
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
