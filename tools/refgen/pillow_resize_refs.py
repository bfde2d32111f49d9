#!/usr/bin/python3
"""Writes tests/fixtures/media/resize_refs.json: Pillow's Image.resize on synthetic RGB
images (media_common.synth_rgb), stored as CRC-32 of the output bytes plus a few sampled
pixels. tests/test_resample.c rebuilds each input in C, resizes it with vlm_image_resize and
compares.

Run with Debian's Python (it has numpy and Pillow):
    /usr/bin/python3 tools/refgen/pillow_resize_refs.py

Cases: every filter, sizes 1..2000 on each axis drawn log-uniformly (up and down, mixed),
a few fixed cases (the Qwen 1920x1080 -> 1932x1092 resize, identity, 1-pixel sides), boxes,
and images more than 100x taller than wide. For the tall ones Pillow >= 12.2 resizes
vertically first (Image.py calls im.resize twice); Pillow < 12.2 does one call. Both are
stored: "ref" is what this Pillow does, "ref_current" (tall cases only) is the >= 12.2
result, obtained here through the same two C-level calls 12.2 makes.
"""
import json
import math
import os
import random
import sys

import PIL
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from media_common import crc32_hex, synth_rgb  # noqa: E402

import numpy as np  # noqa: E402

FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "media",
                   "resize_refs.json")


def core_resize(im, size, f, box):
    """One C-level resize call, as Image.resize makes it."""
    return im._new(im.im.resize(size, f, box))


def pillow_current(im, size, f, box):
    """Image.resize of Pillow >= 12.2 for an RGB image (its tall-image branch)."""
    if box is None:
        box = (0, 0) + im.size
    if im.size == tuple(size) and box == (0, 0) + im.size:
        return im.copy()
    if im.size[1] > im.size[0] * 100 and size[1] < im.size[1]:
        mid = core_resize(im, (im.size[0], size[1]), f, (0, box[1], im.size[0], box[3]))
        return core_resize(mid, size, f, (box[0], 0, box[2], size[1]))
    return core_resize(im, tuple(size), f, box)


def samples(arr, rng, n=4):
    h, w, _ = arr.shape
    out = []
    for _ in range(n):
        x, y = rng.randrange(w), rng.randrange(h)
        out.append([x, y] + [int(v) for v in arr[y, x]])
    return out


def log_size(rng, lo=1, hi=2000):
    return max(lo, min(hi, int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))))


def main():
    rng = random.Random(20261122)
    cases = []
    fixed = [
        (1920, 1080, 1932, 1092, "bicubic", 0),
        (1080, 1920, 1092, 1932, "bicubic", 1),
        (300, 200, 896, 896, "bilinear", 1),
        (640, 480, 364, 280, "lanczos", 0),
        (1, 1, 7, 5, "bicubic", 0),
        (5, 7, 1, 1, "lanczos", 0),
        (1, 2000, 3, 10, "bicubic", 1),
        (2000, 1, 9, 4, "hamming", 0),
        (37, 41, 37, 41, "bicubic", 0),
        (37, 41, 37, 80, "box", 0),
        (37, 41, 90, 41, "bilinear", 0),
        (3, 1500, 2, 700, "bicubic", 1),     # tall: > 100x, height shrinks
        (2, 900, 5, 300, "lanczos", 0),      # tall, width grows
        (4, 1000, 4, 250, "bilinear", 1),    # tall, width unchanged
        (2, 1000, 1, 999, "nearest", 0),     # tall, nearest
    ]
    for w, h, ow, oh, f, kind in fixed:
        cases.append({"filter": f, "in": [w, h], "out": [ow, oh], "kind": kind})
    names = list(FILTERS)
    while len(cases) < 260:
        w, h, ow, oh = (log_size(rng) for _ in range(4))
        if w * h > 1_500_000 or ow * oh > 1_500_000:
            continue
        cases.append({"filter": names[len(cases) % len(names)], "in": [w, h], "out": [ow, oh],
                      "kind": rng.randrange(2)})
    # Boxes (Pillow's `box` argument): fractional and integral sub-rectangles.
    for i in range(12):
        w, h = rng.randrange(8, 400), rng.randrange(8, 400)
        x0, y0 = rng.uniform(0, w / 3), rng.uniform(0, h / 3)
        x1, y1 = rng.uniform(2 * w / 3, w), rng.uniform(2 * h / 3, h)
        if i % 3 == 0:
            x0, y0, x1, y1 = (float(int(v)) for v in (x0, y0, x1, y1))
        box = [float(np.float32(v)) for v in (x0, y0, x1, y1)]
        cases.append({"filter": names[i % len(names)], "in": [w, h],
                      "out": [log_size(rng, 1, 600), log_size(rng, 1, 600)],
                      "kind": i % 2, "box": box})
    for i, c in enumerate(cases):
        c["seed"] = i + 1
        w, h = c["in"]
        src = Image.fromarray(synth_rgb(w, h, c["seed"], c["kind"]), "RGB")
        f = FILTERS[c["filter"]]
        box = tuple(c["box"]) if "box" in c else None
        res = src.resize(tuple(c["out"]), f, box)  # this Pillow, one call
        arr = np.asarray(res)
        c["ref"] = crc32_hex(arr)
        c["samples"] = samples(arr, rng)
        tall = h > w * 100 and c["out"][1] < h
        cur = np.asarray(pillow_current(src, tuple(c["out"]), f, box))
        if tall:
            c["ref_current"] = crc32_hex(cur)
        elif crc32_hex(cur) != c["ref"]:
            raise SystemExit(f"case {i}: current-Pillow emulation differs on a non-tall case")
    doc = {
        "generator": "tools/refgen/pillow_resize_refs.py",
        "pillow": PIL.__version__,
        "hash": "crc32 (zlib) of the RGB output bytes, rows top to bottom",
        "input": "media_common.synth_rgb(in_w, in_h, seed, kind)",
        "cases": cases,
    }
    with open(OUT, "w") as fp:
        json.dump(doc, fp, separators=(",", ":"))
        fp.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)} (Pillow {PIL.__version__})")


if __name__ == "__main__":
    main()
