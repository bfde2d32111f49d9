#!/usr/bin/python3
"""Writes tests/fixtures/media/qwen_numpy_refs.json: Qwen2-VL pixel values computed by the
operations transformers' Qwen2VLImageProcessorPil performs (PIL resize with
reducing_gap=None, float64 rescale then float32, float32 normalize, the 10-d reshape /
transpose of the patch layout), re-expressed with Pillow + numpy so it runs without
transformers. Also smart_resize cases (transformers' formula in Python: round() half to
even, floor/ceil branches). Inputs are media_common.synth_rgb images; outputs are stored
as CRC-32 of the float32 bytes plus sampled values. The transformers reference itself
(tests/fixtures/qwen2_vl_processor/, made on a machine with transformers by the refgen
scripts) is checked by tests/test_qwen_pixels.c.

    /usr/bin/python3 tools/refgen/qwen_numpy_refs.py
"""
import json
import math
import os
import random
import sys

import numpy as np
import PIL
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from media_common import crc32_hex, synth_rgb  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "media",
                   "qwen_numpy_refs.json")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 1280):
    """transformers' Qwen2-VL smart_resize (5.x)."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def pil_path(frames_hwc, min_pixels, max_pixels, resample=3, ps=14, T=2, m=2,
             scale=1 / 255, mean=CLIP_MEAN, std=CLIP_STD):
    """Qwen2VLImageProcessorPil._preprocess on a list of same-sized frames treated as one
    temporal sequence (an image is a list of one)."""
    processed = []
    for hwc in frames_hwc:
        image = np.array(Image.fromarray(hwc, "RGB").convert("RGB"))  # process_image
        image = np.transpose(image, (2, 0, 1))                          # to CHW
        height, width = image.shape[-2:]
        rh, rw = smart_resize(height, width, ps * m, min_pixels, max_pixels)
        pil = Image.fromarray(np.transpose(image, (1, 2, 0)).astype(np.uint8))  # to_pil_image
        image = np.array(pil.resize((rw, rh), resample=resample, reducing_gap=None))
        image = np.transpose(image, (2, 0, 1))
        image = (image.astype(np.float64) * scale).astype(np.float32)           # rescale
        mean32, std32 = np.array(mean, dtype=np.float32), np.array(std, dtype=np.float32)
        image = ((image.T - mean32) / std32).T                                   # normalize
        processed.append(image)
    patches = np.expand_dims(np.stack(processed), 0)  # [1, t, c, h, w]
    if patches.shape[1] % T != 0:
        repeats = np.repeat(patches[:, -1:], T - (patches.shape[1] % T), axis=1)
        patches = np.concatenate([patches, repeats], axis=1)
    b, gt, c = patches.shape[0], patches.shape[1] // T, patches.shape[2]
    gh, gw = rh // ps, rw // ps
    patches = patches.reshape(b, gt, T, c, gh // m, m, ps, gw // m, m, ps)
    patches = patches.transpose(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    flat = patches.reshape(b * gt * gh * gw, c * T * ps * ps)
    return np.ascontiguousarray(flat, dtype=np.float32), [gt, gh, gw]


def main():
    rng = random.Random(7)
    cases = []
    specs = [  # w, h, kind, n_frames, min_pixels, max_pixels
        (57, 43, 0, 1, 3136, 12845056),      # upscaled by min_pixels
        (131, 97, 1, 1, 3136, 12845056),     # round branch
        (400, 90, 1, 1, 3136, 28 * 28 * 16),  # max_pixels branch
        (60, 60, 0, 1, 3136, 12845056),      # 60 -> 56 (round)
        (56, 84, 1, 1, 3136, 12845056),      # already a multiple: no resize
        (90, 64, 1, 3, 3136, 28 * 28 * 12),  # three frames: last repeated to 4
        (70, 42, 0, 2, 128 * 28 * 28, 768 * 28 * 28),  # video-sized limits, 2 frames
    ]
    for i, (w, h, kind, nf, mn, mx) in enumerate(specs):
        seeds = [100 + 10 * i + f for f in range(nf)]
        frames = [synth_rgb(w, h, s, kind) for s in seeds]
        pv, grid = pil_path(frames, mn, mx)
        smp = []
        for _ in range(6):
            r, col = rng.randrange(pv.shape[0]), rng.randrange(pv.shape[1])
            smp.append([r, col, float(pv[r, col])])
        cases.append({"in": [w, h], "kind": kind, "seeds": seeds, "min_pixels": mn,
                      "max_pixels": mx, "grid_thw": grid, "shape": list(pv.shape),
                      "crc": crc32_hex(pv.tobytes()), "samples": smp})
    sr = []
    sizes = [(42, 70), (70, 42), (98, 14), (14, 98), (10, 10), (1, 1), (3000, 15), (15, 2999),
             (1080, 1920), (1920, 1080), (4032, 3024), (8000, 6000), (28, 5600), (27, 5600),
             (5000, 5000), (223, 3), (9, 1800)]
    for _ in range(60):
        sizes.append((rng.randrange(1, 5000), rng.randrange(1, 5000)))
    for h, w in sizes:
        for mn, mx in ((3136, 12845056), (3136, 1003520), (128 * 784, 768 * 784),
                       (4 * 784, 16384 * 784)):
            try:
                rh, rw = smart_resize(h, w, 28, mn, mx)
                sr.append({"h": h, "w": w, "min": mn, "max": mx, "out": [rh, rw]})
            except ValueError:
                sr.append({"h": h, "w": w, "min": mn, "max": mx, "error": "aspect"})
    doc = {"generator": "tools/refgen/qwen_numpy_refs.py", "pillow": PIL.__version__,
           "numpy": np.__version__, "hash": "crc32 of pixel_values float32 little-endian bytes",
           "cases": cases, "smart_resize": sr}
    with open(OUT, "w") as fp:
        json.dump(doc, fp, separators=(",", ":"))
        fp.write("\n")
    print(f"wrote {len(cases)} pixel cases, {len(sr)} smart_resize cases")


if __name__ == "__main__":
    main()
