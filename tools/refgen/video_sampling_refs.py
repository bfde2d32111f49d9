#!/usr/bin/env python3
"""Reference data for vlm.c's video input, made with transformers (5.17) itself.

1. tests/fixtures/video/sampling_refs.json: the frame indices that
   Qwen2VLVideoProcessor.sample_frames returns on synthetic metadata (total frames, video
   fps) over a grid of fps-based and count-based cases, or the exception it raises.
   Large index lists are stored as a count, sums and head/tail (see `summarize`).
2. tests/fixtures/video/decode_refs.json (+ decode_refs/*.rgb): for every committed video
   under tests/fixtures/media/video/, what transformers' own loader reports and returns
   for the Qwen2-VL fps=2 sampling: the backend's metadata (total_num_frames, fps,
   duration), the chosen indices, the SHA-256 of every returned RGB frame and the raw bytes
   of one frame; and, when it runs, the Qwen2-VL video processor's output shape, grid and
   checksums for the same video (small min_pixels so the tensor stays small).

Run from the repository root on a machine with torch + transformers (+ torchcodec or av):
    python3 tools/refgen/video_sampling_refs.py
Nothing here is imported by the C code; the tests read the JSON and skip while it is absent.
"""
import hashlib
import inspect
import json
import os
import platform
import sys
import traceback

import numpy as np
import torch
import transformers
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
from transformers.video_utils import VideoMetadata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "video")
VIDEO_DIR = os.path.join(ROOT, "tests", "fixtures", "media", "video")


def summarize(indices):
    """Indices as stored: all of them when at most 64, else count + sums + head and tail.

    sum = sum(idx); wsum = sum((i + 1) * idx) mod 2^61 - 1, which changes with any single
    difference or swap."""
    idx = [int(x) for x in indices]
    if len(idx) <= 64:
        return {"n": len(idx), "indices": idx}
    m = (1 << 61) - 1
    return {
        "n": len(idx),
        "sum": sum(idx),
        "wsum": sum((i + 1) * v for i, v in enumerate(idx)) % m,
        "head": idx[:4],
        "tail": idx[-4:],
    }


def call_sample_frames(proc, total, video_fps, **kw):
    """Calls sample_frames with whatever signature this transformers version has."""
    sig = inspect.signature(proc.sample_frames)
    meta = VideoMetadata(total_num_frames=total, fps=video_fps)
    if "video" in sig.parameters:  # 4.5x: sample_frames(video, frame_factor, ..., metadata)
        video = torch.arange(total, dtype=torch.int64).view(total, 1, 1, 1)
        args = dict(video=video, metadata=meta)
        args["frame_factor"] = kw.pop("temporal_patch_size")
        args.update(kw)
        out = proc.sample_frames(**args)
        return out.view(-1).tolist()
    out = proc.sample_frames(metadata=meta, **kw)
    return [int(x) for x in (out.tolist() if hasattr(out, "tolist") else out)]


def sampling_cases():
    totals = [1, 2, 3, 4, 5, 7, 8, 10, 16, 17, 29, 30, 31, 59, 60, 61, 100, 101, 150, 299,
              300, 301, 333, 450, 601, 899, 1000, 1001, 1537, 1799, 1800, 3001, 5000, 9999,
              18000, 54001, 107892, 648001]
    video_fps = [1.0, 2.0, 7.5, 10.0, 15.015015015015015, 24000 / 1001, 25.0, 30000 / 1001,
                 29.972752043596728, 30.0, 60000 / 1001, 120.0]
    cases = []
    # fps-based: the Qwen2-VL defaults (min 4, max 768, tps 2) at several target rates
    for t in totals:
        for vf in video_fps:
            for f in [2.0, 0.5, 3.3]:
                cases.append(dict(mode="fps", total=t, video_fps=vf, fps=f, min_frames=4,
                                  max_frames=768, temporal_patch_size=2))
    # fps-based with other bounds and patch sizes
    for t in [1, 3, 9, 30, 31, 97, 300, 1001, 18000]:
        for vf in [10.0, 29.97002997002997, 30.0]:
            for (mn, mx, tps) in [(4, 64, 2), (1, 16, 1), (8, 128, 4), (2, 5, 2), (0, 768, 3)]:
                cases.append(dict(mode="fps", total=t, video_fps=vf, fps=2.0, min_frames=mn,
                                  max_frames=mx, temporal_patch_size=tps))
    # count-based
    for t in [1, 2, 3, 4, 5, 8, 10, 17, 20, 33, 100, 301, 1000, 1001, 18000, 648001]:
        for n in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 100, 127, 128,
                  255, 256, 300, 511, 768]:
            for tps in [1, 2, 4]:
                cases.append(dict(mode="count", total=t, video_fps=30.0, num_frames=n,
                                  temporal_patch_size=tps))
    return cases


def make_sampling_refs():
    proc = Qwen2VLVideoProcessor()
    results = []
    for c in sampling_cases():
        kw = dict(temporal_patch_size=c["temporal_patch_size"])
        if c["mode"] == "fps":
            kw.update(fps=c["fps"], num_frames=None, min_frames=c["min_frames"],
                      max_frames=c["max_frames"])
        else:
            kw.update(num_frames=c["num_frames"], fps=None, min_frames=4, max_frames=768)
        rec = dict(c)
        try:
            rec.update(summarize(call_sample_frames(proc, c["total"], c["video_fps"], **kw)))
        except Exception as e:  # transformers refuses the case: record which exception
            rec["error"] = type(e).__name__
        results.append(rec)
    return results


def video_backends():
    """Backends transformers can load with here, in the order transformers prefers."""
    out = []
    try:
        import torchcodec  # noqa: F401
        out.append("torchcodec")
    except Exception:
        pass
    try:
        import av  # noqa: F401
        out.append("pyav")
    except Exception:
        pass
    return out


def make_decode_refs():
    from transformers.video_utils import load_video

    proc = Qwen2VLVideoProcessor()
    raw_dir = os.path.join(OUT_DIR, "decode_refs")
    os.makedirs(raw_dir, exist_ok=True)
    refs = []
    for name in sorted(os.listdir(VIDEO_DIR)):
        if name.endswith(".md") or name.startswith("audio_only"):
            continue
        path = os.path.join(VIDEO_DIR, name)
        for backend in video_backends():
            rec = {"file": name, "backend": backend}
            seen = {}

            def sample(metadata, **kwargs):
                seen["total_num_frames"] = int(metadata.total_num_frames)
                seen["fps"] = float(metadata.fps)
                seen["duration"] = None if metadata.duration is None else float(metadata.duration)
                return np.asarray(call_sample_frames(proc, int(metadata.total_num_frames),
                                                     float(metadata.fps), temporal_patch_size=2,
                                                     fps=2.0, num_frames=None, min_frames=4,
                                                     max_frames=768))

            try:
                sig = inspect.signature(load_video)
                kwargs = {"backend": backend}
                if "sample_indices_fn" in sig.parameters:
                    kwargs["sample_indices_fn"] = sample
                frames, meta = load_video(path, **kwargs)
                frames = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
                if frames.ndim == 4 and frames.shape[1] == 3 and frames.shape[-1] != 3:
                    frames = frames.transpose(0, 2, 3, 1)  # TCHW -> THWC
                frames = np.ascontiguousarray(frames.astype(np.uint8))
                rec.update(seen)
                idx = getattr(meta, "frames_indices", None)
                rec["indices"] = None if idx is None else [int(x) for x in idx]
                rec["shape"] = list(frames.shape)
                rec["sha256"] = [hashlib.sha256(f.tobytes()).hexdigest() for f in frames]
                mid = len(frames) // 2
                rec["raw_frame"] = mid
                raw = f"{name}.{backend}.frame{mid}.rgb"
                with open(os.path.join(raw_dir, raw), "wb") as fh:
                    fh.write(frames[mid].tobytes())
                rec["raw_file"] = "decode_refs/" + raw
            except Exception as e:
                rec["error"] = f"{type(e).__name__}: {str(e)[:300]}"
            refs.append(rec)

        # The whole video processor on the file (its own loader and sampling).
        rec = {"file": name, "processor": "Qwen2VLVideoProcessor", "fps": 2.0,
               "min_pixels": 3136, "max_pixels": 28 * 28 * 64}
        try:
            vp = Qwen2VLVideoProcessor(min_pixels=3136, max_pixels=28 * 28 * 64)
            out = vp(videos=[path], do_sample_frames=True, fps=2.0, return_metadata=True,
                     return_tensors="pt")
            pv = out["pixel_values_videos"].to(torch.float64)
            rec["pixel_values_videos_shape"] = list(pv.shape)
            rec["video_grid_thw"] = out["video_grid_thw"].tolist()
            rec["sum"] = float(pv.sum())
            rec["abs_sum"] = float(pv.abs().sum())
            rec["first"] = [float(x) for x in pv.reshape(-1)[:16]]
            md = out.get("video_metadata")
            if md:
                m0 = md[0]
                rec["metadata"] = {
                    "total_num_frames": int(m0.total_num_frames),
                    "fps": float(m0.fps),
                    "frames_indices": [int(x) for x in m0.frames_indices],
                    "sampled_fps": float(m0.sampled_fps) if hasattr(m0, "sampled_fps") else None,
                    "video_backend": getattr(m0, "video_backend", None),
                }
        except Exception as e:
            rec["error"] = f"{type(e).__name__}: {str(e)[:300]}"
            traceback.print_exc()
        refs.append(rec)
    return refs


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    env = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "torch_cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "script": "tools/refgen/video_sampling_refs.py",
    }
    sampling = make_sampling_refs()
    with open(os.path.join(OUT_DIR, "sampling_refs.json"), "w") as fh:
        json.dump({"env": env, "cases": sampling}, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"sampling_refs.json: {len(sampling)} cases "
          f"({sum('error' in c for c in sampling)} raise)")
    if not video_backends():
        print("decode_refs.json: skipped (neither torchcodec nor PyAV is installed, so "
              "transformers cannot load video files here)")
        return
    decode = make_decode_refs()
    for b in video_backends():
        try:
            mod = __import__("torchcodec" if b == "torchcodec" else "av")
            env[b] = getattr(mod, "__version__", None)
        except Exception:
            pass
    with open(os.path.join(OUT_DIR, "decode_refs.json"), "w") as fh:
        json.dump({"env": env, "videos": decode}, fh, indent=1)
        fh.write("\n")
    print(f"decode_refs.json: {len(decode)} records "
          f"({sum('error' in r for r in decode)} failed)")


if __name__ == "__main__":
    main()
