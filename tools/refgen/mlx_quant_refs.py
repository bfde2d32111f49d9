#!/usr/bin/python3
"""MLX-quantized Qwen2-VL / Qwen2.5-VL checkpoints and their dequantized float twins, made by
an implementation of MLX's affine quantization written here in numpy (independent of vlm.c's
C code), from the transformers-made tiny checkpoints in tests/fixtures/qwen2_vl_model.

Run with Debian's numpy (no torch, no MLX needed):
    /usr/bin/python3 tools/refgen/mlx_quant_refs.py [OUT_DIR]      (default tests/fixtures/mlx_quant)

For each variant it writes OUT_DIR/<variant>/
  q/    the checkpoint in the layout mlx-vlm writes: model.safetensors (metadata
        format=mlx; every quantized module as <module>.weight U32 [n, k*bits/32],
        <module>.scales and <module>.biases BF16 [n, k/group]), model.safetensors.index.json
        (total size, sorted weight map, indent 4), config.json = the source config plus
        "quantization" and "quantization_config" (global {"group_size", "bits", "mode"} and the
        variant's per-module entries), top-level keys sorted, json.dump indent 4; tokenizer,
        template and processor files copied.
  deq/  the same model with every quantized module replaced by its dequantized weight in F32,
        w = scale * code + bias evaluated in float64 from the stored BF16 scale and bias and
        rounded once to float32; everything else byte-identical to the source; the source's
        config.json (no quantization).
A loader that reads q/ correctly computes exactly the weights of deq/, so its logits equal
deq/'s up to float summation order.

The format (mlx/backend/cpu/quantized.cpp, mlx/ops.cpp affine_quantize / dequantize):
per group of `group` consecutive elements of a row, n = 2^bits - 1,
  scale = max((max - min) / n, 1e-7), negated unless |min| > |max|; edge = min or max (the
  larger magnitude); q0 = rint(edge / scale); if q0 != 0: scale = edge / q0, bias = edge,
  else bias = 0; code = clip(rint((w - bias) / scale), 0, n);
all in float32; scale and bias then cast to the weight dtype (bf16, round to nearest even).
Codes are packed as one little-endian bit stream per row: code j at bits [j*bits, (j+1)*bits),
stream bit i = bit i % 32 of uint32 word i // 32.

Which modules: a 2-D "<module>.weight" (every Linear and Embedding of the family) is quantized
with the variant's per-module entry when the config has one (looked up under the module path
and under the path without "language_model.", as mlx-vlm's _quantization_for_module_path
does; `false` = left in float), else with the global setting when its input size is a
multiple of the group size (and n*k a multiple of 64, mlx-vlm's load-time rule), unless the
variant skips the vision tower.

Variants:
  qwen2_vl_4bit    Qwen2-VL, 4 bits, group 64, vision tower left in float (what
                   `mlx_vlm.convert --quantize` and `vlm convert --quantize --skip-vision`
                   write by default).
  qwen2_5_vl_mixed Qwen2.5-VL, 8 bits, group 32 globally, vision tower quantized too, with
                   per-module entries covering 2, 3, 5, 6 bits, groups 64 and 128, the
                   "language_model."-less alias and a `false` entry.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.path.join(ROOT, "tests", "fixtures", "qwen2_vl_model")

VARIANTS = {
    "qwen2_vl_4bit": {
        "family": "qwen2_vl",
        "bits": 4,
        "group_size": 64,
        "skip_vision": True,
        "overrides": {},
    },
    "qwen2_5_vl_mixed": {
        "family": "qwen2_5_vl",
        "bits": 8,
        "group_size": 32,
        "skip_vision": False,
        "overrides": {
            "language_model.model.layers.0.mlp.down_proj": {"group_size": 128, "bits": 5},
            "language_model.model.layers.1.mlp.down_proj": {"group_size": 64, "bits": 3},
            "model.layers.0.self_attn.o_proj": {"group_size": 64, "bits": 2},
            "language_model.lm_head": {"group_size": 32, "bits": 6},
            "language_model.model.layers.1.mlp.gate_proj": False,
        },
    },
}

COPY = ["chat_template.json", "generation_config.json", "preprocessor_config.json",
        "tokenizer.json", "tokenizer_config.json"]


# ------------------------------------------------------------------ safetensors


def st_read(path):
    """name -> (dtype string, shape, raw bytes), in file order; and the metadata."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = (t["dtype"], tuple(t["shape"]), data[base + b:base + e])
    return out, meta


def st_write(path, tensors, metadata):
    """tensors: list of (name, dtype string, shape, bytes), written in this order."""
    header = {"__metadata__": metadata}
    off = 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def bf16_to_f32(raw, shape):
    return (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(shape)


def f32_to_bf16(x):
    """Round to nearest even, as static_cast<bfloat16>(float) (x finite)."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


# ------------------------------------------------------------------ MLX affine quantization


def quantize(w, bits, group):
    """w float32 [n, k] -> (words uint32 [n, k*bits/32], scales f32 [n, k/g], biases f32)."""
    n, k = w.shape
    n_bins = np.float32(2 ** bits - 1)
    eps = np.float32(1e-7)
    g = w.reshape(n, k // group, group)
    w_max = g.max(axis=-1, keepdims=True)
    w_min = g.min(axis=-1, keepdims=True)
    mask = np.abs(w_min) > np.abs(w_max)
    scale = np.maximum((w_max - w_min) / n_bins, eps).astype(np.float32)
    scale = np.where(mask, scale, -scale)
    edge = np.where(mask, w_min, w_max)
    q0 = np.rint(edge / scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(q0 != 0, edge / q0, scale).astype(np.float32)
    bias = np.where(q0 == 0, np.float32(0), edge).astype(np.float32)
    codes = np.clip(np.rint((g - bias) / scale), 0, n_bins).astype(np.uint32).reshape(n, k)
    # the bit stream: bit b of code j is stream bit j*bits + b
    stream = (codes[:, :, None] >> np.arange(bits, dtype=np.uint32)) & 1
    stream = stream.reshape(n, k * bits // 32, 32).astype(np.uint64)
    words = (stream << np.arange(32, dtype=np.uint64)).sum(axis=-1).astype(np.uint32)
    return words, scale[..., 0], bias[..., 0], codes


def lookup(quant, module):
    """mlx-vlm's per-module lookup: the entry for the path or its language_model.-less alias."""
    for key in (module, module[len("language_model."):] if module.startswith("language_model.") else None):
        if key is not None and key in quant:
            return quant[key]
    return None


# ------------------------------------------------------------------ one variant


def make_variant(name, v, out_root):
    src_dir = os.path.join(SRC, v["family"], "mlx")
    tensors, _ = st_read(os.path.join(src_dir, "model.safetensors"))
    cfg = json.load(open(os.path.join(src_dir, "config.json")))
    quant = {"group_size": v["group_size"], "bits": v["bits"], "mode": "affine"}
    quant.update(v["overrides"])

    q_out, d_out, summary = [], [], []
    for tname in sorted(tensors):
        dt, shape, raw = tensors[tname]
        module = tname[:-len(".weight")] if tname.endswith(".weight") else None
        spec = None
        if module and len(shape) == 2:
            entry = lookup(quant, module)
            if isinstance(entry, dict):
                spec = (entry.get("bits") or 4, entry.get("group_size") or 64) if entry else None
            elif entry is None:
                skip = v["skip_vision"] and module.startswith("vision_tower.")
                fits = shape[1] % v["group_size"] == 0 and (shape[0] * shape[1]) % 64 == 0
                spec = (v["bits"], v["group_size"]) if fits and not skip else None
        if spec is None:
            q_out.append((tname, dt, shape, raw))
            d_out.append((tname, dt, shape, raw))
            continue
        bits, group = spec
        assert dt == "BF16", tname
        w = bf16_to_f32(raw, shape)
        words, s, b, codes = quantize(w, bits, group)
        s16, b16 = f32_to_bf16(s), f32_to_bf16(b)
        q_out.append((module + ".weight", "U32", words.shape, words.astype("<u4").tobytes()))
        q_out.append((module + ".scales", "BF16", s16.shape, s16.astype("<u2").tobytes()))
        q_out.append((module + ".biases", "BF16", b16.shape, b16.astype("<u2").tobytes()))
        # the dequantized weight from the stored (bf16) scale and bias, one f32 rounding
        sf = bf16_to_f32(s16.tobytes(), s16.shape).astype(np.float64)
        bf = bf16_to_f32(b16.tobytes(), b16.shape).astype(np.float64)
        deq = (np.repeat(sf, group, axis=1) * codes + np.repeat(bf, group, axis=1)).astype(np.float32)
        d_out.append((tname, "F32", shape, deq.astype("<f4").tobytes()))
        err = np.abs(deq - w).max()
        summary.append({"module": module, "bits": bits, "group_size": group,
                        "shape": list(shape), "max_abs_error": float(err)})

    for sub, out_tensors, config in (("q", q_out, dict(cfg, quantization=quant, quantization_config=quant)),
                                     ("deq", d_out, None)):
        d = os.path.join(out_root, name, sub)
        os.makedirs(d, exist_ok=True)
        st_write(os.path.join(d, "model.safetensors"), out_tensors, {"format": "mlx"})
        index = {"metadata": {"total_size": sum(len(t[3]) for t in out_tensors)},
                 "weight_map": {n: "model.safetensors" for n in sorted(t[0] for t in out_tensors)}}
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=4)
        if config is None:
            shutil.copyfile(os.path.join(src_dir, "config.json"), os.path.join(d, "config.json"))
        else:
            for k in ("_name_or_path", "torch_dtype"):
                config.pop(k, None)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(dict(sorted(config.items())), f, indent=4)
        for f in COPY:
            shutil.copyfile(os.path.join(src_dir, f), os.path.join(d, f))
    return summary


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "mlx_quant")
    report = {"numpy": np.__version__, "python": sys.version.split()[0], "variants": {}}
    for name, v in VARIANTS.items():
        report["variants"][name] = {"config": {k: v[k] for k in ("family", "bits", "group_size", "skip_vision")},
                                    "overrides": v["overrides"],
                                    "modules": make_variant(name, v, out_root)}
    with open(os.path.join(out_root, "SUMMARY.json"), "w") as f:
        json.dump(report, f, indent=1)
    for name, r in report["variants"].items():
        bits = sorted({m["bits"] for m in r["modules"]})
        groups = sorted({m["group_size"] for m in r["modules"]})
        print(f"{name}: {len(r['modules'])} modules quantized, bits {bits}, groups {groups}")


if __name__ == "__main__":
    main()
