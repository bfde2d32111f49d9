#!/usr/bin/env python3
"""The transformers side of bench/image: the same 1920x1080 JPEG loaded as transformers
loads an image path (PIL open, ImageOps.exif_transpose, convert("RGB")) and preprocessed by
Qwen2VLImageProcessor on its PIL backend (backend="pil" in transformers 5, use_fast=False
in 4.x) with Qwen2.5-VL's Hub settings (min_pixels 3136, max_pixels 12845056). Median of N
runs of: decode, preprocess, total. Also checks the output shape against bench_image's.
Run on the same CPU as build/bench/bench_image:

    python3 tools/refgen/bench_qwen_processor.py [--runs 20] [bench/image/photo_1920x1080.jpg]

Needs transformers, Pillow, numpy (torch optional: return_tensors="np" is used).
"""
import argparse
import statistics
import time

import numpy as np
import PIL
from PIL import Image, ImageOps


def make_processor():
    import transformers
    kw = dict(min_pixels=3136, max_pixels=12845056, patch_size=14, temporal_patch_size=2,
              merge_size=2)
    errors = []
    for extra in ({"backend": "pil"}, {"use_fast": False}, {}):
        try:
            cls = getattr(transformers, "Qwen2VLImageProcessorPil", None)
            if cls is not None and "backend" in extra:
                return cls(**kw), "Qwen2VLImageProcessorPil"
            p = transformers.Qwen2VLImageProcessor(**kw, **extra)
            backend = getattr(p, "backend", "pil (slow class)")
            if backend not in ("pil", "pil (slow class)"):
                errors.append(f"{extra}: backend {backend}")
                continue
            return p, f"Qwen2VLImageProcessor({extra}) backend={backend}"
        except Exception as e:  # noqa: BLE001
            errors.append(f"{extra}: {e}")
    raise SystemExit("no PIL-backed Qwen2VL image processor: " + "; ".join(errors))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default="bench/image/photo_1920x1080.jpg")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    import transformers
    proc, how = make_processor()
    print(f"transformers {transformers.__version__}, Pillow {PIL.__version__}, numpy "
          f"{np.__version__}; {how}; median of {args.runs} runs")
    dec, pre, tot = [], [], []
    shape = None
    for _ in range(args.runs + 1):
        t0 = time.perf_counter()
        im = Image.open(args.file)
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")
        t1 = time.perf_counter()
        out = proc(images=[im], return_tensors="np")
        pv = out["pixel_values"]
        t2 = time.perf_counter()
        shape = (tuple(pv.shape), out["image_grid_thw"].tolist())
        dec.append((t1 - t0) * 1e3)
        pre.append((t2 - t1) * 1e3)
        tot.append((t2 - t0) * 1e3)
    dec, pre, tot = dec[1:], pre[1:], tot[1:]  # the first run warms caches and imports
    print(f"decode {statistics.median(dec):8.2f} ms  preprocess {statistics.median(pre):8.2f} ms  "
          f"total {statistics.median(tot):8.2f} ms   (pixel_values {shape[0]}, grid {shape[1]})")


if __name__ == "__main__":
    main()
