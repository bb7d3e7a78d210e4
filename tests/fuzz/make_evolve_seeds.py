#!/usr/bin/env python3
"""make_evolve_seeds.py DIR - seeds for tests/fuzz/fuzz_gen_evolve.c: a
version byte, then a payload of class "evo" as version 1, 2, 3 or 4 of its
struct (tests/gen/evolve/v*.h) stores it, in the wire layout the generated
codec documents (fields in declaration order, scalars little-endian, strings
and struct pointers behind a presence byte, MF_COUNT arrays a varint count
then the elements). The values are evolve_check.c's "full" and "sparse"
objects; v0/v5 carry a valid payload under a version the core refuses.
Writes v1_full .. v4_sparse, v0_refused, v5_refused into DIR (the regression
inputs libFuzzer adds there are kept)."""
import os
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        out.append(c | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    """char *: presence byte, then varint length and the bytes."""
    if text is None:
        return b"\0"
    b = text.encode()
    return b"\1" + varint(len(b)) + b


def counted(fmt, vals):
    return varint(len(vals)) + b"".join(struct.pack("<" + fmt, v) for v in vals)


WHERE = dict(x=-3, y=7, z=5, tag="w", stamp=99)
CORNERS = [dict(x=1, y=2, z=3, tag="c0", stamp=4), dict(x=-5, y=6, z=-7, tag=None, stamp=8)]
EXTRA = dict(x=11, y=12, z=13, tag="x", stamp=0)
VALS = [-1000, 2000, -3000]
TAGS = [9, 8, 7, 6]


def pos(v, p):
    if v == 1:
        return struct.pack("<hh", p["x"], p["y"])
    if v == 2:
        return struct.pack("<hhb", p["x"], p["y"], p["z"]) + s(p["tag"])
    if v == 3:
        return struct.pack("<ihb", p["x"], p["y"], p["z"]) + s(p["tag"])
    return struct.pack("<Qbi", p["stamp"], p["z"], p["x"])


def opt_pos(v, p):
    return b"\0" if p is None else b"\1" + pos(v, p)


def evo(v, empty):
    serial = 8 if empty else 7
    note = None if empty else "note"
    label = "" if empty else "label"
    vals = [] if empty else VALS
    tags = [] if empty else TAGS
    extra = None if empty else EXTRA
    if v == 1:
        return (struct.pack("<bfH", -100, 1.5, 60000) + pos(1, WHERE) + s(note) +
                counted("h", vals) + bytes([1, 2, 3]) + opt_pos(1, extra) +
                struct.pack("<I", serial))
    if v == 2:
        return (struct.pack("<I", serial) + s(label) + pos(2, WHERE) +
                struct.pack("<hif2d", -100, 60000, 1.5, 0.25, 0.5) + s(note) +
                counted("i", vals) + opt_pos(2, extra))
    if v == 3:
        return (struct.pack("<Iid", serial, -100, 1.5) + pos(3, WHERE) +
                pos(3, CORNERS[0]) + pos(3, CORNERS[1]) + s(label) +
                struct.pack("<i2d", 60000, 0.25, 0.5) + counted("i", vals) +
                counted("B", tags) + opt_pos(3, extra))
    return (struct.pack("<d", 60000) + pos(4, CORNERS[0]) + pos(4, CORNERS[1]) +
            counted("B", tags) + struct.pack("<q", -100) + s(label) +
            struct.pack("<d", 1.5) + pos(4, WHERE) + struct.pack("<2dI", 0.25, 0.5, serial))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_evolve_seeds.py DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {f"v{v}_{k}": bytes([v]) + evo(v, k == "sparse")
             for v in (1, 2, 3, 4) for k in ("full", "sparse")}
    seeds["v0_refused"] = b"\0" + evo(1, False)
    seeds["v5_refused"] = b"\5" + evo(4, False)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
