#!/usr/bin/env python3
"""make_schema_seeds.py DIR - the hand-made seeds of fuzz_schema (issue 18):
schemas in the format of mapfile/schema.h, each followed by a payload.
The torture_* seeds are a real generated class's schema and payloads
(tests/gen/torture.h), taken from a file its producer wrote."""
import os
import struct
import sys


def varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def name(s):
    return varint(len(s)) + s.encode()


def schema(records):
    out = b"MFSC" + bytes([1]) + varint(len(records))
    for fields in records:
        out += varint(len(fields)) + b"".join(fields)
    return out


def seed(path, sch, payload):
    with open(path, "wb") as f:
        f.write(struct.pack("<H", len(sch)) + sch + payload)


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    # Every scalar type as a value, a 2x2 array of i16, a string, a counted
    # f64 array with its count, and an optional nested struct.
    inner = [name("a") + bytes([1, 1, 0])]
    top = [name("t%d" % e) + bytes([1, e, 0]) for e in range(1, 12)]
    top += [name("m") + bytes([1, 4, 2]) + varint(2) + varint(2),
            name("s") + bytes([2]),
            name("n") + bytes([5, 5]),
            name("v") + bytes([3, 10]) + varint(len(top) + 2),
            name("o") + bytes([4]) + varint(0)]
    payload = bytes([1, 0xFE, 3, 4, 0xFB, 0xFF, 7, 8]) + b"\x00" * 34 + b"\x01" + b"\x02\x00" * 4
    payload += b"\x01\x03abc" + varint(2) + struct.pack("<dd", 1.5, -2) + b"\x01\x07"
    seed(os.path.join(d, "every_kind"), schema([inner, top]), payload)
    # The deepest nesting allowed: 64 records, each holding the one before.
    deep = [[name("x") + bytes([1, 1, 0])]]
    deep += [[name("in") + bytes([1, 0]) + varint(i) + bytes([0])] for i in range(63)]
    seed(os.path.join(d, "deep64"), schema(deep), b"\x2a")
    # One record too many.
    seed(os.path.join(d, "deep65"), schema(deep + [deep[1]]), b"\x2a")
    # Counted structs whose count comes after them, sharing it with a
    # second array.
    rec = [name("x") + bytes([1, 3, 0])]
    top = [name("p") + bytes([3, 0]) + varint(0) + varint(2),
           name("q") + bytes([3, 1]) + varint(2),
           name("k") + bytes([5, 4])]
    seed(os.path.join(d, "counted_after"), schema([rec, top]),
         varint(2) + b"\x01\x00\x02\x00" + varint(2) + b"\x05\x06")


main()
