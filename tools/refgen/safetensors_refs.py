#!/usr/bin/env python3
"""Safetensors references made by the `safetensors` library (torch) and transformers.

Writes tests/fixtures/safetensors/:
  reference.safetensors  one small tensor per dtype torch+safetensors can save (F64 ... U64,
                         BOOL, F8_E4M3, F8_E5M2, ...), a 0-d scalar and a zero-size tensor,
                         with __metadata__ {"format": "pt", ...}
  reference.json         {"tensors": [{"name","dtype","shape","values"(first <= 8 as float64)}],
                          "header": the file's JSON header as parsed, "metadata", versions}
  sharded/               model.safetensors.index.json + shards written by transformers'
                         save_pretrained(max_shard_size=...) on a tiny random Qwen2 model
                         (falls back to safetensors.save_file + a hand-written index), with its
                         own reference.json (per tensor: shard file, dtype, shape, values).
Usage (repo root): python3 tools/refgen/safetensors_refs.py
"""
import json
import os
import struct
import sys
import traceback

import torch
import safetensors
from safetensors.torch import save_file, load_file

OUT = os.path.join("tests", "fixtures", "safetensors")


def first_values(t):
    try:
        return _first_values(t)
    except Exception as e:
        print("first_values failed for", t.dtype, e, flush=True)
        return None


def _first_values(t):
    flat = t.reshape(-1)[:8]
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    try:
        return [float(v) for v in flat.to(torch.float64).tolist()]
    except Exception:
        return [float(v) for v in flat.to(torch.float32).to(torch.float64).tolist()]


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n).decode("utf-8"))


def main_reference():
    g = torch.Generator().manual_seed(1234)
    base = torch.randn(24, generator=g, dtype=torch.float64) * 3
    cands = [
        ("f64", torch.float64, [2, 3]), ("f32", torch.float32, [3, 2]), ("f16", torch.float16, [4]),
        ("bf16", torch.bfloat16, [2, 2, 2]), ("i64", torch.int64, [5]), ("i32", torch.int32, [2, 3]),
        ("i16", torch.int16, [6]), ("i8", torch.int8, [3, 2]), ("u8", torch.uint8, [7]),
        ("bool", torch.bool, [2, 4]),
        ("f8_e4m3", getattr(torch, "float8_e4m3fn", None), [4]),
        ("f8_e5m2", getattr(torch, "float8_e5m2", None), [4]),
        ("f8_e8m0", getattr(torch, "float8_e8m0fnu", None), [4]),
        ("u16", getattr(torch, "uint16", None), [3]), ("u32", getattr(torch, "uint32", None), [3]),
        ("u64", getattr(torch, "uint64", None), [3]),
    ]
    tensors = {}
    skipped = []
    for name, dt, shape in cands:
        if dt is None:
            skipped.append(name + " (torch has no such dtype)")
            continue
        n = 1
        for s in shape:
            n *= s
        v = base[:n].reshape(shape)
        try:
            if dt == torch.bool:
                t = v > 0
            elif dt.is_floating_point:
                t = (v.abs() + 0.5 if name == "f8_e8m0" else v).to(dt)
            else:
                lo = 0 if name.startswith("u") else -100
                t = (v * 37).round().clamp(lo, 120).to(torch.int64).to(dt)
            save_file({name: t}, "/tmp/_probe.safetensors")  # probe: can safetensors save it?
            tensors[name] = t
        except Exception as e:
            skipped.append("%s (%s: %s)" % (name, type(e).__name__, e))
    tensors["scalar_f32"] = torch.tensor(3.5, dtype=torch.float32)  # 0-d
    tensors["empty_f32"] = torch.zeros((0, 4), dtype=torch.float32)  # zero-size
    tensors["empty_i64_1d"] = torch.zeros((0,), dtype=torch.int64)
    meta = {"format": "pt", "producer": "vlm.c tools/refgen/safetensors_refs.py"}
    path = os.path.join(OUT, "reference.safetensors")
    save_file(tensors, path, metadata=meta)
    header = read_header(path)
    back = load_file(path)
    recs = []
    for name in sorted(tensors):
        t = back[name]
        recs.append({"name": name, "dtype": header[name]["dtype"], "shape": list(t.shape),
                     "values": first_values(t)})
    ref = {"file": "reference.safetensors", "torch_version": torch.__version__,
           "safetensors_version": safetensors.__version__,
           "command": "python3 tools/refgen/safetensors_refs.py", "metadata": meta,
           "skipped_dtypes": skipped, "header": header, "tensors": recs}
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print("reference.safetensors: %d tensors, skipped %s" % (len(recs), skipped), flush=True)


def sharded():
    d = os.path.join(OUT, "sharded")
    os.makedirs(d, exist_ok=True)
    how = None
    try:
        import transformers
        cfg = transformers.Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                                       tie_word_embeddings=False)
        torch.manual_seed(0)
        model = transformers.Qwen2ForCausalLM(cfg).to(torch.bfloat16)
        model.save_pretrained(d, max_shard_size="6KB")
        how = "transformers %s save_pretrained(max_shard_size=\"6KB\") of a random tiny Qwen2ForCausalLM (bf16)" % transformers.__version__
        for extra in ("generation_config.json",):
            p = os.path.join(d, extra)
            if os.path.exists(p):
                os.remove(p)
    except Exception:
        traceback.print_exc()
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        g = torch.Generator().manual_seed(7)
        parts = [{"model.embed_tokens.weight": torch.randn(32, 8, generator=g).to(torch.bfloat16)},
                 {"model.layers.0.mlp.up_proj.weight": torch.randn(16, 8, generator=g),
                  "model.layers.0.input_layernorm.weight": torch.ones(8)},
                 {"lm_head.weight": torch.randn(32, 8, generator=g).to(torch.float16)}]
        wm, total = {}, 0
        for i, p in enumerate(parts):
            fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(parts))
            save_file(p, os.path.join(d, fn), metadata={"format": "pt"})
            for k, v in p.items():
                wm[k] = fn
                total += v.numel() * v.element_size()
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
            f.write("\n")
        how = "safetensors.save_file per shard + hand-written HF-style index"
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        index = json.load(f)
    recs = []
    for name, fn in sorted(index["weight_map"].items()):
        t = load_file(os.path.join(d, fn))[name]
        hdr = read_header(os.path.join(d, fn))
        recs.append({"name": name, "file": fn, "dtype": hdr[name]["dtype"], "shape": list(t.shape),
                     "values": first_values(t)})
    ref = {"made_by": how, "torch_version": torch.__version__, "safetensors_version": safetensors.__version__,
           "command": "python3 tools/refgen/safetensors_refs.py", "index": index, "tensors": recs}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print("sharded: %d tensors in %d files (%s)" % (len(recs), len(set(index["weight_map"].values())), how), flush=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    fails = 0
    for fn in (main_reference, sharded):
        try:
            fn()
        except Exception:
            traceback.print_exc()
            fails += 1
    print("safetensors_refs: %d failures" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
