#!/usr/bin/python3
"""Writes bench/image/photo_1920x1080.jpg: a 1920x1080 photo-like picture (gradients, discs,
mild noise; media fixtures' generator) saved by Pillow as a baseline 4:2:0 JPEG, quality 90
-- the input of bench/image and tools/refgen/bench_qwen_processor.py.

    /usr/bin/python3 tools/refgen/make_bench_image.py
"""
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_media_fixtures import picture  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "image", "photo_1920x1080.jpg")
Image.fromarray(picture(1920, 1080, 7)).save(OUT, quality=90, subsampling=2)
print(os.path.normpath(OUT), os.path.getsize(OUT), "bytes")
