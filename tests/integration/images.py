#!/usr/bin/env python3
"""png PATH W H SEED: a PNG (gradients, the seed in one channel); size FILE: its width
(PNG or WebP); jsonld HTML: the JSON-LD of a page, parsed, printed."""
import json, re, struct, sys, zlib

def png(path, w, h, seed):
    rows = []
    for y in range(h):
        row = bytearray(b"\0")
        for x in range(w):
            row += bytes(((x * 255) // w, (y * 255) // h, (x * y + seed) & 0xff))
        rows.append(bytes(row))
    raw = b"".join(rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))

def width(path):
    d = open(path, "rb").read(64)
    if d[:8] == b"\x89PNG\r\n\x1a\n":
        return "png", struct.unpack(">I", d[16:20])[0]
    if d[:4] == b"RIFF" and d[8:12] == b"WEBP":
        kind = d[12:16]
        if kind == b"VP8X":
            return "webp", 1 + (d[24] | d[25] << 8 | d[26] << 16)
        if kind == b"VP8L":
            return "webp", 1 + ((d[21] | d[22] << 8) & 0x3fff)
        return "webp", struct.unpack("<H", d[26:28])[0] & 0x3fff
    return "?", 0

cmd = sys.argv[1]
if cmd == "png":
    png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
elif cmd == "size":
    print("%s %d" % width(sys.argv[2]))
elif cmd == "jsonld":
    html = open(sys.argv[2]).read()
    m = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    if not m:
        sys.exit("no JSON-LD")
    if "</" in m.group(1):
        sys.exit("</ inside the JSON-LD")
    print(json.dumps(json.loads(m.group(1)), sort_keys=True))
