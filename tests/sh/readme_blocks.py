#!/usr/bin/env python3
"""readme_blocks.py README OUTDIR: write every ```c block of README to
OUTDIR/NAME.c and its build command to OUTDIR/NAME.cmd. Each block's first
line must be `/* NAME.c: COMMAND */`: a C example without its build command
is an error, so every example of a README is compiled by CI. A block whose
first line is `/* NAME.h */` is a header the examples include: it is written
to OUTDIR/NAME.h and not compiled on its own."""
import os
import re
import sys

readme, out = sys.argv[1], sys.argv[2]
text = open(readme).read()
blocks = re.findall(r"^```c\n(.*?)^```", text, re.S | re.M)
if not blocks:
    sys.exit(f"{readme}: no C block")
for b in blocks:
    first = b.split("\n", 1)[0]
    h = re.fullmatch(r"/\* (\w+\.h) \*/", first)
    if h:  # a header the examples include: written, not compiled
        with open(os.path.join(out, h.group(1)), "w") as f:
            f.write(b)
        continue
    m = re.fullmatch(r"/\* (\w+\.c): (.+) \*/", first)
    if not m:
        sys.exit(f"{readme}: a C block does not start with '/* NAME.c: COMMAND */': {first}")
    name, cmd = m.groups()
    with open(os.path.join(out, name), "w") as f:
        f.write(b)
    with open(os.path.join(out, name[:-2] + ".cmd"), "w") as f:
        f.write(cmd + "\n")
    print(name)
