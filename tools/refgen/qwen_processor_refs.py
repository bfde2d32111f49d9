#!/usr/bin/env python3
"""Qwen2-VL image/video processor references from transformers 5.x (PIL backend for images).

Inputs: tests/fixtures/media/* (committed images and 8 video frames) and
tests/fixtures/qwen2_vl_processor/preprocessor_config.json (as Qwen/Qwen2-VL-2B-Instruct ships it).
Outputs in tests/fixtures/qwen2_vl_processor/:
  <case>.safetensors  pixel_values (float32, [patches, 1176]) + image_grid_thw (int64, [n, 3]),
                      or pixel_values_videos + video_grid_thw for the video case
  index.json          per case: input file(s), processor kwargs, effective processor settings,
                      output shapes, class used, versions, command
Image processors are built with backend="pil" (the Pillow path that the Hub processors mean);
the video processor has no PIL path in transformers 5 (it resizes with torch/torchvision), which
index.json records. Frames go in as one uint8 array [T, H, W, 3], so no video decoding happens.
Usage (repo root): python3 tools/refgen/qwen_processor_refs.py
"""
import json
import math
import os
import sys
import traceback

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
import transformers

MEDIA = os.path.join("tests", "fixtures", "media")
OUT = os.path.join("tests", "fixtures", "qwen2_vl_processor")
COMMAND = "python3 tools/refgen/qwen_processor_refs.py"

# (case, image files, kwargs given to from_pretrained on top of preprocessor_config.json)
IMAGE_CASES = [
    ("photo_300x200_default", ["photo_300x200_q90_420.jpg"], {}),
    ("rgba_64x48_default", ["rgba_64x48.png"], {}),
    ("wide_1000x50_default", ["wide_1000x50.png"], {}),
    ("tiny_20x20_default", ["tiny_20x20.png"], {}),
    ("odd_517x389_max32tok", ["odd_517x389_q85_444.jpg"], {"max_pixels": 32 * 28 * 28}),
    ("gray_240x160_max32tok", ["gray_240x160.jpg"], {"max_pixels": 32 * 28 * 28}),
    ("tiny_20x20_min16tok", ["tiny_20x20.png"], {"min_pixels": 16 * 28 * 28}),
    ("two_images_rgba_tiny", ["rgba_64x48.png", "tiny_20x20.png"], {}),
]
VIDEO_KW = {"max_pixels": 16 * 28 * 28}


def smart_resize(h, w, factor=28, min_pixels=3136, max_pixels=12845056):
    """Our own statement of Qwen2-VL's rule, only to cross-check the grid transformers returns."""
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    if hb * wb > max_pixels:
        b = math.sqrt(h * w / max_pixels)
        hb, wb = max(factor, math.floor(h / b / factor) * factor), max(factor, math.floor(w / b / factor) * factor)
    elif hb * wb < min_pixels:
        b = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * b / factor) * factor, math.ceil(w * b / factor) * factor
    return hb, wb


def settings(p):
    keys = ["size", "min_pixels", "max_pixels", "patch_size", "temporal_patch_size", "merge_size",
            "image_mean", "image_std", "do_resize", "resample", "do_rescale", "rescale_factor",
            "do_normalize", "do_convert_rgb", "do_sample_frames", "fps", "min_frames", "max_frames",
            "backend"]
    out = {}
    for k in keys:
        if hasattr(p, k):
            v = getattr(p, k)
            if hasattr(v, "__dataclass_fields__"):
                v = {f: getattr(v, f) for f in v.__dataclass_fields__}
            elif hasattr(v, "items") and not isinstance(v, dict):
                v = dict(v.items())
            try:
                json.dumps(v)
            except TypeError:
                v = repr(v)
            out[k] = v
    return out


def pixel_limits(st):
    """(min_pixels, max_pixels) from the effective settings (size.shortest/longest_edge)."""
    sz = st.get("size")
    if isinstance(sz, str):  # an unrecognised object: read its repr
        import re
        sz = {k: int(v) for k, v in re.findall(r"(shortest_edge|longest_edge)=(\d+)", sz)}
    if not isinstance(sz, dict):
        sz = {}
    mn = sz.get("shortest_edge") or st.get("min_pixels") or 3136
    mx = sz.get("longest_edge") or st.get("max_pixels") or 12845056
    return mn, mx


def kw_variants(kw, default_min=3136, default_max=12845056):
    """Ways to say min/max pixels to a 5.x processor: both spellings, size only, keys only."""
    if "min_pixels" not in kw and "max_pixels" not in kw:
        return [dict(kw)]
    mn, mx = kw.get("min_pixels", default_min), kw.get("max_pixels", default_max)
    size = {"shortest_edge": mn, "longest_edge": mx}
    rest = {k: v for k, v in kw.items() if k not in ("min_pixels", "max_pixels")}
    return [dict(rest, min_pixels=mn, max_pixels=mx, size=size), dict(rest, size=size),
            dict(rest, min_pixels=mn, max_pixels=mx)]


def make_image_processor(cls_or_auto, kw):
    last = None
    for v in kw_variants(kw):
        for extra, how in (({"backend": "pil"}, 'backend="pil"'), ({"use_fast": False}, "use_fast=False")):
            try:
                return cls_or_auto.from_pretrained(OUT, **extra, **v), "%s, kwargs %s" % (how, sorted(v))
            except Exception as e:
                last = e
                print("variant failed:", how, sorted(v), type(e).__name__, e, flush=True)
    raise last


def run_images(index):
    auto = transformers.AutoImageProcessor
    for case, files, kw in IMAGE_CASES:
        try:
            proc, how = make_image_processor(auto, kw)
            imgs = [Image.open(os.path.join(MEDIA, f)) for f in files]
            for im in imgs:
                im.load()
            res = proc(images=imgs, return_tensors="pt")
            pv = res["pixel_values"].to(torch.float32).contiguous()
            grid = res["image_grid_thw"].to(torch.int64).contiguous()
            save_file({"pixel_values": pv, "image_grid_thw": grid}, os.path.join(OUT, case + ".safetensors"),
                      metadata={"format": "pt"})
            st = settings(proc)
            check = []
            for im, g in zip(imgs, grid.tolist()):
                mn, mx = pixel_limits(st)
                hb, wb = smart_resize(im.height, im.width, 28, mn, mx)
                check.append([1, hb // 14, wb // 14] == g)
            index["cases"].append({
                "case": case, "kind": "image", "inputs": files, "from_pretrained_kwargs": kw,
                "class": type(proc).__name__, "constructed_with": how, "effective_settings": st,
                "pixel_values_shape": list(pv.shape), "image_grid_thw": grid.tolist(),
                "grid_matches_smart_resize_rule": all(check),
                "pixel_values_sum": float(pv.double().sum()), "file": case + ".safetensors"})
            print("%s: %s grid %s rule_ok %s (%s)" % (case, list(pv.shape), grid.tolist(), all(check),
                                                       type(proc).__name__), flush=True)
        except Exception:
            traceback.print_exc()
            index["failures"].append(case)
    # Cross-check that the PIL path was really taken: the default (torchvision) backend differs
    try:
        im = Image.open(os.path.join(MEDIA, "photo_300x200_q90_420.jpg"))
        pil, _ = make_image_processor(transformers.AutoImageProcessor, {})
        dflt = transformers.AutoImageProcessor.from_pretrained(OUT)
        a = pil(images=[im], return_tensors="pt")["pixel_values"].double()
        b = dflt(images=[im], return_tensors="pt")["pixel_values"].double()
        index["pil_vs_default_backend"] = {
            "default_class": type(dflt).__name__, "pil_class": type(pil).__name__,
            "default_settings": settings(dflt),
            "max_abs_diff_on_photo": float((a - b).abs().max()) if a.shape == b.shape else "shape differs"}
        print("pil vs default:", index["pil_vs_default_backend"]["max_abs_diff_on_photo"], flush=True)
    except Exception:
        traceback.print_exc()
    # Qwen2.5-VL: a separate image-processor class, if transformers has one, checked on one case
    cls25 = getattr(transformers, "Qwen2_5_VLImageProcessor", None)
    if cls25 is None:
        index["qwen2_5_vl_image_processor"] = "transformers %s has no Qwen2_5_VLImageProcessor class; " \
            "Qwen2.5-VL checkpoints name Qwen2VLImageProcessor" % transformers.__version__
    else:
        try:
            p25, how = make_image_processor(cls25, {})
            im = Image.open(os.path.join(MEDIA, "photo_300x200_q90_420.jpg"))
            r25 = p25(images=[im], return_tensors="pt")
            p2, _ = make_image_processor(transformers.AutoImageProcessor, {})
            r2 = p2(images=[im], return_tensors="pt")
            same = torch.equal(r25["pixel_values"], r2["pixel_values"]) and torch.equal(r25["image_grid_thw"], r2["image_grid_thw"])
            index["qwen2_5_vl_image_processor"] = {"class": type(p25).__name__, "identical_to_qwen2_vl_on_photo": bool(same)}
            if not same:
                save_file({"pixel_values": r25["pixel_values"].float().contiguous(),
                           "image_grid_thw": r25["image_grid_thw"].to(torch.int64).contiguous()},
                          os.path.join(OUT, "qwen2_5_photo_300x200_default.safetensors"))
        except Exception:
            traceback.print_exc()
            index["failures"].append("qwen2_5_vl_image_processor")


def run_video(index):
    case = "video_8frames_160x120"
    try:
        frames = [np.asarray(Image.open(os.path.join(MEDIA, "video_frames", "frame_%02d.png" % i)).convert("RGB"))
                  for i in range(8)]
        arr = np.stack(frames)  # [T, H, W, 3] uint8
        kw = dict(VIDEO_KW)
        vp = how = None
        for v in kw_variants(kw):
            try:
                vp = transformers.AutoVideoProcessor.from_pretrained(OUT, **v)
                how = "AutoVideoProcessor.from_pretrained(dir with preprocessor_config.json, %s)" % sorted(v)
                break
            except Exception as e:
                print("video variant failed:", sorted(v), type(e).__name__, e, flush=True)
        if vp is None:
            for v in kw_variants(kw):
                try:
                    vp = transformers.Qwen2VLVideoProcessor(**v)
                    how = "Qwen2VLVideoProcessor(%s) (class defaults otherwise)" % sorted(v)
                    break
                except Exception as e:
                    print("video class variant failed:", sorted(v), type(e).__name__, e, flush=True)
        defaults = {}
        try:
            defaults = settings(transformers.Qwen2VLVideoProcessor())
        except Exception:
            traceback.print_exc()
        call_kw = {"do_sample_frames": False}
        try:
            res = vp(videos=[arr], return_tensors="pt", **call_kw)
        except TypeError:
            traceback.print_exc()
            call_kw = {}
            res = vp(videos=[arr], return_tensors="pt")
        pv = res["pixel_values_videos"].to(torch.float32).contiguous()
        grid = res["video_grid_thw"].to(torch.int64).contiguous()
        save_file({"pixel_values_videos": pv, "video_grid_thw": grid}, os.path.join(OUT, case + ".safetensors"),
                  metadata={"format": "pt"})
        st = settings(vp)
        index["cases"].append({
            "case": case, "kind": "video", "inputs": ["video_frames/frame_%02d.png" % i for i in range(8)],
            "input_form": "one numpy uint8 array [8, 120, 160, 3] in a list (no decoding)",
            "from_pretrained_kwargs": kw, "call_kwargs": call_kw, "class": type(vp).__name__,
            "constructed_with": how, "effective_settings": st, "class_default_settings": defaults,
            "note": "transformers' video processors resize with torch/torchvision (no PIL backend): "
                    "not Pillow-exact; compare with a tolerance. transformers 5.17 warns that Qwen2-VL video "
                    "processing does not apply qwen-vl-utils' per-frame pixel cap (cap_pixels_per_frame, to "
                    "become the default in 5.22); this reference is the uncapped 5.17 default.",
            "grid_matches_smart_resize_rule": [grid.tolist()[0][1], grid.tolist()[0][2]] == [
                x // 14 for x in smart_resize(120, 160, 28, *pixel_limits(settings(vp)))],
            "pixel_values_videos_shape": list(pv.shape), "video_grid_thw": grid.tolist(),
            "pixel_values_videos_sum": float(pv.double().sum()), "file": case + ".safetensors"})
        print("%s: %s grid %s (%s)" % (case, list(pv.shape), grid.tolist(), type(vp).__name__), flush=True)
    except Exception:
        traceback.print_exc()
        index["failures"].append(case)


def main():
    index = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
             "pillow_version": Image.__version__, "numpy_version": np.__version__, "command": COMMAND,
             "preprocessor_config": "preprocessor_config.json (Qwen/Qwen2-VL-2B-Instruct as shipped)",
             "cases": [], "failures": []}
    run_images(index)
    run_video(index)
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print("qwen_processor_refs: failures %s" % index["failures"])
    return 1 if index["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
