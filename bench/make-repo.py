#!/usr/bin/env python3
"""Writes a git fast-import stream for a realistic repository to stdout.

A history of COMMITS commits on main, each adding a couple of new files
(text-like, incompressible enough to give the pack real weight) and editing
an existing one, spread over nested folders; a tag on every 4th commit and a
branch on every 30th. Deterministic (seeded), so every run builds the same
repository.

    bench/make-repo.py [--commits N] [--file-bytes B] | git -C REPO fast-import --quiet
"""
import argparse
import base64
import random
import sys

p = argparse.ArgumentParser()
p.add_argument("--commits", type=int, default=3000)
p.add_argument("--file-bytes", type=int, default=9000)
a = p.parse_args()
rng = random.Random(42)
out = sys.stdout.buffer
files = []
mark = 0


def blob(data):
    global mark
    mark += 1
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
    out.write(data)
    out.write(b"\n")
    return mark


def text(n):
    raw = base64.b64encode(rng.randbytes(n * 3 // 4 + 3))[:n]
    return b"\n".join(raw[i:i + 76] for i in range(0, len(raw), 76)) + b"\n"


contents = {}
for c in range(a.commits):
    changes = []
    for _ in range(2):
        path = "src/%s/%s/f%05d.txt" % (rng.choice("abcdefgh"), rng.choice("ijklmnop"), len(files))
        files.append(path)
        data = text(rng.randint(a.file_bytes // 2, a.file_bytes * 3 // 2))
        contents[path] = data
        changes.append((path, blob(data)))
    if len(files) > 2:
        path = rng.choice(files[:-2])
        contents[path] = contents[path] + b"edit %d %s\n" % (c, text(60).strip())
        changes.append((path, blob(contents[path])))
    mark += 1
    commit = mark
    msg = b"change %d: %s\n" % (c, text(40).strip())
    ts = 1700000000 + c * 600
    out.write(b"commit refs/heads/main\nmark :%d\n" % commit)
    out.write(b"author Dev <dev@example.com> %d +0000\n" % ts)
    out.write(b"committer Dev <dev@example.com> %d +0000\n" % ts)
    out.write(b"data %d\n%s" % (len(msg), msg))
    for path, m in changes:
        out.write(b"M 100644 :%d %s\n" % (m, path.encode()))
    out.write(b"\n")
    if c % 4 == 0:
        out.write(b"reset refs/tags/v%d\nfrom :%d\n\n" % (c, commit))
    if c % 30 == 0:
        out.write(b"reset refs/heads/topic-%d\nfrom :%d\n\n" % (c, commit))
out.write(b"done\n")
