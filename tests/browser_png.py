#!/usr/bin/python3
"""browser_png -- where the analysis page's language columns landed in a
Chromium screenshot, for tests/browser_test.sh.

The page marks the top of its English column with a blue rule (#2563eb)
and its 中文 column with a vermilion one (#c2410c). This finds each rule's
bounding box, counts text-dark pixels in the 160 px below it (so an empty
or invisible column shows), and reads the page background. A page has no
scripts (its CSP forbids them), so pixels are how a test sees the layout.

Usage: browser_png.py FILE.png [dark]  ->  one JSON object on stdout
("dark": the rules' dark-mode colours; "text" then counts light pixels).
Decodes 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) with zlib
alone, so it needs nothing beyond Debian's python3.
"""
import json
import struct
import sys
import zlib

RULES = {"en": (0x25, 0x63, 0xEB), "zh": (0xC2, 0x41, 0x0C)}
RULES_DARK = {"en": (0x60, 0xA5, 0xFA), "zh": (0xFB, 0x92, 0x3C)}  # prefers-color-scheme: dark
TOLERANCE = 12


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("not a PNG: " + path)
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit("unsupported PNG (depth %d, type %d, interlace %d)" % (depth, ctype, interlace))
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def main():
    width, height, bpp, rows = decode(sys.argv[1])
    px = lambda x, y: tuple(rows[y][x * bpp:x * bpp + 3])
    dark_mode = len(sys.argv) > 2 and sys.argv[2] == "dark"
    out = {"size": [width, height], "bg": list(px(3, 3))}
    for name, rgb in (RULES_DARK if dark_mode else RULES).items():
        box = None
        count = 0
        for y in range(height):
            r = rows[y]
            for x in range(width):
                o = x * bpp
                if all(abs(r[o + k] - rgb[k]) <= TOLERANCE for k in range(3)):
                    count += 1
                    box = [x, y, x, y] if box is None else [min(box[0], x), min(box[1], y),
                                                           max(box[2], x), max(box[3], y)]
        out[name] = {"box": box, "pixels": count}
        if box:
            text = 0
            for y in range(box[3] + 1, min(height, box[3] + 161)):
                for x in range(box[0], box[2] + 1):
                    lum = sum(px(x, y))
                    if (lum > 3 * 150) if dark_mode else (lum < 3 * 110):
                        text += 1
            out[name]["text_below"] = text
    print(json.dumps(out))


if __name__ == "__main__":
    main()
