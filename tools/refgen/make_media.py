#!/usr/bin/env python3
"""Make the small committed test images and video frames (tests/fixtures/media/) with numpy+Pillow.

Deterministic (fixed seeds). Run with /usr/bin/python3 (Debian's numpy + Pillow) from the repo root:
    /usr/bin/python3 tools/refgen/make_media.py
The images are inputs for the Qwen2-VL processor references (qwen_processor_refs.py) and for the
decoder tests; their exact bytes are what is committed, so re-running is only needed to regenerate.
"""
import os
import numpy as np
from PIL import Image

OUT = os.path.join("tests", "fixtures", "media")


def photo_like(w, h, seed, noise=6.0):
    """Smooth colour gradients + blobs + noise: a JPEG-friendly 'photo' (uint8 HxWx3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / w * 3.1 + y / h * 1.3)
    g = 128 + 90 * np.cos(y / h * 4.2 - x / w * 0.7)
    b = 128 + 80 * np.sin((x + y) / (w + h) * 6.0)
    img = np.stack([r, g, b], -1)
    for _ in range(6):  # soft blobs
        cx, cy, rad = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.25) * min(w, h)
        col = rng.uniform(-80, 80, 3)
        m = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * rad * rad)))
        img += m[..., None] * col
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main():
    os.makedirs(os.path.join(OUT, "video_frames"), exist_ok=True)
    # 300x200 photo-like JPEG, quality 90, 4:2:0
    Image.fromarray(photo_like(300, 200, 1)).save(os.path.join(OUT, "photo_300x200_q90_420.jpg"),
                                                   quality=90, subsampling=2)
    # 64x48 RGBA PNG with a varying alpha channel (convert('RGB') drops alpha)
    rgb = photo_like(64, 48, 2, noise=2.0)
    yy, xx = np.mgrid[0:48, 0:64]
    alpha = ((xx * 4 + yy * 2) % 256).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(os.path.join(OUT, "rgba_64x48.png"))
    # 1000x50 PNG (extreme aspect ratio 20:1)
    Image.fromarray(photo_like(1000, 50, 3, noise=1.0)).save(os.path.join(OUT, "wide_1000x50.png"))
    # 20x20 PNG (smart_resize must upsize to min_pixels)
    Image.fromarray(photo_like(20, 20, 4)).save(os.path.join(OUT, "tiny_20x20.png"))
    # 517x389 JPEG 4:4:4 (odd sizes)
    Image.fromarray(photo_like(517, 389, 5)).save(os.path.join(OUT, "odd_517x389_q85_444.jpg"),
                                                   quality=85, subsampling=0)
    # grayscale JPEG
    gray = photo_like(240, 160, 6).mean(-1).round().astype(np.uint8)
    Image.fromarray(gray, "L").save(os.path.join(OUT, "gray_240x160.jpg"), quality=90)
    # 8 video frames 160x120: a moving bright square over a drifting gradient
    for i in range(8):
        f = photo_like(160, 120, 100 + i // 4, noise=0.0).astype(np.int16)
        x0, y0 = 10 + i * 15, 20 + i * 8
        f[y0:y0 + 30, x0:x0 + 30] = [250, 240, 20]
        f = np.clip(f + i * 3, 0, 255).astype(np.uint8)
        Image.fromarray(f).save(os.path.join(OUT, "video_frames", "frame_%02d.png" % i))


if __name__ == "__main__":
    main()
