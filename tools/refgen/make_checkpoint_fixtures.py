#!/usr/bin/env python3
"""Writes the small crafted checkpoint directories used by `vlm inspect` tests and the
interim `make demo`: tests/fixtures/checkpoints/{qwen2_vl_hub,qwen2_5_vl_t5_sharded,
qwen2_5_vl_mlx_4bit}. Each has the config files of its layout (Hub 4.x, transformers-5,
mlx-community) and safetensors weights with that layout's tensor names and dtypes, tiny
and random (numpy, seed fixed). These exercise the load factory and inspect only; model
parity fixtures are written by transformers itself (other refgen scripts).

Run with Debian's python3 (numpy): /usr/bin/python3 tools/refgen/make_checkpoint_fixtures.py
"""
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures",
                    "checkpoints")
rng = np.random.default_rng(1234)


def bf16_bytes(a):
    """float32 -> bf16 bit patterns, round to nearest even (as torch does)."""
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype string, shape, raw bytes), written in that order."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    off = 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)


def rand_bf16(name, *shape):
    return (name, "BF16", shape, bf16_bytes(rng.normal(0, 0.05, size=shape)))


def qwen2_vl_tensors(prefix_lm, prefix_vis, hidden, inter, vocab, vis_dim, layers=1):
    """A 1-layer Qwen2-VL-shaped set of names (Hub layout when prefixes are model./visual.)."""
    t = [rand_bf16(f"{prefix_lm}embed_tokens.weight", vocab, hidden)]
    for i in range(layers):
        p = f"{prefix_lm}layers.{i}."
        t += [rand_bf16(p + "input_layernorm.weight", hidden),
              rand_bf16(p + "self_attn.q_proj.weight", hidden, hidden),
              rand_bf16(p + "self_attn.q_proj.bias", hidden),
              rand_bf16(p + "self_attn.k_proj.weight", hidden // 2, hidden),
              rand_bf16(p + "self_attn.k_proj.bias", hidden // 2),
              rand_bf16(p + "self_attn.v_proj.weight", hidden // 2, hidden),
              rand_bf16(p + "self_attn.v_proj.bias", hidden // 2),
              rand_bf16(p + "self_attn.o_proj.weight", hidden, hidden),
              rand_bf16(p + "post_attention_layernorm.weight", hidden),
              rand_bf16(p + "mlp.gate_proj.weight", inter, hidden),
              rand_bf16(p + "mlp.up_proj.weight", inter, hidden),
              rand_bf16(p + "mlp.down_proj.weight", hidden, inter)]
    t += [rand_bf16(f"{prefix_lm}norm.weight", hidden),
          rand_bf16(f"{prefix_vis}patch_embed.proj.weight", vis_dim, 3, 2, 14, 14),
          rand_bf16(f"{prefix_vis}merger.ln_q.weight", vis_dim),
          rand_bf16(f"{prefix_vis}merger.mlp.0.weight", vis_dim * 4, vis_dim * 4),
          rand_bf16(f"{prefix_vis}merger.mlp.2.weight", hidden, vis_dim * 4)]
    return t


def write_json(d, name, obj):
    with open(os.path.join(d, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def hub():
    d = os.path.join(ROOT, "qwen2_vl_hub")
    os.makedirs(d, exist_ok=True)
    write_json(d, "config.json", {
        "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96,
        "bos_token_id": 151643, "eos_token_id": 151645, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 0]},
        "torch_dtype": "bfloat16", "tie_word_embeddings": True,
        "vision_start_token_id": 151652, "vision_end_token_id": 151653,
        "image_token_id": 151655, "video_token_id": 151656,
        "vision_config": {"depth": 1, "embed_dim": 16, "hidden_size": 32, "num_heads": 2,
                          "mlp_ratio": 2, "in_chans": 3, "patch_size": 14,
                          "spatial_merge_size": 2, "temporal_patch_size": 2}})
    write_json(d, "generation_config.json", {"bos_token_id": 151643,
                                              "eos_token_id": [151645, 151643],
                                              "do_sample": False})
    write_json(d, "preprocessor_config.json", {
        "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2,
        "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor"})
    write_safetensors(os.path.join(d, "model.safetensors"),
                      qwen2_vl_tensors("model.", "visual.", 32, 64, 96, 16),
                      {"format": "pt"})


def t5_sharded():
    d = os.path.join(ROOT, "qwen2_5_vl_t5_sharded")
    os.makedirs(d, exist_ok=True)
    write_json(d, "config.json", {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
        "dtype": "bfloat16", "image_token_id": 151655, "video_token_id": 151656,
        "text_config": {"model_type": "qwen2_5_vl_text", "hidden_size": 32, "vocab_size": 96,
                        "eos_token_id": 151645, "num_hidden_layers": 1,
                        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                            "mrope_section": [1, 1, 0]}},
        "vision_config": {"depth": 1, "hidden_size": 16, "out_hidden_size": 32}})
    write_json(d, "processor_config.json", {
        "processor_class": "Qwen2_5_VLProcessor",
        "image_processor": {"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14,
                            "merge_size": 2, "temporal_patch_size": 2}})
    tensors = qwen2_vl_tensors("model.language_model.", "model.visual.", 32, 64, 96, 16)
    tensors.append(rand_bf16("lm_head.weight", 96, 32))
    half = len(tensors) // 2
    shards = [tensors[:half], tensors[half:]]
    weight_map = {}
    total = 0
    for i, sh in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(d, fname), sh, {"format": "pt"})
        for name, _, _, raw in sh:
            weight_map[name] = fname
            total += len(raw)
    write_json(d, "model.safetensors.index.json",
               {"metadata": {"total_size": total}, "weight_map": weight_map})


def mlx_4bit():
    d = os.path.join(ROOT, "qwen2_5_vl_mlx_4bit")
    os.makedirs(d, exist_ok=True)
    gs, bits = 32, 4
    write_json(d, "config.json", {
        "model_type": "qwen2_5_vl", "eos_token_id": [151645, 151643],
        "quantization": {"group_size": gs, "bits": bits,
                         "language_model.lm_head": {"group_size": 32, "bits": 8}},
        "text_config": {"hidden_size": 64, "vocab_size": 96},
        "vision_config": {"depth": 1, "hidden_size": 16}})
    write_json(d, "preprocessor_config.json", {
        "processor_class": "Qwen2_5_VLProcessor", "patch_size": 14, "merge_size": 2})

    def quantized(name, out_f, in_f, b):
        packed = rng.integers(0, 2**32, size=(out_f, in_f * b // 32), dtype=np.uint32)
        return [(name + ".weight", "U32", packed.shape, packed.tobytes()),
                rand_bf16(name + ".scales", out_f, in_f // gs),
                rand_bf16(name + ".biases", out_f, in_f // gs)]

    t = []
    t += quantized("language_model.model.embed_tokens", 96, 64, bits)
    t += quantized("language_model.model.layers.0.self_attn.q_proj", 64, 64, bits)
    t += [rand_bf16("language_model.model.layers.0.input_layernorm.weight", 64)]
    t += quantized("language_model.lm_head", 96, 64, 8)
    # conv weights channels-last in mlx layout: [out, t, h, w, in]
    t += [rand_bf16("vision_tower.patch_embed.proj.weight", 16, 2, 14, 14, 3)]
    write_safetensors(os.path.join(d, "model.safetensors"), t, {"format": "mlx"})


if __name__ == "__main__":
    hub()
    t5_sharded()
    mlx_4bit()
    print("wrote", ROOT, file=sys.stderr)
