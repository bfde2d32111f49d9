#!/usr/bin/env python3
"""Recomputes the committed media references with the Pillow/numpy installed here and
reports where they differ -- to see whether another Pillow release (e.g. the one that ships
with transformers on a GPU machine) agrees with the Debian 9.4 fixtures the tests use:
resize_refs.json ("ref_current" for the tall cases Pillow >= 12.2 orders differently),
decode_refs.json (whole files and truncated copies) and qwen_numpy_refs.json.

    python3 tools/refgen/verify_media_refs.py
"""
import io
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from media_common import crc32_hex, synth_rgb  # noqa: E402
from make_media_fixtures import pillow_decode  # noqa: E402
from qwen_numpy_refs import pil_path  # noqa: E402

FIX = os.path.join(HERE, "..", "..", "tests", "fixtures", "media")
FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}


def main():
    tall_new = tuple(int(v) for v in PIL.__version__.split(".")[:2]) >= (12, 2)
    bad = 0
    doc = json.load(open(os.path.join(FIX, "resize_refs.json")))
    for i, c in enumerate(doc["cases"]):
        src = Image.fromarray(synth_rgb(*c["in"], c["seed"], c["kind"]), "RGB")
        box = tuple(c["box"]) if "box" in c else None
        got = crc32_hex(np.asarray(src.resize(tuple(c["out"]), FILTERS[c["filter"]], box)))
        want = c.get("ref_current", c["ref"]) if tall_new else c["ref"]
        if got != want:
            bad += 1
            print(f"resize case {i} {c['filter']} {c['in']}->{c['out']}: {got} vs {want}")
    print(f"resize: {len(doc['cases'])} cases checked")
    doc = json.load(open(os.path.join(FIX, "decode_refs.json")))
    for e in doc["files"]:
        data = open(os.path.join(FIX, "decode", e["file"]), "rb").read()
        for label, blob, ref in [(e["file"], data, e)] + [
                (f"{e['file']}[:{c['len']}]", data[:c["len"]], c) for c in e.get("truncated", [])]:
            try:
                got = crc32_hex(pillow_decode(blob))
            except Exception as ex:  # noqa: BLE001
                got = "error"
                why = str(ex)
            want = "error" if "error" in ref else ref["crc"]
            if got != want:
                bad += 1
                print(f"decode {label}: {got} vs {want}" + (f" ({why})" if got == "error" else ""))
    print(f"decode: {len(doc['files'])} files checked")
    doc = json.load(open(os.path.join(FIX, "qwen_numpy_refs.json")))
    for i, c in enumerate(doc["cases"]):
        frames = [synth_rgb(*c["in"], s, c["kind"]) for s in c["seeds"]]
        pv, _ = pil_path(frames, c["min_pixels"], c["max_pixels"])
        if crc32_hex(pv.tobytes()) != c["crc"]:
            bad += 1
            print(f"qwen case {i}: differs")
    print(f"qwen: {len(doc['cases'])} cases checked")
    print(f"Pillow {PIL.__version__}, numpy {np.__version__}: {bad} difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
